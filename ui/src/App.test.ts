import { afterEach, describe, expect, test, vi } from "vitest";
import { userEvent } from "vitest/browser";
import { cleanup, render } from "vitest-browser-svelte";
import { api, type AppInfo, type Conflict, type SyncStatus } from "./lib/backend";
import { emit } from "@tauri-apps/api/event";
import { argsOf, clearMocks, fail, fakeBackend, localReads, settled, type Handler } from "./test/ipc";
import { expectAccessible } from "./test/axe";
import App from "./App.svelte";

// The app stops listening to sync-state events as it unmounts, through the fake IPC:
// unmount, let the unlisten call run, then remove the fake.
afterEach(async () => {
  cleanup();
  await settled();
  clearMocks();
});

function info(role: string, signedIn: boolean): AppInfo {
  return { server: "https://sync.example.com", server_locked: false, signed_in: signedIn, user: `${role}1`, role, pricing_day: "2025-06-15" };
}

function status(pending: number): SyncStatus {
  return {
    state: { state: "up_to_date", last_ok_ms: 1_750_000_000_000 },
    summary: "Synced; up to date",
    status: { pending, needs_attention: 0, last_sync: "2025-06-15 09:00", clock_offset_ms: 0, server: "https://sync.example.com", user: "rep1" },
  };
}

/// A signed-in profile; sign_out forgets the session, as the keyring would.
function signedIn(role = "rep", pending = 0, extra: Record<string, Handler> = {}) {
  let session = true;
  const calls = fakeBackend({
    app_info: () => info(role, session),
    sync_status: () => status(pending),
    sign_out: () => {
      session = false;
      return null;
    },
    search: () => [],
    ...extra,
  });
  return calls;
}

