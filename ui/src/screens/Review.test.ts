import { afterEach, describe, expect, test } from "vitest";
import { userEvent } from "vitest/browser";
import { render } from "vitest-browser-svelte";
import type { ReviewItem } from "../lib/backend";
import { argsOf, clearMocks, fakeBackend, settled } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Review from "./Review.svelte";

function order(id: string, customer: string, status: string, total_cents: number): ReviewItem {
  return { id, number: null, status, order_date: "2026-11-27", customer_id: `c-${id}`, customer, rep_id: "u1", rep: "rep1", lines: 2, total_cents, flags: null, currency: null, history: [], unsent: false };
}

const QUEUE = [order("o1", "Fjord Foods", "submitted", 12000), order("o2", "Birch Market", "submitted", 3050), order("o3", "Pine Deli", "submitted", 999)];

/// Orders of customers whose price list is in euros.
const IN_EUROS = [{ ...order("o4", "Lake Café", "submitted", 2500), currency: "EUR" }, { ...order("o5", "Moss Grocer", "submitted", 1500), currency: "EUR" }];

afterEach(() => clearMocks());

function backend(extra: Record<string, (args: Record<string, unknown>) => unknown> = {}) {
  return fakeBackend({
    review_queue: () => QUEUE,
    search: () => [{ id: "u1", username: "rep1", role: "rep" }, { id: "u2", username: "rep2", role: "rep" }, { id: "m", username: "manager1", role: "manager" }],
    review_many: (a) => ({ reviewed: (a["orderIds"] as string[]).length }),
    export_orders: () => "/home/manager/Downloads/fieldsync-orders-2026-11-30.csv",
    ...extra,
  });
}

describe("Review", () => {
  test("rows are reached with the keyboard: arrows move between orders, over opened lines, and Enter opens the lines", async () => {
    backend({ related: () => [], record: () => ({ id: "p1", sku: "CF-250", name: "Coffee" }) });
    const screen = await render(Review);
    const rows = screen.getByTestId("review-row");
    await expect.poll(() => rows.elements().length).toBe(3);
    (rows.nth(0).element() as HTMLElement).focus();
    await userEvent.keyboard("{Enter}");
    await expect.element(rows.nth(0).getByRole("button", { name: "Lines" })).toHaveAttribute("aria-expanded", "true");
    await userEvent.keyboard("{ArrowDown}");
    await expect.element(rows.nth(1)).toHaveFocus();
    await userEvent.keyboard("{ArrowUp}");
    await expect.element(rows.nth(0)).toHaveFocus();
  });

  test("filters by status, rep and date", async () => {
    const calls = backend();
    const screen = await render(Review);
    await expect.poll(() => screen.getByTestId("review-row").elements().length).toBe(3);
    await screen.getByTestId("filter-rep").selectOptions("rep2");
    await screen.getByTestId("filter-status").selectOptions("All");
    await screen.getByTestId("filter-from").fill("2026-11-01");
    await expect
      .poll(() => argsOf(calls, "review_queue").at(-1))
      .toEqual({ status: "all", rep: "rep2", from: "2026-11-01", to: null });
    // Only reps are offered in the rep filter.
    expect(screen.getByTestId("filter-rep").element().textContent).not.toContain("manager1");
  });

  test("approves a selection with one comment", async () => {
    const calls = backend({ review_queue: () => [...QUEUE, ...IN_EUROS] });
    const screen = await render(Review);
    await expect.poll(() => screen.getByTestId("review-row").elements().length).toBe(5);
    await screen.getByRole("checkbox", { name: "Select the order for Fjord Foods" }).click();
    await screen.getByRole("checkbox", { name: "Select the order for Pine Deli" }).click();
    await expect.element(screen.getByTestId("selection")).toHaveTextContent("2 selected (129.99)");
    // Orders in another currency are summed apart, not added to the others.
    await screen.getByRole("checkbox", { name: "Select the order for Lake Café" }).click();
    await screen.getByRole("checkbox", { name: "Select the order for Moss Grocer" }).click();
    await expect.element(screen.getByTestId("selection")).toHaveTextContent("4 selected (129.99 + EUR 40.00)");
    await screen.getByRole("checkbox", { name: "Select the order for Lake Café" }).click();
    await screen.getByRole("checkbox", { name: "Select the order for Moss Grocer" }).click();
    await screen.getByTestId("review-comment").fill("Good week");
    await screen.getByTestId("approve-selected").click();
    await expect.element(screen.getByRole("status")).toHaveTextContent("2 orders approved");
    expect(argsOf(calls, "review_many")).toEqual([{ orderIds: ["o1", "o3"], approve: true, comment: "Good week" }]);
    await expectAccessible();
  });

  test("select all picks every order waiting for review", async () => {
    const calls = backend();
    const screen = await render(Review);
    await expect.poll(() => screen.getByTestId("review-row").elements().length).toBe(3);
    await screen.getByTestId("select-all").click();
    await screen.getByTestId("approve-selected").click();
    await expect.poll(() => argsOf(calls, "review_many")[0]?.["orderIds"]).toEqual(["o1", "o2", "o3"]);
  });

  test("rejecting needs a comment, and says so before anything is sent", async () => {
    const calls = backend();
    const screen = await render(Review);
    await expect.poll(() => screen.getByTestId("review-row").elements().length).toBe(3);
    await screen.getByTestId("select-all").click();
    await screen.getByTestId("reject-selected").click();
    await expect.element(screen.getByRole("alert")).toHaveTextContent("Write a comment first");
    await settled();
    expect(argsOf(calls, "review_many")).toEqual([]);
  });

  test("saves the filtered list as CSV and says where", async () => {
    const calls = backend();
    const screen = await render(Review);
    await expect.poll(() => screen.getByTestId("review-row").elements().length).toBe(3);
    await screen.getByTestId("export-csv").click();
    await expect.element(screen.getByRole("status")).toHaveTextContent("Saved 3 orders to /home/manager/Downloads/fieldsync-orders-2026-11-30.csv");
    expect(argsOf(calls, "export_orders")).toEqual([{ status: "submitted", rep: null, from: null, to: null }]);
  });
});
