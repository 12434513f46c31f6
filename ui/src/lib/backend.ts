// The one place the UI talks to the Rust side. Every command rejects with
// `{code, message, details}`; screens choose what to do by `errorCode`, and `describeError`
// turns anything into one sentence for people.
import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { amount } from "./format";
import type { AppInfo, AttentionItem, BulkReview, Command, ConflictEntry, CustomerCard, Dashboard, PickerProduct, ProfileSummary, ReviewItem, SyncState, SyncStatus, UiError } from "./bindings";

export type Row = Record<string, unknown> & { id: string };

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
  Status,
  SyncState,
  SyncStatus,
  UiError,
} from "./bindings";

/** `invoke`, restricted to the commands the Rust side registers. */
function call<T>(command: Command, args?: InvokeArgs): Promise<T> {
  return invoke<T>(command, args);
}

/** The window event a local change raises, so the pending count updates at once. */
export const LOCAL_CHANGE = "fieldsync:local-change";

/** The window event of Ctrl+N: the customers screen opens a new order for its customer. */
export const NEW_ORDER = "fieldsync:new-order";

/** `call` for a command that changes local data: says so once it succeeded. */
async function change<T>(command: Command, args?: InvokeArgs): Promise<T> {
  const result = await call<T>(command, args);
  window.dispatchEvent(new Event(LOCAL_CHANGE));
  return result;
}

/** The review list's filters beyond status; empty means any. */
export interface OrderFilter {
  rep?: string;
  from?: string;
  to?: string;
}

function filterArgs(f: OrderFilter) {
  return { rep: f.rep || null, from: f.from || null, to: f.to || null };
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
  appInfo: () => call<AppInfo>("app_info"),
  signIn: (server: string, user: string, password: string) => call("sign_in", { server, user, password }),
  signOut: () => call<void>("sign_out"),
  syncNow: () => call<void>("sync_now"),
  setPaused: (paused: boolean) => call<void>("set_paused", { paused }),
  syncStatus: () => call<SyncStatus>("sync_status"),
  search: (entity: string, query: string, limit = 100) => call<Row[]>("search", { entity, query, limit }),
  record: (entity: string, id: string) => call<Row>("record", { entity, id }),
  related: (entity: string, field: string, value: string) => call<Row[]>("related", { entity, field, value }),
  save: (entity: string, id: string | null, fields: Record<string, string>) => change<Row>("save", { entity, id, fields }),
  deleteRecord: (entity: string, id: string) => change<void>("delete_record", { entity, id }),
  reviewQueue: (status?: string, filter: OrderFilter = {}) =>
    call<ReviewItem[]>("review_queue", { status: status ?? null, ...filterArgs(filter) }),
  reviewMany: (orderIds: string[], approve: boolean, comment: string | null) =>
    change<BulkReview>("review_many", { orderIds, approve, comment }),
  exportOrders: (status: string, filter: OrderFilter = {}) =>
    call<string>("export_orders", { status, ...filterArgs(filter) }),
  dashboard: () => call<Dashboard>("dashboard"),
  review: (orderId: string, approve: boolean, comment: string | null) =>
    change<void>("review", { orderId, approve, comment }),
  conflicts: () => call<ConflictEntry[]>("conflicts"),
  attention: () => call<AttentionItem[]>("attention"),
  resend: (mutationId: string, fixes: Record<string, string>) => change<void>("resend", { mutationId, fixes }),
  resendAtCurrentPrices: (mutationId: string) => change<void>("resend_at_current_prices", { mutationId }),
  discard: (mutationId: string) => change<void>("discard", { mutationId }),
  restoreConflict: (conflictId: string) => change<void>("restore_conflict", { conflictId }),
  pickerProducts: (customerId: string, query: string, limit = 20) =>
    call<PickerProduct[]>("picker_products", { customerId, query, limit }),
  customerCard: (id: string) => call<CustomerCard>("customer_card", { id }),
  openLink: (kind: "phone" | "email", value: string) => call<void>("open_link", { kind, value }),
  waitingChanges: () => call<ProfileSummary[]>("waiting_changes"),
  onSyncState: (f: (s: SyncState) => void): Promise<UnlistenFn> => listen<SyncState>("sync-state", (e) => f(e.payload)),
};

/// Money in cents as "1,234.50".
export function money(cents: number): string {
  return amount(cents);
}
