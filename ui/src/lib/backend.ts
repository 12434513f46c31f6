// The one place the UI talks to the Rust side. Every command rejects with
// `{code, message, details}`; screens choose what to do by `errorCode`, and `describeError`
// turns anything into one sentence for people.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { amount } from "./format";
import type { Command, Commands, Events, LinkKind, OrderFilter, SyncState, UiError } from "./bindings";

// The types below are generated from the Rust side (src-tauri/src/bindings.rs); a Rust
// test fails when bindings.ts is stale.
export type {
  AppInfo,
  AttentionItem,
  BulkReview,
  Command,
  ConflictEntry as Conflict,
  CustomerCard,
  PickerProduct,
  Dashboard,
  Laptop,
  ProfileSummary,
  RepWeeks,
  ReviewItem,
  Row,
  Status,
  SyncState,
  SyncStatus,
  UiError,
} from "./bindings";

/** A command's arguments as `call` takes them: none, or its argument object. */
type ArgsOf<C extends Command> = Commands[C]["args"] extends null ? [] : [Commands[C]["args"]];

/** `invoke`, typed by the Rust command table: the command's arguments in, its answer out. */
function call<C extends Command>(command: C, ...args: ArgsOf<C>): Promise<Commands[C]["result"]> {
  return invoke<Commands[C]["result"]>(command, args.length > 0 ? { args: args[0] } : {});
}

/** The window event a local change raises, so the pending count updates at once. */
export const LOCAL_CHANGE = "fieldsync:local-change";

/** The window event of Ctrl+N: the customers screen opens a new order for its customer. */
export const NEW_ORDER = "fieldsync:new-order";

/** `call` for a command that changes local data: says so once it succeeded. */
async function change<C extends Command>(command: C, ...args: ArgsOf<C>): Promise<Commands[C]["result"]> {
  const result = await call(command, ...args);
  window.dispatchEvent(new Event(LOCAL_CHANGE));
  return result;
}

/** The review list's filters beyond status; empty means any. */
export interface ListFilter {
  rep?: string;
  from?: string;
  to?: string;
}

function orderFilter(status: string | null, f: ListFilter): OrderFilter {
  return { status, rep: f.rep || null, from: f.from || null, to: f.to || null };
}

/** Listens to an event the Rust side emits, typed by its payload. */
function on<E extends keyof Events>(event: E, f: (payload: Events[E]) => void): Promise<UnlistenFn> {
  return listen<Events[E]>(event, (e) => f(e.payload));
}

/** The app's own words for errors whose sentence it chooses itself, by code. */
const WORDS: Partial<Record<string, string>> = {
  unreachable: "The server cannot be reached; check the address and your connection, then try again.",
};

/** The code of a command's error (`wrong_credentials`, `price_changed`, `unreachable`, ...). */
export function errorCode(e: unknown): string | null {
  return typeof e === "object" && e !== null && typeof (e as UiError).code === "string" ? (e as UiError).code : null;
}

/** One sentence for people: the app's words for the error's code, else the engine's or the server's. */
export function describeError(e: unknown): string {
  const words = WORDS[errorCode(e) ?? ""];
  if (words) return words;
  if (typeof e === "object" && e !== null && "message" in e && typeof (e as UiError).message === "string") {
    return (e as UiError).message;
  }
  if (typeof e === "string") return e;
  return "Something went wrong; try again.";
}

export const api = {
  appInfo: () => call("app_info"),
  signIn: (server: string, user: string, password: string) => call("sign_in", { server, user, password }),
  signOut: () => call("sign_out"),
  syncNow: () => call("sync_now"),
  setPaused: (paused: boolean) => call("set_paused", { paused }),
  syncStatus: () => call("sync_status"),
  search: (entity: string, query: string, limit = 100) => call("search", { entity, query, limit }),
  record: (entity: string, id: string) => call("record", { entity, id }),
  related: (entity: string, field: string, value: string) => call("related", { entity, field, value }),
  save: (entity: string, id: string | null, fields: Record<string, string>) => change("save", { entity, id, fields }),
  deleteRecord: (entity: string, id: string) => change("delete_record", { entity, id }),
  reviewQueue: (status?: string, filter: ListFilter = {}) => call("review_queue", orderFilter(status ?? null, filter)),
  reviewMany: (orderIds: string[], approve: boolean, comment: string | null) =>
    change("review_many", { orderIds, approve, comment }),
  exportOrders: (status: string, filter: ListFilter = {}) => call("export_orders", orderFilter(status, filter)),
  exportDiagnostics: () => call("export_diagnostics"),
  dashboard: () => call("dashboard"),
  review: (orderId: string, approve: boolean, comment: string | null) => change("review", { orderId, approve, comment }),
  conflicts: () => call("conflicts"),
  attention: () => call("attention"),
  resend: (mutationId: string, fixes: Record<string, string>) => change("resend", { mutationId, fixes }),
  resendAtCurrentPrices: (mutationId: string) => change("resend_at_current_prices", { mutationId }),
  discard: (mutationId: string) => change("discard", { mutationId }),
  restoreConflict: (conflictId: string) => change("restore_conflict", { conflictId }),
  pickerProducts: (customerId: string, query: string, limit = 20) =>
    call("picker_products", { customerId, query, limit }),
  customerCard: (id: string) => call("customer_card", { id }),
  openLink: (kind: LinkKind, value: string) => call("open_link", { kind, value }),
  waitingChanges: () => call("waiting_changes"),
  onSyncState: (f: (s: SyncState) => void) => on("sync-state", f),
};

/// Money in cents as "1,234.50".
export function money(cents: number): string {
  return amount(cents);
}
