// Where the keyboard starts: a screen's main field takes the focus when it appears, so a
// rep can type a customer's name or a product at once.

/// Svelte action: focuses the element once it is on screen.
export function focusOnMount(element: HTMLElement): void {
  element.focus();
}

/// Svelte action for a list's row: reachable with Tab, opened with Enter, and ArrowUp /
/// ArrowDown move to the row above or below.
export function listRow(row: HTMLElement, open: () => void) {
  let current = open;
  row.tabIndex = 0;
  const onKey = (e: KeyboardEvent) => {
    const next = (e.key === "ArrowDown" ? row.nextElementSibling : e.key === "ArrowUp" ? row.previousElementSibling : null) as HTMLElement | null;
    if (e.key === "Enter") {
      e.preventDefault();
      current();
    } else if (next) {
      e.preventDefault();
      next.focus();
    }
  };
  row.addEventListener("keydown", onKey);
  return {
    update(open: () => void) {
      current = open;
    },
    destroy() {
      row.removeEventListener("keydown", onKey);
    },
  };
}