describe("App", () => {
  test("signing out returns to the sign-in screen, with the server address kept", async () => {
    const calls = signedIn();
    const screen = await render(App);
    await expect.element(screen.getByText("rep1 (rep)")).toBeVisible();

    await screen.getByRole("button", { name: "Sign out" }).click();

    await expect.element(screen.getByRole("heading", { name: "Sign in to Fieldsync" })).toBeVisible();
    await expect.element(screen.getByLabelText("Server")).toHaveValue("https://sync.example.com");
    expect(screen.getByTestId("customers-tab").elements()).toHaveLength(0);
    expect(argsOf(calls, "sign_out")).toHaveLength(1);
  });

  test("a sign-out that fails says why in one sentence and stays signed in", async () => {
    const KEYRING = "The system keyring is locked; unlock it and try again.";
    signedIn("rep", 0, { sign_out: () => fail("internal", KEYRING) });
    const screen = await render(App);

    await screen.getByRole("button", { name: "Sign out" }).click();

    await expect.element(screen.getByRole("alert")).toHaveTextContent(KEYRING);
    expect(screen.getByRole("alert").elements()).toHaveLength(1);
    await expect.element(screen.getByTestId("customers-tab")).toBeVisible();
    await expect.element(screen.getByRole("button", { name: "Sign out" })).toBeEnabled();
  });

  test("with changes still waiting to sync, signing out asks first", async () => {
    const calls = signedIn("rep", 2);
    const screen = await render(App);
    await expect.element(screen.getByTestId("sync-tab")).toHaveTextContent("(2 pending)");

    await screen.getByRole("button", { name: "Sign out" }).click();
    await expect.element(screen.getByRole("alertdialog")).toHaveTextContent("2 change(s) have not synced yet");
    expect(argsOf(calls, "sign_out")).toHaveLength(0);

    await screen.getByRole("button", { name: "Stay signed in" }).click();
    await expect.element(screen.getByRole("alertdialog")).not.toBeInTheDocument();
    expect(argsOf(calls, "sign_out")).toHaveLength(0);

    await screen.getByRole("button", { name: "Sign out" }).click();
    await screen.getByRole("button", { name: "Sign out anyway" }).click();
    await expect.element(screen.getByRole("heading", { name: "Sign in to Fieldsync" })).toBeVisible();
    expect(argsOf(calls, "sign_out")).toHaveLength(1);
  });

  test("a manager reaches the team's conflict log from the Sync tab", async () => {
    const conflict: Conflict = {
      conflict_id: "k1",
      entity: "customers",
      id: "c1",
      field: "phone",
      kept: "+47 5555 0199",
      overwritten: "+47 5555 0101",
      kept_by: "rep2",
      overwritten_by: "rep1",
      at: "2025-06-14T10:00:00.000Z",
      record_name: "Fjord Foods",
      what: "customer Fjord Foods",
      field_label: "Phone",
      kept_text: "+47 5555 0199",
      overwritten_text: "+47 5555 0101",
    };
    signedIn("manager", 0, { attention: () => [], conflicts: () => [conflict] });
    const screen = await render(App);
    await expect.element(screen.getByRole("button", { name: "Review orders" })).toBeVisible();

    await screen.getByTestId("sync-tab").click();

    const row = screen.getByTestId("conflict-row");
    await expect.element(row).toHaveTextContent("Fjord Foods");
    await expect.element(row).toHaveTextContent("Phone");
    await expect.element(row).toHaveTextContent("+47 5555 0199 by rep2");
    await expect.element(row).toHaveTextContent("+47 5555 0101 by rep1");
  });

  test("the customer list fills in as soon as the first sync finishes", async () => {
    let synced = false;
    signedIn("rep", 0, {
      sync_status: () => ({ ...status(0), status: { ...status(0).status, last_sync: synced ? "2025-06-15 09:01" : null } }),
      search: () => (synced ? [{ id: "c1", name: "Olsen Bakery", code: "C-001", city: "Bergen" }] : []),
    });
    const screen = await render(App);
    await expect.element(screen.getByTestId("customers-tab")).toBeVisible();

    synced = true;
    await emit("sync-state", { state: "up_to_date", last_ok_ms: 1_750_000_060_000 });
    await expect.element(screen.getByText("Olsen Bakery")).toBeVisible();
  });

  test("rejected changes show as a badge, and signing out with them asks first", async () => {
    const calls = signedIn("rep", 0, {
      sync_status: () => ({ ...status(0), status: { ...status(0).status, needs_attention: 2 } }),
    });
    const screen = await render(App);
    await expect.element(screen.getByTestId("attention-badge")).toHaveTextContent("2 to fix");

    await screen.getByRole("button", { name: "Sign out" }).click();
    await expect.element(screen.getByRole("alertdialog")).toHaveTextContent("2 rejected change(s) wait for you");
    expect(argsOf(calls, "sign_out")).toHaveLength(0);
  });

  test("a save counts as pending at once, before any sync", async () => {
    let pending = 0;
    signedIn("rep", 0, {
      sync_status: () => status(pending),
      save: () => {
        pending += 1;
        return { id: "c1" };
      },
    });
    const screen = await render(App);
    await expect.element(screen.getByTestId("customers-tab")).toBeVisible();
    expect(screen.getByTestId("sync-tab").element().textContent).not.toContain("pending");

    await api.save("customers", "c1", { phone: "+47 5555 0199" });
    await expect.element(screen.getByTestId("sync-tab")).toHaveTextContent("(1 pending)");
  });

  test("Ctrl+K goes to the customer search from anywhere, and ? shows the shortcuts", async () => {
    signedIn("rep", 0, { review_queue: () => [] });
    const screen = await render(App);
    await screen.getByTestId("orders-tab").click();
    expect(screen.getByTestId("customer-search").elements()).toHaveLength(0);

    await userEvent.keyboard("{Control>}k{/Control}");
    await expect.element(screen.getByTestId("customer-search")).toHaveFocus();

    await screen.getByTestId("orders-tab").click();
    await userEvent.keyboard("?");
    await expect.element(screen.getByRole("dialog", { name: "Keyboard shortcuts" })).toHaveTextContent("Ctrl+K");
    await userEvent.keyboard("{Escape}");
    await expect.element(screen.getByRole("dialog", { name: "Keyboard shortcuts" })).not.toBeInTheDocument();
    await expectAccessible();
  });

  test("promotions are those of the pricing day the engine gives, not of the computer's local date", async () => {
    // 13:00 UTC on 31 May is 01:00 on 1 June in Auckland (the component tests' time zone).
    vi.setSystemTime(new Date("2025-05-31T13:00:00Z"));
    expect(new Date().getDate()).toBe(1);
    const coffee = { id: "p1", sku: "CF-250", name: "Coffee 250 g", unit: "bag", active: true };
    signedIn("rep", 0, {
      app_info: () => ({ ...info("rep", true), pricing_day: "2025-05-31" }),
      search: () => [coffee],
      ...localReads({
        products: [coffee],
        price_lists: [],
        price_list_items: [],
        inventory_levels: [],
        promotions: [
          { id: "pr1", product_id: "p1", name: "Summer deal", discount_pct: 10, starts_on: "2025-06-01", ends_on: "2025-06-30" },
          { id: "pr2", product_id: "p1", name: "Spring deal", discount_pct: 15, starts_on: "2025-03-01", ends_on: "2025-05-31" },
        ],
      }),
    });
    const screen = await render(App);
    await screen.getByTestId("products-tab").click();
    await screen.getByRole("row", { name: /Coffee 250 g/ }).click();
    await expect.poll(() => screen.getByTestId("promotion").elements().map((e) => e.textContent)).toEqual(["Spring deal: 15% off until 2025-05-31"]);
    vi.useRealTimers();
  });

  test("Ctrl+N starts an order for the open customer (or asks for one), and Ctrl+S saves the form", async () => {
    const olsen = { id: "c1", code: "C-001", name: "Olsen Bakery", city: "Bergen" };
    const calls = signedIn("rep", 0, {
      review_queue: () => [],
      search: () => [olsen],
      customer_card: () => ({
        customer: olsen, price_list: null, currency: null, credit_limit_cents: null, open_balance_cents: 0,
        available_credit_cents: null, recent_orders: [], visits: [], addresses: [], contacts: [], open_invoices: [], overwritten: [],
      }),
      picker_products: () => [],
      save: (a) => ({ ...olsen, ...(a["fields"] as object) }),
    });
    const screen = await render(App);
    await screen.getByTestId("orders-tab").click();
    await userEvent.keyboard("{Control>}n{/Control}");
    await expect.element(screen.getByTestId("search-hint")).toHaveTextContent("Choose the customer for the new order");
    await expect.element(screen.getByTestId("customer-search")).toHaveFocus();

    await screen.getByRole("row", { name: /Olsen Bakery/ }).click();
    await userEvent.keyboard("{Control>}n{/Control}");
    await expect.element(screen.getByTestId("product-search")).toHaveFocus();

    await screen.getByTestId("edit-customer").click();
    await screen.getByLabelText("Phone").fill("+47 5555 0199");
    await userEvent.keyboard("{Control>}s{/Control}");
    await expect.poll(() => argsOf(calls, "save")).toEqual([{ entity: "customers", id: "c1", fields: { phone: "+47 5555 0199" } }]);
  });
});
