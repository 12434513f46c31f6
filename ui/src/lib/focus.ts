// Where the keyboard starts: a screen's main field takes the focus when it appears, so a
// rep can type a customer's name or a product at once.

/// Svelte action: focuses the element once it is on screen.
export function focusOnMount(element: HTMLElement): void {
  element.focus();
}
