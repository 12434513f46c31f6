import { afterEach, expect, test, vi } from "vitest";
import { render } from "vitest-browser-svelte";
import type { Row } from "../lib/backend";
import { argsOf, clearMocks, deferred, fail, fakeBackend } from "../test/ipc";
import VisitForm from "./VisitForm.svelte";

const CUSTOMER: Row = { id: "c1", code: "C-001", name: "Olsen Bakery" };

afterEach(() => clearMocks());

test("a double click on save records the visit once", async () => {
  const reply = deferred<Row>();
  const calls = fakeBackend({ save: () => reply.promise });
  const onDone = vi.fn();
  const screen = await render(VisitForm, { customer: CUSTOMER, onDone });
  await screen.getByTestId("visit-notes").fill("Met the buyer.");

  // Two clicks before the first save answers (and before the button can disable).
  const button = screen.getByTestId("save-visit").element() as HTMLButtonElement;
  button.click();
  button.click();
  reply.resolve({ id: "v1" });

  await expect.poll(() => onDone.mock.calls.length).toBe(1);
  expect(argsOf(calls, "save")).toEqual([
    { entity: "visits", id: null, fields: { customer_id: "c1", outcome: "follow_up", notes: "Met the buyer." } },
  ]);
});

test("a refused visit says why and can be saved again", async () => {
  let attempts = 0;
  fakeBackend({
    save: () => (++attempts === 1 ? fail("bad_input", "visits.notes is too long.") : { id: "v1" }),
  });
  const onDone = vi.fn();
  const screen = await render(VisitForm, { customer: CUSTOMER, onDone });

  await screen.getByTestId("save-visit").click();
  await expect.element(screen.getByRole("alert")).toHaveTextContent("visits.notes is too long.");
  await expect.element(screen.getByTestId("save-visit")).toBeEnabled();

  await screen.getByTestId("save-visit").click();
  await expect.poll(() => onDone.mock.calls.length).toBe(1);
});
