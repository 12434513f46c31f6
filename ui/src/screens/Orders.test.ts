import { afterEach, describe, expect, test } from "vitest";
import { render } from "vitest-browser-svelte";
import type { ReviewItem } from "../lib/backend";
import { argsOf, clearMocks, fakeBackend, localReads } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Orders from "./Orders.svelte";

const PRODUCTS = [
  { id: "p1", sku: "CF-250", name: "Coffee 250 g" },
  { id: "p2", sku: "TEA-100", name: "Green tea" },
];

const LINES = [
  { id: "l1", order_id: "o1", product_id: "p1", quantity: 3, unit_price_cents: 1250, discount_pct: 0 },
  { id: "l2", order_id: "o1", product_id: "p2", quantity: 1, unit_price_cents: 899, discount_pct: 10, flags: "Price changed: ordered at 8.99 less 10%, now 9.49 less 10%" },
  { id: "l3", order_id: "o2", product_id: "p1", quantity: 2, unit_price_cents: 1250, discount_pct: 0 },
  { id: "l4", order_id: "o2", product_id: "p9", quantity: 1, unit_price_cents: 100, discount_pct: 0 },
];

function order(id: string, customer: string, status: string, extra: Partial<ReviewItem> = {}): ReviewItem {
  return {
    id,
    number: null,
    status,
    order_date: "2025-06-14",
    customer_id: `c-${id}`,
    customer,
    rep_id: "u1",
    rep: "rep1",
    lines: 2,
    total_cents: 4559,
    flags: null,
    currency: "NOK",
    history: [],
    unsent: false,
    ...extra,
  };
}

const ORDERS = [
  order("o1", "Olsen Bakery", "rejected", {
    number: "B-0007",
    history: [{ decision: "rejected", comment: "Price too low", reviewer: "manager1", at: new Date(2025, 5, 14, 16, 5).toISOString() }],
  }),
  order("o2", "Berg Hardware", "approved", { total_cents: 2600 }),
];

afterEach(() => clearMocks());

function backend() {
  return fakeBackend({
    review_queue: () => ORDERS,
    ...localReads({ order_lines: LINES, products: PRODUCTS }),
  });
}

describe("Orders", () => {
  test("lists the rep's orders with their status", async () => {
    const calls = backend();
    const screen = await render(Orders);

    await expect.poll(() => screen.getByTestId("order-status").elements().map((e) => e.textContent)).toEqual(["Rejected", "Approved"]);
    // Orders are named by number; one from before numbers has none.
    await expect.element(screen.getByTestId("order-row").first()).toHaveTextContent(/^B-0007/);
    expect(argsOf(calls, "review_queue")).toEqual([{ status: "all", rep: null, from: null, to: null }]);
  });

  test("opening an order shows its lines by product name and SKU, with amounts and the total", async () => {
    backend();
    const screen = await render(Orders);

    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();

    const detail = screen.getByTestId("order-detail");
    const lines = detail.getByTestId("detail-line");
    await expect.element(lines.nth(0)).toHaveTextContent(/Coffee 250 g\s*CF-250\s*3\s*NOK 12\.50\s*0%\s*NOK 37\.50/);
    // 1 × 8.99 less 10% = 8.09.
    await expect.element(lines.nth(1)).toHaveTextContent(/Green tea\s*TEA-100\s*1\s*NOK 8\.99\s*10%\s*NOK 8\.09/);
    await expect.element(detail.getByTestId("detail-total")).toHaveTextContent(/^NOK 45\.59$/);
  });

  test("a reviewed order shows the manager's decision and comment", async () => {
    backend();
    const screen = await render(Orders);

    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();

    await expect.element(screen.getByTestId("order-decision")).toHaveTextContent("rejected by manager1, 2025-06-14 16:05: “Price too low”");
  });

  test("each product is looked up once per screen; one missing from this profile shows its id", async () => {
    const calls = backend();
    const screen = await render(Orders);

    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();
    await expect.element(screen.getByTestId("detail-line").nth(1)).toHaveTextContent("Green tea");
    await screen.getByRole("row", { name: /Berg Hardware/ }).click();

    const lines = screen.getByTestId("detail-line");
    await expect.element(lines.nth(1)).toHaveTextContent(/^p9/);
    await expect.element(lines.nth(0)).toHaveTextContent("Coffee 250 g");
    expect(argsOf(calls, "record").map((a) => a["id"]).sort()).toEqual(["p1", "p2", "p9"]);
  });

  test("a rejected order reopens as a draft in the editor, with its lines", async () => {
    const calls = fakeBackend({
      review_queue: () => ORDERS,
      save: (a) => ({ id: a["id"], status: "draft" }),
      picker_products: () => PRODUCTS.map((product) => ({ product, unit_price_cents: 100, discount_pct: 0, available: null })),
      ...localReads({ order_lines: LINES, products: PRODUCTS }),
    });
    const screen = await render(Orders);
    await screen.getByTestId("order-row").first().click();

    await screen.getByTestId("edit-order").click();
    await expect.poll(() => screen.getByTestId("order-line").elements().length).toBe(2);
    // The line the server refused is marked with why.
    await expect.element(screen.getByTestId("order-line").nth(1).getByTestId("line-flags")).toHaveTextContent("Price changed");
    expect(screen.getByTestId("line-flags").elements()).toHaveLength(1);
    expect(argsOf(calls, "save")).toEqual([{ entity: "orders", id: "o1", fields: { status: "draft" } }]);
    await expect.element(screen.getByTestId("editor-title")).toHaveTextContent("Order B-0007 for Olsen Bakery");
    await expect.element(screen.getByRole("button", { name: "Submit order" })).toBeEnabled();
    await expectAccessible();
  });

  test("an approved order cannot be changed", async () => {
    backend();
    const screen = await render(Orders);
    await screen.getByTestId("order-row").nth(1).click();
    await expect.element(screen.getByTestId("order-detail")).toBeVisible();
    expect(screen.getByTestId("edit-order").elements()).toHaveLength(0);
  });

  test("an order not sent yet says so", async () => {
    fakeBackend({
      review_queue: () => [order("o3", "Dahl Foods", "submitted", { unsent: true }), ORDERS[1]],
      ...localReads({ order_lines: LINES, products: PRODUCTS }),
    });
    const screen = await render(Orders);
    await expect.poll(() => screen.getByTestId("unsent").elements().length).toBe(1);
    await expect.element(screen.getByTestId("order-row").first()).toHaveTextContent("not sent yet");
  });
});
