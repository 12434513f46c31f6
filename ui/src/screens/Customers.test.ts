import { afterEach, describe, expect, test } from "vitest";
import { userEvent } from "vitest/browser";
import { render } from "vitest-browser-svelte";
import type { CustomerCard, Row } from "../lib/backend";
import { argsOf, clearMocks, deferred, fail, fakeBackend, settled, type Args } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Customers from "./Customers.svelte";

const CUSTOMERS: Row[] = [
  { id: "c1", code: "C-001", name: "Olsen Bakery", city: "Bergen", phone: "+47 5555 0101", email: "post@olsen.no" },
  { id: "c2", code: "C-002", name: "Berg Hardware", city: "Oslo", phone: "", email: "" },
  { id: "c3", code: "C-003", name: "Fjord Fish", city: "Tromsø", phone: "", email: "" },
  { id: "c4", code: "C-004", name: "Bakken Bikes", city: "Bodø", phone: "", email: "" },
];

/// The client's search: name, code or city starts with the query (any case), by name.
function search(customers: Row[], args: Args): Row[] {
  const q = String(args["query"]).trim().toLowerCase();
  return customers
    .filter((c) => ["name", "code", "city"].some((f) => String(c[f]).toLowerCase().startsWith(q)))
    .sort((a, b) => String(a["name"]).localeCompare(String(b["name"])));
}

type Screen = Awaited<ReturnType<typeof render<typeof Customers>>>;

/// The names in the result list, top to bottom.
function names(screen: Screen): (string | null | undefined)[] {
  return screen
    .getByTestId("customer-row")
    .elements()
    .map((row) => row.querySelector("td:nth-child(2)")?.textContent);
}

afterEach(() => clearMocks());

/// The card of `customer` with nothing around it, then `extra`.
function cardOf(customer: Row | undefined, extra: Partial<CustomerCard> = {}): CustomerCard {
  if (!customer) return fail("not_found", "There is no such customer.");
  return {
    customer: { ...customer },
    price_list: null,
    currency: null,
    credit_limit_cents: null,
    open_balance_cents: 0,
    available_credit_cents: null,
    recent_orders: [],
    visits: [],
    addresses: [],
    contacts: [],
    open_invoices: [],
    overwritten: [],
    ...extra,
  };
}

/// The card handler over `customers`, as the engine reads it.
function cards(customers: Row[], extra: Partial<CustomerCard> = {}) {
  return (a: Args) => cardOf(customers.find((c) => c.id === a["id"]), extra);
}

