// Calls that overlap, such as a search per keystroke, can answer out of order: only the
// newest call's outcome may reach the screen.
export class Newest {
  #ticket = 0;

  /// Runs `work`; `then` (or `otherwise` on failure) runs only if no newer call started
  /// meanwhile.
  async run<T>(work: () => Promise<T>, then: (value: T) => void, otherwise: (e: unknown) => void): Promise<void> {
    const ticket = ++this.#ticket;
    let value: T;
    try {
      value = await work();
    } catch (e) {
      if (ticket === this.#ticket) otherwise(e);
      return;
    }
    if (ticket === this.#ticket) then(value);
  }

  /// Makes every call in flight stale.
  cancel(): void {
    this.#ticket++;
  }
}
