import { afterEach, describe, expect, test } from "vitest";
import { render } from "vitest-browser-svelte";
import type { Row } from "../lib/backend";
import { fieldText } from "../lib/format";
import { argsOf, clearMocks, fakeBackend, localReads, type Args } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Products from "./Products.svelte";

const TODAY = "2025-06-15";

const PRODUCTS: Row[] = [
  { id: "p1", sku: "CF-250", name: "Coffee 250 g", unit: "each", active: true },
  { id: "p2", sku: "TEA-100", name: "Green tea", unit: "case", active: true },
  { id: "p3", sku: "CF-1000", name: "Coffee 1 kg", unit: "each", active: false },
];

const TABLES: Record<string, Row[]> = {
  price_lists: [
    { id: "std", code: "STD", name: "Standard", currency: "EUR" },
    { id: "key", code: "KEY", name: "Key accounts", currency: "EUR" },
    { id: "exp", code: "EXP", name: "Export", currency: "USD" },
  ],
  price_list_items: [
    { id: "i1", price_list_id: "std", product_id: "p1", unit_price_cents: 1250 },
    { id: "i2", price_list_id: "key", product_id: "p1", unit_price_cents: 1125 },
    { id: "i3", price_list_id: "std", product_id: "p2", unit_price_cents: 899 },
  ],
  promotions: [
    { id: "pr1", product_id: "p1", name: "Summer deal", discount_pct: 10, starts_on: "2025-06-01", ends_on: "2025-06-30" },
    { id: "pr2", product_id: "p1", name: "Spring deal", discount_pct: 15, starts_on: "2025-03-01", ends_on: "2025-05-31" },
  ],
  warehouses: [
    { id: "wn", code: "WH-N", name: "Northern depot", city: "Trondheim" },
    { id: "ws", code: "WH-S", name: "Southern depot", city: "Valencia" },
  ],
  inventory_levels: [
    { id: "s1", warehouse_id: "wn", product_id: "p1", on_hand: 120, reserved: 20 },
    { id: "s2", warehouse_id: "ws", product_id: "p1", on_hand: 5, reserved: 7 },
  ],
};

const CUSTOMERS: Row[] = [
  { id: "c1", code: "C-001", name: "Olsen Bakery", city: "Bergen", price_list_id: "key" },
  { id: "c2", code: "C-002", name: "Oslo Imports", city: "Oslo", price_list_id: "exp" },
  { id: "c3", code: "C-003", name: "Osterhus", city: "Bergen", price_list_id: null },
];

/// The client's search: name, code, city or SKU starts with the query (any case).
function search(a: Args): Row[] {
  const rows = a["entity"] === "products" ? PRODUCTS : CUSTOMERS;
  const q = String(a["query"]).trim().toLowerCase();
  return rows.filter((r) => ["name", "code", "city", "sku"].some((f) => fieldText(r[f]).toLowerCase().startsWith(q)));
}

afterEach(() => clearMocks());

function backend() {
  return fakeBackend({ search, ...localReads(TABLES) });
}

async function openCoffee() {
  const screen = await render(Products, { today: TODAY });
  await screen.getByRole("row", { name: /Coffee 250 g/ }).click();
  return screen;
}

function texts(screen: Awaited<ReturnType<typeof openCoffee>>, testId: string): (string | null)[] {
  return screen
    .getByTestId(testId)
    .elements()
    .map((e) => e.textContent?.replace(/\s+/g, " ").trim() ?? null);
}

describe("Products", () => {
  test("searching narrows the catalogue by name or SKU; a product no longer sold says so", async () => {
    const calls = backend();
    const screen = await render(Products, { today: TODAY });
    await expect.poll(() => screen.getByTestId("product-row").elements().length).toBe(3);
    await expect.element(screen.getByRole("row", { name: /Coffee 1 kg/ })).toHaveTextContent("(no longer sold)");

    await screen.getByRole("searchbox", { name: "Search products" }).fill("tea-");
    await expect.poll(() => texts(screen, "product-row")).toEqual(["TEA-100Green teacase"]);
    expect(argsOf(calls, "search").at(-1)).toEqual({ entity: "products", query: "tea-", limit: 100 });

    await screen.getByRole("searchbox", { name: "Search products" }).fill("zz");
    await expect.element(screen.getByTestId("products-empty")).toHaveTextContent("No products match “zz”.");
  });

  test("without a customer, a product shows its price on every list and the promotions running today", async () => {
    backend();
    const screen = await openCoffee();

    await expect.element(screen.getByRole("heading", { name: "Coffee 250 g" })).toBeVisible();
    await expect.poll(() => texts(screen, "list-price")).toEqual(["Key accountsEUR 11.25", "StandardEUR 12.50"]);
    await expect.poll(() => texts(screen, "promotion")).toEqual(["Summer deal: 10% off until 2025-06-30"]);
  });

  test("stock is shown per warehouse by name: on hand less reserved, and in total", async () => {
    backend();
    const screen = await openCoffee();

    await expect.poll(() => texts(screen, "stock-row")).toEqual(["Northern depot (Trondheim)12020100", "Southern depot (Valencia)57-2"]);
    // An over-reserved warehouse adds nothing to what can be sold.
    await expect.element(screen.getByTestId("stock-total")).toHaveTextContent(/^100$/);
    await expectAccessible();
  });

  test("choosing a customer shows the price on that customer's list, until all lists are asked for again", async () => {
    backend();
    const screen = await openCoffee();
    await expect.poll(() => texts(screen, "list-price")).toHaveLength(2);

    await screen.getByTestId("price-customer-search").fill("olsen");
    await screen.getByRole("button", { name: /Olsen Bakery/ }).click();

    await expect.element(screen.getByTestId("customer-price")).toHaveTextContent("EUR 11.25 on Key accounts");
    expect(screen.getByTestId("list-price").elements()).toHaveLength(0);

    // The customer stays chosen for the next product.
    await screen.getByRole("row", { name: /Green tea/ }).click();
    await expect.element(screen.getByTestId("customer-price")).toHaveTextContent("Key accounts has no price for this product.");

    await screen.getByRole("button", { name: "All price lists" }).click();
    await expect.poll(() => texts(screen, "list-price")).toEqual(["StandardEUR 8.99"]);
  });

  test("a customer without a price list is told so", async () => {
    backend();
    const screen = await openCoffee();

    await screen.getByTestId("price-customer-search").fill("oster");
    await screen.getByRole("button", { name: /Osterhus/ }).click();

    await expect.element(screen.getByTestId("customer-price")).toHaveTextContent("Osterhus has no price list; ask the office to assign one.");
  });
});