describe("Customers", () => {
  test("rows are reached with the keyboard: Tab into the list, arrows between rows, Enter opens", async () => {
    fakeBackend({ search: (a) => search(CUSTOMERS, a), customer_card: cards(CUSTOMERS) });
    const screen = await render(Customers);
    await expect.poll(() => names(screen).length).toBe(4);

    await userEvent.tab();
    await expect.element(screen.getByTestId("customer-row").first()).toHaveFocus();
    await userEvent.keyboard("{ArrowDown}");
    await expect.element(screen.getByTestId("customer-row").nth(1)).toHaveFocus();
    await userEvent.keyboard("{Enter}");
    await expect.element(screen.getByRole("heading", { name: "Berg Hardware" })).toBeVisible();
  });

  test("more than a hundred customers are reached with Show more, and a new search starts again at a hundred", async () => {
    const many: Row[] = Array.from({ length: 250 }, (_, i) => ({ id: `m${i}`, code: `M-${String(i).padStart(3, "0")}`, name: `Market ${String(i).padStart(3, "0")}`, city: "Oslo" }));
    const calls = fakeBackend({ search: (a) => search(many, a).slice(0, Number(a["limit"])) });
    const screen = await render(Customers);
    await expect.poll(() => names(screen).length).toBe(100);

    await screen.getByTestId("show-more").click();
    await expect.poll(() => names(screen).length).toBe(200);
    await screen.getByTestId("show-more").click();
    await expect.poll(() => names(screen).length).toBe(250);
    expect(names(screen).at(-1)).toBe("Market 249");
    await expect.element(screen.getByTestId("show-more")).not.toBeInTheDocument();

    await screen.getByRole("searchbox").fill("m");
    await expect.poll(() => argsOf(calls, "search").at(-1)).toEqual({ entity: "customers", query: "m", limit: 100 });
  });

  test("the search field has the focus at start: typing searches at once", async () => {
    fakeBackend({ search: (a) => search(CUSTOMERS, a) });
    const screen = await render(Customers);
    await expect.element(screen.getByRole("searchbox")).toHaveFocus();
  });

  test("lists the customers, and typing narrows them to those whose name, code or city starts with it", async () => {
    const calls = fakeBackend({ search: (a) => search(CUSTOMERS, a) });
    const screen = await render(Customers);
    await expect.poll(() => names(screen)).toEqual(["Bakken Bikes", "Berg Hardware", "Fjord Fish", "Olsen Bakery"]);

    await screen.getByRole("searchbox").fill("be");
    await expect.poll(() => names(screen)).toEqual(["Berg Hardware", "Olsen Bakery"]);
    expect(argsOf(calls, "search").at(-1)).toEqual({ entity: "customers", query: "be", limit: 100 });

    await screen.getByRole("searchbox").fill("c-003");
    await expect.poll(() => names(screen)).toEqual(["Fjord Fish"]);
  });

  test("says when nothing matches, and lists again when the search is cleared", async () => {
    fakeBackend({ search: (a) => search(CUSTOMERS, a) });
    const screen = await render(Customers);
    await expect.poll(() => names(screen)).toHaveLength(4);

    await screen.getByRole("searchbox").fill("zz");
    await expect.element(screen.getByText("No customers match “zz”.")).toBeVisible();
    expect(names(screen)).toEqual([]);

    await screen.getByRole("searchbox").fill("");
    await expect.poll(() => names(screen)).toHaveLength(4);
    await expect.element(screen.getByTestId("customer-empty")).not.toBeInTheDocument();
  });

  test("before the first sync there are no customers, and it says so", async () => {
    fakeBackend({ search: () => [] });
    const screen = await render(Customers);

    await expect.element(screen.getByText("No customers yet; they appear after the first sync.")).toBeVisible();
  });

  test("shows the answer to what was typed last, even when an older answer arrives later", async () => {
    const replies = new Map<string, ReturnType<typeof deferred<Row[]>>>();
    fakeBackend({
      search: (a) => {
        const reply = deferred<Row[]>();
        replies.set(String(a["query"]), reply);
        return reply.promise;
      },
    });
    const screen = await render(Customers);
    await expect.poll(() => replies.has("")).toBe(true);
    replies.get("")?.resolve(search(CUSTOMERS, { query: "" }));
    await expect.poll(() => names(screen)).toHaveLength(4);

    await screen.getByRole("searchbox").fill("b");
    await screen.getByRole("searchbox").fill("be");
    await expect.poll(() => replies.has("b") && replies.has("be")).toBe(true);
    replies.get("be")?.resolve(search(CUSTOMERS, { query: "be" }));
    await expect.poll(() => names(screen)).toEqual(["Berg Hardware", "Olsen Bakery"]);

    replies.get("b")?.resolve(search(CUSTOMERS, { query: "b" }));
    await settled();
    expect(names(screen)).toEqual(["Berg Hardware", "Olsen Bakery"]);
  });

  test("a failed search shows the reason instead of an empty list, until a search works again", async () => {
    fakeBackend({
      search: (a) => (a["query"] === "ol" ? fail("not_signed_in", "Your session has expired; sign in again.") : search(CUSTOMERS, a)),
    });
    const screen = await render(Customers);
    await expect.poll(() => names(screen)).toHaveLength(4);

    await screen.getByRole("searchbox").fill("ol");
    await expect.element(screen.getByRole("alert")).toHaveTextContent("Your session has expired; sign in again.");
    await expect.element(screen.getByTestId("customer-empty")).not.toBeInTheDocument();

    await screen.getByRole("searchbox").fill("f");
    await expect.poll(() => names(screen)).toEqual(["Fjord Fish"]);
    await expect.element(screen.getByRole("alert")).not.toBeInTheDocument();
  });

  test("the card shows orders, visits, credit in the list's currency, addresses, contacts and open invoices", async () => {
    const calls = fakeBackend({
      search: (a) => search(CUSTOMERS, a),
      customer_card: cards(CUSTOMERS, {
        price_list: "Retail 2025",
        currency: "NOK",
        credit_limit_cents: 500000,
        open_balance_cents: 523456,
        available_credit_cents: -23456,
        recent_orders: [
          { id: "o2", number: "B-0012", status: "approved", order_date: "2025-06-10", total_cents: 120000, lines: 3 },
          { id: "o1", number: null, status: "draft", order_date: "2025-05-02", total_cents: 5000, lines: 1 },
        ],
        visits: [{ id: "v1", visited_at: "2025-06-09T08:30:00Z", outcome: "follow_up", notes: "Wants the winter range", rep: "rep1" }],
        addresses: [
          { id: "a1", customer_id: "c1", kind: "billing", street: "Bryggen 1", postal_code: "5003", city: "Bergen", country: "Norway" },
          { id: "a2", customer_id: "c1", kind: "shipping", street: "Kaien 7", postal_code: null, city: "Bergen", country: null },
        ],
        contacts: [{ id: "k1", customer_id: "c1", name: "Kari Olsen", job_title: "Owner", phone: "+47 5555 0102" }],
        open_invoices: [{ id: "i2", customer_id: "c1", number: "INV-2", open_cents: 123456, due_on: "2025-07-01" }],
      }),
      open_link: () => null,
    });
    const screen = await render(Customers);

    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();

    await expect.element(screen.getByRole("heading", { name: "Olsen Bakery" })).toBeVisible();
    await expect.element(screen.getByTestId("customer-price-list")).toHaveTextContent("Retail 2025 (NOK)");
    await expect.element(screen.getByText("NOK 5,000.00")).toBeVisible();
    await expect.element(screen.getByTestId("available-credit")).toHaveTextContent("-NOK 234.56");
    const orders = screen.getByTestId("card-order");
    await expect.element(orders.nth(0)).toHaveTextContent("B-0012");
    await expect.element(orders.nth(0)).toHaveTextContent("2025-06-10");
    await expect.element(orders.nth(0)).toHaveTextContent("Approved");
    await expect.element(orders.nth(0)).toHaveTextContent("NOK 1,200.00");
    await expect.element(orders.nth(1)).toHaveTextContent("Draft");
    await expect.element(screen.getByTestId("card-visit")).toHaveTextContent("rep1 · Follow up");
    await expect.element(screen.getByTestId("card-address").nth(0)).toHaveTextContent("Billing: Bryggen 1, 5003 Bergen, Norway");
    await expect.element(screen.getByTestId("card-address").nth(1)).toHaveTextContent("Shipping: Kaien 7, Bergen");
    await expect.element(screen.getByText("Kari Olsen — Owner · +47 5555 0102")).toBeVisible();
    await expect.element(screen.getByText("INV-2: NOK 1,234.56 open, due 2025-07-01")).toBeVisible();
    expect(argsOf(calls, "customer_card").at(-1)).toEqual({ id: "c1" });

    // Phone and e-mail open the computer's phone and mail apps.
    await screen.getByTestId("customer-phone").click();
    await screen.getByTestId("customer-email").click();
    expect(argsOf(calls, "open_link")).toEqual([
      { kind: "phone", value: "+47 5555 0101" },
      { kind: "email", value: "post@olsen.no" },
    ]);
    await expectAccessible();
  });

  test("a field a later edit overwrote is marked, saying who changed it and what was mine", async () => {
    fakeBackend({
      search: (a) => search(CUSTOMERS, a),
      customer_card: cards(CUSTOMERS, { overwritten: [{ field: "phone", label: "Phone", by: "rep2", yours: "+47 1111" }] }),
    });
    const screen = await render(Customers);
    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();

    await expect.element(screen.getByTestId("marker-phone")).toBeVisible();
    await expect.element(screen.getByTestId("overwritten")).toHaveTextContent("Phone was changed by rep2 after your edit; yours was “+47 1111”.");
    expect(screen.getByTestId("marker-email").elements()).toHaveLength(0);
  });

  test("an archived customer is marked in the list and says why orders cannot go ahead", async () => {
    const archived = CUSTOMERS.map((c) => (c.id === "c2" ? { ...c, active: false } : c));
    fakeBackend({ search: (a) => search(archived, a), customer_card: cards(archived) });
    const screen = await render(Customers);
    await expect.poll(() => names(screen)).toContain("Berg Hardware\u00a0(archived)");
    await screen.getByRole("row", { name: /Berg Hardware/ }).click();
    await expect.element(screen.getByTestId("customer-archived")).toHaveTextContent("new orders for it cannot be submitted");
    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();
    await expect.element(screen.getByRole("heading", { name: "Olsen Bakery" })).toBeVisible();
    expect(screen.getByTestId("customer-archived").elements()).toHaveLength(0);
  });

  describe("editing a customer", () => {
    /// Customers as the local store holds them: a save merges the fields into the record.
    /// Replies are copies, as they would be after crossing the IPC boundary.
    function store(save?: (a: Args) => unknown) {
      const customers = CUSTOMERS.map((c) => ({ ...c, notes: null }));
      const calls = fakeBackend({
        search: (a) => search(customers, a).map((c) => ({ ...c })),
        customer_card: cards(customers),
        save:
          save ??
          ((a) => {
            const row = customers.find((c) => c.id === a["id"]);
            if (!row) return fail("not_found", "There is no such customer.");
            return { ...Object.assign(row, a["fields"]) };
          }),
      });
      return calls;
    }

    async function editOlsen() {
      const screen = await render(Customers);
      await screen.getByRole("row", { name: /Olsen Bakery/ }).click();
      await screen.getByRole("button", { name: "Edit details" }).click();
      return screen;
    }

    test("the form holds the customer's details; saving sends only what changed and the detail shows it", async () => {
      const calls = store();
      const screen = await editOlsen();
      await expect.element(screen.getByLabelText("Phone")).toHaveValue("+47 5555 0101");
      await expect.element(screen.getByLabelText("Email")).toHaveValue("post@olsen.no");
      await expect.element(screen.getByLabelText("City")).toHaveValue("Bergen");

      await screen.getByLabelText("Phone").fill("+47 5555 0199");
      await screen.getByLabelText("Notes").fill("Closed on Mondays");
      await screen.getByRole("button", { name: "Save changes" }).click();

      await expect.element(screen.getByTestId("customer-message")).toHaveTextContent("Customer details saved; they sync automatically.");
      expect(argsOf(calls, "save")).toEqual([
        { entity: "customers", id: "c1", fields: { phone: "+47 5555 0199", notes: "Closed on Mondays" } },
      ]);
      await expect.element(screen.getByTestId("customer-form")).not.toBeInTheDocument();
      await expect.element(screen.getByText(/\+47 5555 0199/)).toBeVisible();
      await expect.element(screen.getByTestId("customer-notes")).toHaveTextContent("Closed on Mondays");
      await expectAccessible();
    });

    test("a renamed customer is renamed in the result list too", async () => {
      store();
      const screen = await editOlsen();

      await screen.getByLabelText("Name").fill("Olsen Bakery & Café");
      await screen.getByRole("button", { name: "Save changes" }).click();

      await expect.element(screen.getByRole("heading", { name: "Olsen Bakery & Café" })).toBeVisible();
      await expect.poll(() => names(screen)).toContain("Olsen Bakery & Café");
    });

    test("a refused save shows the reason in one sentence and keeps what was typed", async () => {
      const REFUSED = "customers.phone may not be changed by a rep.";
      store(() => fail("bad_input", REFUSED));
      const screen = await editOlsen();

      await screen.getByLabelText("Phone").fill("+47 5555 0199");
      await screen.getByRole("button", { name: "Save changes" }).click();

      await expect.element(screen.getByRole("alert")).toHaveTextContent(REFUSED);
      expect(screen.getByRole("alert").elements()).toHaveLength(1);
      await expect.element(screen.getByLabelText("Phone")).toHaveValue("+47 5555 0199");
      await expect.element(screen.getByTestId("customer-message")).not.toBeInTheDocument();
    });

    test("an unusable email or an empty name is caught before saving, and so is a form with no change", async () => {
      const calls = store();
      const screen = await editOlsen();

      await screen.getByRole("button", { name: "Save changes" }).click();
      await expect.element(screen.getByRole("alert")).toHaveTextContent("Nothing has changed; edit a field, or cancel.");

      await screen.getByLabelText("Email").fill("olsen.no");
      await screen.getByRole("button", { name: "Save changes" }).click();
      await expect.element(screen.getByRole("alert")).toHaveTextContent("“olsen.no” is not an email address; use the form name@example.com.");

      await screen.getByLabelText("Email").fill("post@olsen.no");
      await screen.getByLabelText("Name").fill("  ");
      await screen.getByRole("button", { name: "Save changes" }).click();
      await expect.element(screen.getByRole("alert")).toHaveTextContent("A customer needs a name.");

      expect(argsOf(calls, "save")).toEqual([]);
      await screen.getByRole("button", { name: "Cancel" }).click();
      await expect.element(screen.getByTestId("customer-form")).not.toBeInTheDocument();
      await expect.element(screen.getByRole("heading", { name: "Olsen Bakery" })).toBeVisible();
    });
  });
});
