import { afterEach, describe, expect, test, vi } from "vitest";
import { render } from "vitest-browser-svelte";
import type { AttentionItem, Conflict, SyncStatus } from "../lib/backend";
import { argsOf, clearMocks, deferred, fail, fakeBackend, settled, type Handler } from "../test/ipc";
import { expectAccessible } from "../test/axe";
import SyncPanel from "./SyncPanel.svelte";

const OUTSIDE = "This change would put the visit outside your territories or team, which you may not do; fix it and resend.";

const VISIT: AttentionItem = {
  mutation_id: "m1",
  entity: "visits",
  id: "v1",
  op: "put",
  fields: { customer_id: "c1", outcome: "follow_up", notes: "Met the buyer", visited_at: "2025-06-14T10:00:00.000Z" },
  code: "forbidden",
  reason: OUTSIDE,
  rejected_at_ms: 1_750_000_000_000,
  what: "visit for Fjord Foods",
  fixable: [
    { field: "outcome", label: "Outcome", choices: ["order_taken", "follow_up", "no_interest", "not_met"], input: "text" },
    { field: "notes", label: "Notes", choices: [], input: "text" },
  ],
};

const PHONE: AttentionItem = {
  mutation_id: "m2",
  entity: "customers",
  id: "c2",
  op: "put",
  fields: { phone: "+47 5555" },
  code: "bad_input",
  reason: "The phone number is too short.",
  rejected_at_ms: 1_750_000_100_000,
  what: "customer Fjord Foods",
  fixable: [{ field: "phone", label: "Phone", choices: [], input: "text" }],
};

function status(needsAttention: number): SyncStatus {
  return {
    state: { state: "up_to_date", last_ok_ms: 1_750_000_000_000 },
    summary: "Synced; up to date",
    status: { pending: 0, needs_attention: needsAttention, last_sync: "2025-06-15 09:00", clock_offset_ms: 0, server: null, user: "rep1" },
  };
}

/// The attention list as the client keeps it: resend and discard take an item off.
function backend(items: AttentionItem[], extra: Record<string, Handler> = {}) {
  let waiting = [...items];
  const drop = (a: Record<string, unknown>) => {
    waiting = waiting.filter((i) => i.mutation_id !== a["mutationId"]);
    return null;
  };
  return fakeBackend({
    attention: () => waiting,
    conflicts: () => [],
    resend: drop,
    resend_at_current_prices: drop,
    discard: drop,
    ...extra,
  });
}

afterEach(() => clearMocks());

async function panel(items: AttentionItem[]) {
  const onChanged = vi.fn();
  const screen = await render(SyncPanel, { status: status(items.length), onChanged });
  return { screen, onChanged };
}

