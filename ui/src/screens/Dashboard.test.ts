import { afterEach, describe, expect, test } from "vitest";
import { render } from "vitest-browser-svelte";
import type { Dashboard as Data } from "../lib/backend";
import { clearMocks, fakeBackend } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Dashboard from "./Dashboard.svelte";

const WEEKS = ["2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"];

const DATA: Data = {
  weeks: WEEKS,
  reps: [
    { rep: "rep1", orders: [1, 0, 2, 0, 3, 1, 2, 4], revenue_cents: [1000, 0, 2500, 0, 9000, 1200, 3000, 12050], visits: [2, 1, 0, 0, 3, 2, 1, 5] },
    { rep: "rep2", orders: [0, 0, 0, 1, 0, 0, 1, 2], revenue_cents: [0, 0, 0, 700, 0, 0, 800, 1950], visits: [0, 0, 1, 1, 0, 0, 0, 2] },
  ],
  open_reviews: 3,
  open_review_cents: 45900,
  top_customers: [
    { customer_id: "c1", customer: "Fjord Foods", orders: 5, revenue_cents: 20000 },
    { customer_id: "c2", customer: "Birch Market", orders: 2, revenue_cents: 7500 },
  ],
  laptops: [{ user: "rep1", device: "rep1-laptop", app_version: "0.1.0", last_seen_at: new Date().toISOString(), rejected_recently: 2 }],
  laptops_as_of: new Date().toISOString(),
  currency: "EUR",
};

afterEach(() => clearMocks());

describe("Dashboard", () => {
  test("adds up this week across the team and shows what waits for review", async () => {
    fakeBackend({ dashboard: () => DATA });
    const screen = await render(Dashboard, { onReview: () => {} });
    // This week is the last column: 4 + 2 orders, 120.50 + 19.50 revenue, 5 + 2 visits.
    await expect.element(screen.getByTestId("week-orders")).toHaveTextContent("6 orders this week");
    await expect.element(screen.getByTestId("week-revenue")).toHaveTextContent("EUR 140.00");
    await expect.element(screen.getByTestId("week-visits")).toHaveTextContent("7 visits this week");
    await expect.element(screen.getByTestId("open-reviews")).toHaveTextContent("3 orders waiting for review (EUR 459.00)");
  });

  test("charts every rep's weeks, with the figures readable beside each chart", async () => {
    fakeBackend({ dashboard: () => DATA });
    const screen = await render(Dashboard, { onReview: () => {} });
    const revenue = screen.getByTestId("revenue-chart");
    await expect.element(revenue).toBeInTheDocument();
    // The figures table beside the canvas (visually hidden, read by screen readers).
    const cells = (testid: string, rep: string) => {
      const table = screen.getByTestId(testid).element().querySelector("table");
      const row = [...(table?.querySelectorAll("tbody tr") ?? [])].find((r) => r.querySelector("th")?.textContent === rep);
      return [...(row?.querySelectorAll("td") ?? [])].map((c) => c.textContent);
    };
    const weeks = [...(revenue.element().querySelectorAll("thead th") ?? [])].map((t) => t.textContent).slice(1);
    expect(weeks).toEqual(["12 Oct", "19 Oct", "26 Oct", "2 Nov", "9 Nov", "16 Nov", "23 Nov", "30 Nov"]);
    expect(cells("revenue-chart", "rep1").at(-1)).toBe("EUR 120.50");
    expect(cells("orders-chart", "rep2")).toEqual(["0", "0", "0", "1", "0", "0", "1", "2"]);
    expect(cells("visits-chart", "rep1")).toEqual(["2", "1", "0", "0", "3", "2", "1", "5"]);
    expect(revenue.element().querySelector("canvas")).not.toBeNull();
    await expectAccessible();
  });

  test("lists the top customers in order and the team's laptops", async () => {
    fakeBackend({ dashboard: () => DATA });
    const screen = await render(Dashboard, { onReview: () => {} });
    const rows = screen.getByTestId("top-customers").getByRole("row");
    await expect.poll(() => rows.elements().map((r) => r.textContent)).toEqual([
      "CustomerOrdersRevenue",
      "Fjord Foods5EUR 200.00",
      "Birch Market2EUR 75.00",
    ]);
    await expect.element(screen.getByTestId("laptops")).toHaveTextContent("rep1-laptop");
    await expect.element(screen.getByTestId("laptops")).toHaveTextContent("just now");
    await expect.element(screen.getByTestId("laptops").getByRole("row", { name: /rep1-laptop/ })).toHaveTextContent(/just now2$/);
  });

  test("the open reviews card leads to the review list", async () => {
    fakeBackend({ dashboard: () => DATA });
    let reviewed = 0;
    const screen = await render(Dashboard, { onReview: () => reviewed++ });
    await screen.getByTestId("open-reviews").click();
    expect(reviewed).toBe(1);
  });

  test("an empty team says what will appear, instead of empty charts", async () => {
    fakeBackend({ dashboard: () => ({ ...DATA, reps: [], top_customers: [], laptops: [], laptops_as_of: null }) });
    const screen = await render(Dashboard, { onReview: () => {} });
    await expect.element(screen.getByText("No reps on your team yet")).toBeInTheDocument();
    await expect.element(screen.getByText("Shown after the next sync with the server.")).toBeInTheDocument();
  });
});
