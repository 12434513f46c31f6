import { afterEach, describe, expect, test, vi } from "vitest";
import { userEvent } from "vitest/browser";
import { render } from "vitest-browser-svelte";
import type { PickerProduct, Row } from "../lib/backend";
import { argsOf, clearMocks, deferred, fail, fakeBackend, type Args, type Call } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import OrderEditor from "./OrderEditor.svelte";

const CUSTOMER: Row = { id: "c1", code: "C-001", name: "Olsen Bakery" };

const PRODUCTS: Row[] = [
  { id: "p1", sku: "CF-250", name: "Coffee 250 g", unit_price_cents: 1250, discount_pct: 0, active: true },
  { id: "p2", sku: "TEA-100", name: "Green tea", unit_price_cents: 899, discount_pct: 10, active: true },
  { id: "p3", sku: "OLD-1", name: "Old blend", unit_price_cents: 500, discount_pct: 0, active: false },
];

/// Stock available by product id in the fake store.
const STOCK: Record<string, number | null> = { p1: 40, p2: 0, p3: null };

/// The picker's answer: products whose name starts with the query, each with its price
/// for the customer and its stock.
function offers(a: Args): PickerProduct[] {
  const q = String(a["query"]).toLowerCase();
  return PRODUCTS.filter((p) => String(p["name"]).toLowerCase().startsWith(q)).map((p) => ({
    product: p,
    unit_price_cents: Number(p["unit_price_cents"]),
    discount_pct: Number(p["discount_pct"]),
    available: STOCK[p.id] ?? null,
  }));
}

/// The client's local store for orders: it numbers a new order from the laptop's prefix,
/// prices a new line from the product (as the customer's price list and promotions
/// would) and keeps quantities as numbers.
function orderStore() {
  const records = new Map<string, Row>();
  let next = 1;
  function save(a: Args): Row {
    const entity = String(a["entity"]);
    const fields = a["fields"] as Record<string, string>;
    const existing = a["id"] as string | null;
    if (existing !== null) {
      const row = records.get(existing);
      if (!row) return fail("not_found", `There is no ${entity} record ${existing} in this profile.`);
      // The registry's limits for order_lines.quantity, as the engine enforces them.
      if ("quantity" in fields && !(Number(fields["quantity"]) >= 1)) {
        return fail("out_of_range", `The quantity must be at least 1, not ${fields["quantity"]}.`);
      }
      if ("quantity" in fields) row["quantity"] = Number(fields["quantity"]);
      if ("status" in fields) row["status"] = fields["status"];
      return row;
    }
    const id = `${entity}-${next++}`;
    const row: Row =
      entity === "order_lines" ? priced(id, fields) : { id, status: "draft", number: `B-${String(next - 1).padStart(4, "0")}`, ...fields };
    records.set(id, row);
    return row;
  }
  function priced(id: string, fields: Record<string, string>): Row {
    const product = PRODUCTS.find((p) => p.id === fields["product_id"]);
    if (!product) return fail("bad_input", "A new order line needs a value for 'unit_price_cents'.");
    const { unit_price_cents, discount_pct } = product;
    return { id, ...fields, quantity: Number(fields["quantity"]), unit_price_cents, discount_pct };
  }
  const calls = fakeBackend({
    picker_products: offers,
    save,
    delete_record: (a) => {
      records.delete(String(a["id"]));
      return null;
    },
    related: (a) => [...records.values()].filter((r) => r["order_id"] === a["value"]),
  });
  return { records, calls };
}

function saves(calls: Call[], entity: string): Args[] {
  return argsOf(calls, "save").filter((a) => a["entity"] === entity);
}

afterEach(() => clearMocks());

async function openEditor() {
  const onDone = vi.fn();
  const screen = await render(OrderEditor, { customer: CUSTOMER, onDone });
  const total = screen.getByTestId("order-total");
  // The picker is the editor's one list; lines have buttons named after products too.
  const add = (name: string) => screen.getByRole("list").getByRole("button", { name: new RegExp(name) }).click();
  return { screen, onDone, total, add };
}