describe("SyncPanel: needs attention", () => {
  test("a rejected change shows why, with its values in fields to fix", async () => {
    backend([VISIT]);
    const { screen } = await panel([VISIT]);

    const item = screen.getByTestId("attention-item");
    await expect.element(item.getByTestId("attention-reason")).toHaveTextContent(OUTSIDE);
    // The record in words, not its type and id; a reference is not offered as a box to type in.
    await expect.element(item.getByTestId("attention-what")).toHaveTextContent("Changing visit for Fjord Foods");
    expect(item.element().textContent).not.toMatch(/visits|v1/);
    expect(item.getByLabelText("Customer").elements()).toHaveLength(0);
    // A value of a fixed set is a choice in words; the time it happened is not offered.
    await expect.element(item.getByLabelText("Outcome")).toHaveValue("follow_up");
    await expect.element(item.getByRole("option", { name: "Follow up" })).toBeInTheDocument();
    expect(item.getByLabelText("Visited at").elements()).toHaveLength(0);
    await expect.element(item.getByLabelText("Notes")).toHaveValue("Met the buyer");
    await expectAccessible();
  });

  test("resending sends only the fields the user changed, and the item leaves the list", async () => {
    const calls = backend([VISIT]);
    const { screen, onChanged } = await panel([VISIT]);
    const item = screen.getByTestId("attention-item");

    await item.getByLabelText("Outcome").selectOptions("Not met");
    await item.getByLabelText("Notes").fill("Met the buyer");
    await item.getByRole("button", { name: "Resend with 1 fix" }).click();

    await expect.element(screen.getByText("Nothing was rejected.")).toBeVisible();
    expect(argsOf(calls, "resend")).toEqual([{ mutationId: "m1", fixes: { outcome: "not_met" } }]);
    expect(onChanged).toHaveBeenCalledTimes(1);
  });

  test("resend without edits sends the change as it was; discard forgets the other one", async () => {
    const calls = backend([VISIT, PHONE]);
    const { screen } = await panel([VISIT, PHONE]);
    const items = screen.getByTestId("attention-item");
    await expect.poll(() => items.elements().length).toBe(2);

    await items.nth(0).getByRole("button", { name: "Resend" }).click();
    await expect.poll(() => items.elements().length).toBe(1);
    await items.nth(0).getByRole("button", { name: "Discard…" }).click();
    await items.nth(0).getByRole("button", { name: "Discard it" }).click();

    await expect.element(screen.getByText("Nothing was rejected.")).toBeVisible();
    expect(argsOf(calls, "resend")).toEqual([{ mutationId: "m1", fixes: {} }]);
    expect(argsOf(calls, "discard")).toEqual([{ mutationId: "m2" }]);
  });

  test("a fix the client refuses shows why, and the typed value stays for another try", async () => {
    const REFUSED = "The phone may be at most 4 KiB long; this is 5 KiB.";
    backend([PHONE], { resend: () => fail("bad_input", REFUSED) });
    const { screen } = await panel([PHONE]);
    const item = screen.getByTestId("attention-item");

    await item.getByLabelText("Phone").fill("+47 5555 0101 ext. 99");
    await item.getByRole("button", { name: "Resend with 1 fix" }).click();

    await expect.element(screen.getByRole("alert")).toHaveTextContent(REFUSED);
    await expect.element(item.getByLabelText("Phone")).toHaveValue("+47 5555 0101 ext. 99");
  });

  test("typing survives the list being re-read when the sync state changes", async () => {
    const calls = backend([VISIT]);
    const { screen } = await panel([VISIT]);
    const item = screen.getByTestId("attention-item");
    await item.getByLabelText("Notes").fill("Met the buyer; wants the winter range");

    await screen.rerender({ status: { ...status(1), summary: "Syncing…" } });
    await expect.element(screen.getByTestId("sync-state")).toHaveTextContent("Syncing…");
    await expect.poll(() => argsOf(calls, "attention").length).toBe(2);

    await expect.element(item.getByLabelText("Notes")).toHaveValue("Met the buyer; wants the winter range");
    await expect.element(item.getByRole("button", { name: "Resend with 1 fix" })).toBeVisible();
  });

  test("an older, emptier read that answers last does not hide a rejected change", async () => {
    // The first read (before the rejection was stored) is slow; the second one has it.
    const slow = deferred<AttentionItem[]>();
    let reads = 0;
    fakeBackend({ attention: () => (++reads === 1 ? slow.promise : [VISIT]), conflicts: () => [] });
    const screen = await render(SyncPanel, { status: status(0), onChanged: vi.fn() });
    await screen.rerender({ status: status(1) });
    await expect.element(screen.getByTestId("attention-item")).toBeVisible();

    slow.resolve([]);
    await settled();
    await expect.element(screen.getByTestId("attention-item")).toBeVisible();
  });

  test("a rejected delete has nothing to fix: it can only be resent or discarded", async () => {
    const deletion: AttentionItem = { ...PHONE, mutation_id: "m3", op: "delete", fields: {}, fixable: [], reason: "As a rep you may not delete customers." };
    backend([deletion]);
    const { screen } = await panel([deletion]);

    const item = screen.getByTestId("attention-item");
    await expect.element(item).toHaveTextContent("Deleting customer Fjord Foods");
    expect(item.getByRole("textbox").elements()).toHaveLength(0);
    await expect.element(item.getByRole("button", { name: "Resend" })).toBeVisible();
    await expect.element(item.getByRole("button", { name: "Discard" })).toBeVisible();
  });
});

describe("SyncPanel: fixing a rejection in one step", () => {
  const REPRICED: AttentionItem = {
    mutation_id: "m4",
    entity: "orders",
    id: "o1",
    op: "put",
    fields: { status: "submitted" },
    code: "price_changed",
    reason: "2 lines have a new price since the order was taken; accept the new prices and resend.",
    rejected_at_ms: 1_750_000_200_000,
    what: "order for Fjord Foods",
    fixable: [{ field: "status", label: "Status", choices: ["draft", "submitted"], input: "text" }],
  };

  test("an order refused at yesterday's prices offers one button, not a status box", async () => {
    const calls = backend([REPRICED]);
    const { screen, onChanged } = await panel([REPRICED]);
    const item = screen.getByTestId("attention-item");

    expect(item.getByRole("textbox").elements()).toHaveLength(0);
    await item.getByRole("button", { name: "Update prices and resubmit" }).click();

    expect(argsOf(calls, "resend_at_current_prices")).toEqual([{ mutationId: "m4" }]);
    expect(argsOf(calls, "resend")).toEqual([]);
    await expect.poll(() => onChanged.mock.calls.length).toBe(1);
  });

  test("discard asks first, and keeping the change leaves it alone", async () => {
    const calls = backend([PHONE]);
    const { screen } = await panel([PHONE]);
    const item = screen.getByTestId("attention-item");

    await item.getByRole("button", { name: "Discard…" }).click();
    await expect.element(item.getByRole("alert")).toHaveTextContent("lost for good");
    await item.getByRole("button", { name: "Keep it" }).click();
    expect(argsOf(calls, "discard")).toEqual([]);
    await expect.element(item.getByRole("button", { name: "Discard…" })).toBeVisible();

    await item.getByRole("button", { name: "Discard…" }).click();
    await item.getByRole("button", { name: "Discard it" }).click();
    await expect.element(screen.getByText("Nothing was rejected.")).toBeVisible();
    expect(argsOf(calls, "discard")).toEqual([{ mutationId: "m2" }]);
  });
});

