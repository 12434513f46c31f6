import { afterEach, describe, expect, test } from "vitest";
import { render } from "vitest-browser-svelte";
import type { Row } from "../lib/backend";
import { argsOf, clearMocks, fakeBackend, localReads, type Args, type Call } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import Visits from "./Visits.svelte";

const TODAY = "2025-06-15";

const CUSTOMERS: Row[] = [
  { id: "c1", code: "C-001", name: "Olsen Bakery", city: "Bergen" },
  { id: "c2", code: "C-002", name: "Berg Hardware", city: "Oslo" },
  { id: "c3", code: "C-003", name: "Fjord Fish", city: "Tromsø" },
];

const USERS: Row[] = [
  { id: "u1", username: "rep1", display_name: "Anna Rep", role: "rep" },
  { id: "u2", username: "rep2", display_name: "Bo Rep", role: "rep" },
  { id: "m1", username: "manager1", display_name: "Mia Manager", role: "manager" },
];

function at(day: number, hour: number, minute = 0): string {
  return new Date(2025, 5, day, hour, minute).toISOString();
}

/// The local store: plans and visits the test chooses; saves create visits and update plans.
function store(plans: Row[], visits: Row[] = []) {
  const tables: Record<string, Row[]> = { customers: CUSTOMERS, users: USERS, visit_plans: plans, visits };
  const reads = localReads(tables);
  let next = 1;
  const calls = fakeBackend({
    ...reads,
    // Visits have no search columns: the client lists them by id.
    search: (a) => (a["entity"] === "visits" ? visits.map((v) => ({ ...v })) : []),
    save: (a: Args) => {
      const fields = a["fields"] as Record<string, string>;
      if (a["entity"] === "visits") {
        const row = { id: `v-new-${next++}`, rep_id: "u1", visited_at: at(15, 11), ...fields };
        visits.push(row);
        return { ...row };
      }
      const plan = plans.find((p) => p.id === a["id"]);
      return { ...Object.assign(plan ?? {}, fields) };
    },
  });
  return calls;
}

function saves(calls: Call[], entity: string): Args[] {
  return argsOf(calls, "save").filter((a) => a["entity"] === entity);
}

type Screen = Awaited<ReturnType<typeof render<typeof Visits>>>;

function rows(screen: Screen, testId: string): (string | undefined)[] {
  return screen
    .getByTestId(testId)
    .elements()
    .map((e) => [...e.querySelectorAll("td")].map((td) => td.textContent?.trim()).join(" | ").trim());
}

afterEach(() => clearMocks());

const PLANS: Row[] = [
  { id: "pl1", customer_id: "c1", rep_id: "u1", planned_on: TODAY, purpose: "Quarterly review", status: "planned" },
  { id: "pl2", customer_id: "c2", rep_id: "u1", planned_on: TODAY, purpose: "Winter range", status: "planned" },
  { id: "pl3", customer_id: "c3", rep_id: "u1", planned_on: "2025-06-16", purpose: "Tomorrow", status: "planned" },
];

