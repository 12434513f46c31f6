// The one place the UI talks to the Rust side. Every command rejects with
// `{code, message}`; `describeError` turns anything into one sentence for people.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

export type Row = Record<string, unknown> & { id: string };

export interface AppInfo {
  server: string | null;
  server_locked: boolean;
  signed_in: boolean;
  user: string | null;
  role: string | null;
}

export type SyncState =
  | { state: "idle" }
  | { state: "offline"; since_ms: number; next_probe_ms: number }
  | { state: "syncing"; rows: number; percent: number }
  | { state: "up_to_date"; last_ok_ms: number }
  | { state: "failed"; error: string; retry_at_ms: number }
  | { state: "sign_in_needed"; reason: string }
  | { state: "paused" };

export interface SyncStatus {
  state: SyncState;
  summary: string;
  status: {
    pending: number;
    needs_attention: number;
    last_sync: string | null;
    clock_offset_ms: number;
    server: string | null;
    user: string | null;
  };
}

export interface AttentionItem {
  mutation_id: string;
  entity: string;
  id: string;
  op: "put" | "delete";
  fields: Record<string, unknown>;
  code: string;
  reason: string;
}

export interface Conflict {
  conflict_id: string;
  entity: string;
  id: string;
  field: string;
  kept: unknown;
  overwritten: unknown;
  kept_by: string;
  overwritten_by: string;
  at: string;
}

export interface ReviewItem {
  id: string;
  status: string;
  order_date: string;
  customer: string;
  rep: string;
  lines: number;
  total_cents: number;
  flags: string | null;
}

export interface UiError {
  code: string;
  message: string;
}

export function describeError(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e && typeof (e as UiError).message === "string") {
    return (e as UiError).message;
  }
  if (typeof e === "string") return e;
  return "Something went wrong; try again.";
}

export const api = {
  appInfo: () => invoke<AppInfo>("app_info"),
  signIn: (server: string, user: string, password: string) => invoke("sign_in", { server, user, password }),
  signOut: () => invoke<void>("sign_out"),
  syncNow: () => invoke<void>("sync_now"),
  setPaused: (paused: boolean) => invoke<void>("set_paused", { paused }),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  search: (entity: string, query: string, limit = 100) => invoke<Row[]>("search", { entity, query, limit }),
  record: (entity: string, id: string) => invoke<Row>("record", { entity, id }),
  related: (entity: string, field: string, value: string) => invoke<Row[]>("related", { entity, field, value }),
  save: (entity: string, id: string | null, fields: Record<string, string>) => invoke<Row>("save", { entity, id, fields }),
  reviewQueue: (status?: string) => invoke<ReviewItem[]>("review_queue", { status: status ?? null, rep: null }),
  review: (orderId: string, approve: boolean, comment: string | null) =>
    invoke<void>("review", { orderId, approve, comment }),
  conflicts: () => invoke<Conflict[]>("conflicts"),
  attention: () => invoke<AttentionItem[]>("attention"),
  resend: (mutationId: string, fixes: Record<string, string>) => invoke<void>("resend", { mutationId, fixes }),
  discard: (mutationId: string) => invoke<void>("discard", { mutationId }),
  onSyncState: (f: (s: SyncState) => void): Promise<UnlistenFn> => listen<SyncState>("sync-state", (e) => f(e.payload)),
};

/// Money in cents as "1,234.50".
export function money(cents: number): string {
  return (cents / 100).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