describe("SyncPanel: conflicts", () => {
  const base: Conflict = {
    conflict_id: "k1",
    entity: "customers",
    id: "c1",
    field: "phone",
    kept: "+47 222",
    overwritten: "+47 111",
    kept_by: "rep2",
    overwritten_by: "rep1",
    at: "2025-06-15T08:00:00.000Z",
    record_name: "Fjord Foods",
    what: "customer Fjord Foods",
    field_label: "Phone",
    kept_text: "+47 222",
    overwritten_text: "+47 111",
  };
  const theirs: Conflict = { ...base, conflict_id: "k2", kept_by: "rep1", overwritten_by: "rep2", kept: "+47 111", overwritten: "+47 222", kept_text: "+47 111", overwritten_text: "+47 222" };
  const deleted: Conflict = {
    ...base,
    conflict_id: "k3",
    entity: "contacts",
    field: "*",
    kept: null,
    overwritten: { name: "Ola Nordmann" },
    kept_by: "rep2",
    record_name: "Ola Nordmann",
    what: "contact Ola Nordmann",
    field_label: "the whole record",
    kept_text: "deleted",
    overwritten_text: "its last values",
  };

  test("a conflict names the record, and my overwritten value comes back in one click", async () => {
    const calls = backend([], { conflicts: () => [base, theirs, deleted], restore_conflict: () => null });
    const { screen } = await panel([]);
    const rows = screen.getByTestId("conflict-row");
    await expect.poll(() => rows.elements().length).toBe(3);

    // The record by its name, the field by its label, each value with who made it; no ids.
    await expect.element(rows.nth(0)).toHaveTextContent("customer Fjord Foods");
    await expect.element(rows.nth(0)).toHaveTextContent("Phone");
    await expect.element(rows.nth(0)).toHaveTextContent("+47 222 by rep2");
    await expect.element(rows.nth(0)).toHaveTextContent("+47 111 by rep1");
    expect(rows.nth(0).element().textContent).not.toMatch(/customers|phone|c1/);
    expect(rows.nth(1).getByRole("button").elements()).toHaveLength(0);
    await expect.element(rows.nth(2)).toHaveTextContent("the whole record");
    await expect.element(rows.nth(2).getByRole("button", { name: "Bring it back" })).toBeVisible();

    await rows.nth(0).getByRole("button", { name: "Restore my value" }).click();
    await expect.poll(() => argsOf(calls, "restore_conflict")).toEqual([{ conflictId: "k1" }]);
    await expectAccessible();
  });
});

describe("SyncPanel: sync now", () => {
  test("offline, sync now says what happens instead of doing nothing visible", async () => {
    backend([], { sync_now: () => null });
    const offline: SyncStatus = { ...status(0), state: { state: "offline", since_ms: 1, next_probe_ms: 2 }, summary: "Fieldsync: offline" };
    const screen = await render(SyncPanel, { status: offline, onChanged: vi.fn() });

    await screen.getByRole("button", { name: "Sync now" }).click();
    await expect.element(screen.getByTestId("sync-note")).toHaveTextContent("cannot be reached");
  });
});

describe("SyncPanel: diagnostics for the support desk", () => {
  test("Export diagnostics saves the zip and says where, and that it holds no data", async () => {
    const PATH = "/home/rep1/Downloads/fieldsync-diagnostics-2026-12-01.zip";
    const calls = backend([], { export_diagnostics: () => PATH });
    const { screen } = await panel([]);

    await screen.getByRole("button", { name: "Export diagnostics…" }).click();

    const saved = screen.getByTestId("diagnostics-saved");
    await expect.element(saved).toHaveTextContent(PATH);
    await expect.element(saved).toHaveTextContent("no password");
    expect(argsOf(calls, "export_diagnostics")).toHaveLength(1);
    await expectAccessible();
  });

  test("a zip that cannot be saved says why", async () => {
    const FULL = "The diagnostics could not be saved as /home/rep1/Downloads/x.zip: No space left on device.";
    backend([], { export_diagnostics: () => fail("bad_input", FULL) });
    const { screen } = await panel([]);

    await screen.getByRole("button", { name: "Export diagnostics…" }).click();

    await expect.element(screen.getByRole("alert")).toHaveTextContent(FULL);
    expect(screen.getByTestId("diagnostics-saved").elements()).toHaveLength(0);
  });
});