describe("Visits: today's plan", () => {
  test("lists the rep's stops planned for today by customer name, with a way to record each", async () => {
    const calls = store(PLANS.map((p) => ({ ...p })));
    const screen = await render(Visits, { role: "rep", user: "rep1", today: TODAY });

    await expect
      .poll(() => rows(screen, "plan-row"))
      .toEqual(["Berg Hardware · Oslo | Winter range | Planned | Record visit", "Olsen Bakery · Bergen | Quarterly review | Planned | Record visit"]);
    expect(argsOf(calls, "related")).toContainEqual({ entity: "visit_plans", field: "planned_on", value: TODAY });
  });

  test("recording a planned visit saves the visit for that customer and marks the stop visited", async () => {
    const plans = PLANS.map((p) => ({ ...p }));
    const calls = store(plans);
    const screen = await render(Visits, { role: "rep", user: "rep1", today: TODAY });

    await screen.getByRole("row", { name: /Olsen Bakery/ }).getByRole("button", { name: "Record visit" }).click();
    await expect.element(screen.getByRole("heading", { name: "Visit to Olsen Bakery" })).toBeVisible();
    await screen.getByTestId("visit-notes").fill("Tasted the new blend");
    await screen.getByTestId("save-visit").click();

    await expect.element(screen.getByTestId("visits-message")).toHaveTextContent("Visit saved; it syncs automatically.");
    expect(saves(calls, "visits")).toEqual([
      { entity: "visits", id: null, fields: { customer_id: "c1", outcome: "follow_up", notes: "Tasted the new blend" } },
    ]);
    expect(saves(calls, "visit_plans")).toEqual([{ entity: "visit_plans", id: "pl1", fields: { status: "done" } }]);
    const olsen = screen.getByRole("row", { name: /Olsen Bakery · Bergen/ });
    await expect.element(olsen.getByTestId("plan-status")).toHaveTextContent("Visited");
    expect(olsen.getByRole("button", { name: "Record visit" }).elements()).toHaveLength(0);
    // The new visit is in the recent list.
    await expect.poll(() => rows(screen, "visit-row")).toEqual(["2025-06-15 11:00 | Olsen Bakery | Follow up | Tasted the new blend"]);
  });

  test("a day with nothing planned says so", async () => {
    store([]);
    const screen = await render(Visits, { role: "rep", user: "rep1", today: TODAY });

    await expect.element(screen.getByTestId("plan-empty")).toHaveTextContent("Nothing is planned for today.");
    await expect.element(screen.getByTestId("visits-empty")).toHaveTextContent("No visits are recorded yet.");
  });
});

describe("Visits: the manager's view", () => {
  const VISITS: Row[] = [
    { id: "v1", customer_id: "c1", rep_id: "u1", visited_at: at(13, 9, 30), outcome: "order_taken", notes: "Big order\nand more" },
    { id: "v2", customer_id: "c2", rep_id: "u2", visited_at: at(14, 15, 0), outcome: "no_interest", notes: null },
    { id: "v3", customer_id: "c3", rep_id: "u1", visited_at: at(12, 8, 0), outcome: "not_met", notes: "Closed" },
  ];

  test("team visits are listed newest first with customer, rep and outcome, and narrow to one rep", async () => {
    store([], VISITS);
    const screen = await render(Visits, { role: "manager", user: "manager1", today: TODAY });

    await expect.element(screen.getByRole("heading", { name: "Team visits" })).toBeVisible();
    await expect
      .poll(() => rows(screen, "visit-row"))
      .toEqual([
        "2025-06-14 15:00 | Berg Hardware | Bo Rep | No interest |",
        "2025-06-13 09:30 | Olsen Bakery | Anna Rep | Order taken | Big order",
        "2025-06-12 08:00 | Fjord Fish | Anna Rep | Not met | Closed",
      ]);

    await screen.getByTestId("visit-rep-filter").selectOptions("Bo Rep");
    await expect.poll(() => rows(screen, "visit-row")).toEqual(["2025-06-14 15:00 | Berg Hardware | Bo Rep | No interest |"]);
    await expectAccessible();
  });

  test("the team's plan shows whose stop it is; only the manager's own stops can be recorded here", async () => {
    const plans: Row[] = [
      { id: "pl1", customer_id: "c1", rep_id: "u1", planned_on: TODAY, purpose: "Review", status: "planned" },
      { id: "pl2", customer_id: "c2", rep_id: "m1", planned_on: TODAY, purpose: "Key account", status: "planned" },
    ];
    store(plans);
    const screen = await render(Visits, { role: "manager", user: "manager1", today: TODAY });

    await expect
      .poll(() => rows(screen, "plan-row"))
      .toEqual(["Berg Hardware · Oslo | Mia Manager | Key account | Planned | Record visit", "Olsen Bakery · Bergen | Anna Rep | Review | Planned |"]);
  });
});
