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
    if (e.target !== row) return; // a key in the row's own checkbox or button
    const step = (from: Element | null): Element | null => (e.key === "ArrowDown" ? from?.nextElementSibling : from?.previousElementSibling) ?? null;
    let next = e.key === "ArrowDown" || e.key === "ArrowUp" ? step(row) : null;
    // Rows shown between list rows (an order's lines) are passed over.
    while (next && (next as HTMLElement).tabIndex < 0) next = step(next);
    if (e.key === "Enter") {
      e.preventDefault();
      current();
    } else if (next) {
      e.preventDefault();
      (next as HTMLElement).focus();
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
