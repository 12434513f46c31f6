// Stands in for the Rust side at the IPC boundary, so component tests run the real
// screens and lib/backend.ts against data and faults that the test chooses.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { UiError } from "../lib/backend";

export { clearMocks };

export type Args = Record<string, unknown>;
export type Handler = (args: Args) => unknown;

export interface Call {
  cmd: string;
  args: Args;
}

/// Answers each command with its handler; a command without one rejects, naming it.
/// Events are faked too (`listen` works; `emit` from @tauri-apps/api/event reaches the
/// screen). Returns the log of every command call, oldest first.
export function fakeBackend(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  mockIPC((cmd, payload) => {
    // Every command takes one argument object, sent as `args` (see backend.ts's `call`).
    const args = (payload as { args?: Args } | undefined)?.args ?? {};
    calls.push({ cmd, args });
    const handler = handlers[cmd];
    if (!handler) fail("internal", `The test has no fake for the command '${cmd}'.`);
    return handler(args);
  }, { shouldMockEvents: true });
  return calls;
}

export function argsOf(calls: Call[], cmd: string): Args[] {
  return calls.filter((c) => c.cmd === cmd).map((c) => c.args);
}

/// Rejects the current command the way every Tauri command does: with `{code, message}`.
export function fail(code: string, message: string): never {
  const error: UiError = { code, message, details: {} };
  return rejectWith(error);
}

/// Rejects the current command with exactly `value`.
export function rejectWith(value: unknown): never {
  // Tauri rejects with the command's serialised error, which is not an Error instance.
  throw value;
}

/// A reply the test releases when it chooses, to order concurrent replies deterministically.
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/// Resolves once every continuation already queued has run: a reply resolved before this
/// call has reached the screen (invoke, the component, Svelte's update are all microtasks).
/// For asserting that something did *not* happen; to wait for something, use expect.element.
export function settled(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

type Rows = Record<string, unknown> & { id: string };

/// The local cache's reads over tables the test holds: `record` (or not_found, as the client
/// says it) and `related` (rows whose field equals the value, compared as text). Replies are
/// copies, as after crossing the IPC boundary, so a later change to a table is only seen by
/// reading again.
export function localReads(tables: Record<string, Rows[]>): Record<string, Handler> {
  return {
    record: (a) => {
      const entity = String(a["entity"]);
      const id = String(a["id"]);
      const row = tables[entity]?.find((r) => r.id === id);
      return row ? { ...row } : fail("not_found", `There is no ${entity} record ${id} in this profile.`);
    },
    related: (a) => {
      const field = String(a["field"]);
      return (tables[String(a["entity"])] ?? []).filter((r) => String(r[field]) === a["value"]).map((r) => ({ ...r }));
    },
  };
}
