// A per-screen cache of records looked up by id (the product of an order line, the
// customer of a visit plan), so a list of a hundred lines asks for each product once.
import { api, type Row } from "./backend";
import { fieldText } from "./format";

export class RecordCache {
  // null: the record is not in this profile (or could not be read); the screen falls
  // back to showing the id.
  #rows = $state<Record<string, Row | null>>({});
  // Ids asked for, loaded or not: plain, so asking from an effect does not subscribe it.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- deliberately not reactive
  #asked = new Set<string>();
  readonly entity: string;

  constructor(entity: string) {
    this.entity = entity;
  }

  /// The record once loaded; undefined while unknown or loading, null when unavailable.
  get(id: unknown): Row | null | undefined {
    return typeof id === "string" ? this.#rows[id] : undefined;
  }

  /// Records the screen already holds (search results), so they are not asked for again.
  add(rows: Row[]): void {
    for (const r of rows) {
      this.#asked.add(r.id);
      this.#rows[r.id] = r;
    }
  }

  /// Loads the records of `ids` not asked for yet; resolves when they have arrived.
  async load(ids: Iterable<unknown>): Promise<void> {
    const missing: string[] = [];
    for (const id of ids) {
      if (typeof id !== "string" || id === "" || this.#asked.has(id)) continue;
      this.#asked.add(id);
      missing.push(id);
    }
    await Promise.all(
      missing.map(async (id) => {
        try {
          this.#rows[id] = await api.record(this.entity, id);
        } catch {
          this.#rows[id] = null;
        }
      }),
    );
  }
}

/// "Coffee 250 g" and its SKU for a product id, or the id until the product is known.
export function productLabel(products: RecordCache, id: unknown): { name: string; sku: string } {
  const p = products.get(id);
  if (!p) return { name: typeof id === "string" ? id : "", sku: "" };
  return { name: fieldText(p["name"]), sku: fieldText(p["sku"]) };
}