describe("OrderEditor", () => {
  test("totals the lines: quantity times unit price, less the discount", async () => {
    const { calls } = orderStore();
    const { screen, total, add } = await openEditor();
    await expect.element(total).toHaveTextContent(/^0\.00$/);

    await add("Coffee 250 g");
    await expect.element(total).toHaveTextContent(/^12\.50$/);

    // 1 × 8.99 less 10% = 8.091, rounded to 8.09.
    await add("Green tea");
    await expect.element(total).toHaveTextContent(/^20\.59$/);

    const coffee = screen.getByTestId("order-line").first().getByRole("spinbutton");
    await coffee.fill("3");
    await userEvent.tab();
    await expect.element(total).toHaveTextContent(/^45\.59$/);

    // One order, made on the first line and reused for the second.
    expect(saves(calls, "orders")).toEqual([{ entity: "orders", id: null, fields: { customer_id: "c1" } }]);
    expect(saves(calls, "order_lines").map((a) => a["fields"])).toEqual([
      { order_id: "orders-1", product_id: "p1", quantity: "1" },
      { order_id: "orders-1", product_id: "p2", quantity: "1" },
      { quantity: "3" },
    ]);
  });

  test("totals in thousands read with separators", async () => {
    orderStore();
    const { screen, total, add } = await openEditor();

    await add("Coffee 250 g");
    const coffee = screen.getByTestId("order-line").first().getByRole("spinbutton");
    await coffee.fill("100");
    await userEvent.tab();

    await expect.element(total).toHaveTextContent(/^1,250\.00$/);
  });

  test("two products added while the order is being created make one order with two lines", async () => {
    const order = deferred<Row>();
    const lines: Row[] = [];
    const calls = fakeBackend({
      picker_products: offers,
      save: (a) => {
        if (a["entity"] === "orders") return order.promise;
        const fields = a["fields"] as Record<string, string>;
        const line: Row = { id: `line-${lines.length + 1}`, ...fields, quantity: 1, unit_price_cents: 100, discount_pct: 0 };
        lines.push(line);
        return line;
      },
      related: () => lines.map((l) => ({ ...l })),
    });
    const { screen, add, total } = await openEditor();

    await add("Coffee 250 g");
    await add("Green tea");
    order.resolve({ id: "orders-1", status: "draft" });

    await expect.element(total).toHaveTextContent(/^2\.00$/);
    expect(screen.getByTestId("order-line").elements()).toHaveLength(2);
    expect(saves(calls, "orders")).toHaveLength(1);
    expect(lines.map((l) => l["order_id"])).toEqual(["orders-1", "orders-1"]);
  });

  test("an order can be submitted only once it has a line", async () => {
    const { records } = orderStore();
    const { screen, onDone, add } = await openEditor();
    const submit = screen.getByRole("button", { name: "Submit order" });
    await expect.element(submit).toBeDisabled();
    await expect.element(screen.getByTestId("editor-title")).toHaveTextContent("New order for Olsen Bakery");

    await add("Coffee 250 g");
    await expect.element(submit).toBeEnabled();
    // The number is the order's from its first line on, offline too.
    await expect.element(screen.getByTestId("editor-title")).toHaveTextContent("Order B-0001 for Olsen Bakery");
    await submit.click();

    await expect.poll(() => onDone.mock.calls.length).toBe(1);
    expect(onDone).toHaveBeenCalledWith("Order B-0001 is submitted; it syncs automatically.");
    expect(records.get("orders-1")?.["status"]).toBe("submitted");
  });

  test("a line the client refuses shows why, and the total stays as it was", async () => {
    fakeBackend({
      picker_products: offers,
      save: (a) =>
        a["entity"] === "orders"
          ? { id: "orders-1", status: "draft" }
          : fail("bad_input", "Olsen Bakery's price list has no Coffee 250 g."),
      related: () => [],
    });
    const { screen, total, add } = await openEditor();

    await add("Coffee 250 g");

    await expect.element(screen.getByRole("alert")).toHaveTextContent("Olsen Bakery's price list has no Coffee 250 g.");
    await expect.element(total).toHaveTextContent(/^0\.00$/);
    expect(screen.getByTestId("order-line").elements()).toHaveLength(0);
    await expect.element(screen.getByRole("button", { name: "Submit order" })).toBeDisabled();
  });

  test("lines show the product's name and SKU, and keep them when the search moves on", async () => {
    const { calls } = orderStore();
    const { screen, add } = await openEditor();

    await add("Coffee 250 g");
    const line = screen.getByTestId("order-line").first();
    await expect.element(line.getByTestId("line-product")).toHaveTextContent("Coffee 250 g CF-250");
    expect(line.element().textContent).not.toContain("p1");

    await screen.getByTestId("product-search").fill("Green");
    await expect.poll(() => screen.getByTestId("add-product").elements().length).toBe(1);
    await expect.element(line.getByTestId("line-product")).toHaveTextContent("Coffee 250 g CF-250");
    // Known from the search: never looked up one by one.
    expect(argsOf(calls, "record")).toEqual([]);
  });

  test("the picker shows each product's price for the customer and its stock; a line above the stock warns", async () => {
    orderStore();
    const { screen, add } = await openEditor();
    const offer = screen.getByTestId("offer");
    await expect.poll(() => offer.elements().length).toBe(3);
    await expect.element(offer.nth(0)).toHaveTextContent("12.50 · 40 in stock");
    await expect.element(offer.nth(1)).toHaveTextContent("8.99 −10% · out of stock");
    await expect.element(offer.nth(2)).toHaveTextContent("stock unknown");

    await add("Coffee 250 g");
    await screen.getByLabelText("Quantity of Coffee 250 g").fill("41");
    await userEvent.keyboard("{Tab}");
    await expect.element(screen.getByTestId("over-stock")).toHaveTextContent("only 40 in stock");
    await expectAccessible();
  });

  test("the total shows against the customer's available credit, and an order above it says by how much", async () => {
    orderStore();
    const onDone = vi.fn();
    const screen = await render(OrderEditor, { customer: CUSTOMER, credit: 2000, currency: "NOK", onDone });
    await screen.getByRole("list").getByRole("button", { name: /Coffee 250 g/ }).click();
    await expect.element(screen.getByTestId("order-total")).toHaveTextContent("NOK 12.50");
    await expect.element(screen.getByText(/available credit NOK 20\.00/)).toBeVisible();
    expect(screen.getByTestId("over-credit").elements()).toHaveLength(0);

    await screen.getByLabelText("Quantity of Coffee 250 g").fill("2");
    await userEvent.keyboard("{Tab}");
    await expect.element(screen.getByTestId("over-credit")).toHaveTextContent("NOK 5.00 over the customer's available credit");
  });

  test("adding a product already on the order raises that line's quantity", async () => {
    const { calls } = orderStore();
    const { screen, total, add } = await openEditor();

    await add("Coffee 250 g");
    await expect.element(total).toHaveTextContent(/^12\.50$/);
    await add("Coffee 250 g");

    await expect.element(total).toHaveTextContent(/^25\.00$/);
    expect(screen.getByTestId("order-line").elements()).toHaveLength(1);
    expect(saves(calls, "order_lines").map((a) => a["fields"])).toEqual([
      { order_id: "orders-1", product_id: "p1", quantity: "1" },
      { quantity: "2" },
    ]);
  });

  test("a line can be removed, and a quantity below 1 is refused with the way out", async () => {
    const { calls } = orderStore();
    const { screen, total, add } = await openEditor();
    await add("Coffee 250 g");
    await add("Green tea");
    await expect.poll(() => screen.getByTestId("order-line").elements().length).toBe(2);

    await screen.getByRole("spinbutton", { name: "Quantity of Green tea" }).fill("0");
    await userEvent.tab();
    await expect.element(screen.getByRole("alert")).toHaveTextContent("The quantity must be at least 1, not 0. To take the product off the order, remove its line.");
    await expect.element(screen.getByRole("spinbutton", { name: "Quantity of Green tea" })).toHaveValue(1);

    await screen.getByRole("button", { name: "Remove Green tea" }).click();
    await expect.poll(() => screen.getByTestId("order-line").elements().length).toBe(1);
    await expect.element(total).toHaveTextContent(/^12\.50$/);
    expect(argsOf(calls, "delete_record")).toEqual([{ entity: "order_lines", id: "order_lines-3" }]);
  });

  test("a discontinued product is marked, and is added only after a confirm", async () => {
    const { calls } = orderStore();
    const { screen, add } = await openEditor();
    await expect.element(screen.getByRole("list").getByRole("button", { name: /Old blend/ })).toHaveTextContent("(discontinued)");

    await add("Old blend");
    await expect.element(screen.getByTestId("confirm-discontinued")).toHaveTextContent("Old blend is discontinued");
    expect(saves(calls, "order_lines")).toEqual([]);
    await screen.getByRole("button", { name: "Cancel" }).click();
    expect(screen.getByTestId("confirm-discontinued").elements()).toHaveLength(0);

    await add("Old blend");
    await screen.getByRole("button", { name: "Add anyway" }).click();
    await expect.poll(() => screen.getByTestId("order-line").elements().length).toBe(1);
  });

  test("a search that finds nothing says so, and Enter adds the only match", async () => {
    orderStore();
    const { screen, total } = await openEditor();
    const search = screen.getByTestId("product-search");

    await search.fill("coffee beans from mars");
    await expect.element(screen.getByTestId("no-product")).toHaveTextContent("No product matches");

    await search.fill("green");
    await expect.poll(() => screen.getByTestId("add-product").elements().length).toBe(1);
    await userEvent.keyboard("{Enter}");
    await expect.element(total).toHaveTextContent(/^8\.09$/);
  });

  test("the product search has the focus when the editor opens", async () => {
    orderStore();
    const { screen } = await openEditor();
    await expect.element(screen.getByTestId("product-search")).toHaveFocus();
  });
});
