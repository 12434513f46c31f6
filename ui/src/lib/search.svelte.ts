// The search list of a screen (customers, products): the newest answer only, "no match"
// states, and more results on demand instead of a silent cut at the first hundred.
import { api, describeError, type Row } from "./backend";
import { Newest } from "./newest";

/// Results asked for at a time; "Show more" asks for this many more.
export const PAGE = 100;

export class SearchList {
  rows = $state<Row[]>([]);
  /// The query the shown rows answer; null until the first reply.
  answered = $state<string | null>(null);
  error = $state("");
  #limit = $state(PAGE);
  #query = "";
  readonly #entity: string;
  // Replies can arrive out of order while the user types; only the newest one counts.
  readonly #newest = new Newest();

  constructor(entity: string) {
    this.#entity = entity;
  }

  /// Whether more results may exist beyond those shown.
  get more(): boolean {
    return this.rows.length >= this.#limit;
  }

  /// Searches for `query` from the first page (a new query) or again at the same length
  /// (the same query, after a sync).
  async search(query: string): Promise<void> {
    if (query !== this.#query) this.#limit = PAGE;
    this.#query = query;
    const limit = this.#limit;
    await this.#newest.run(
      () => api.search(this.#entity, query, limit),
      (found) => {
        this.rows = found;
        this.answered = query;
        this.error = "";
      },
      (e) => (this.error = describeError(e)),
    );
  }

  /// Shows another page of the current query's results.
  async showMore(): Promise<void> {
    this.#limit += PAGE;
    await this.search(this.#query);
  }
}
