// Generated from the Rust types by src-tauri/src/bindings.rs; do not edit.
// Regenerate: FIELDSYNC_UPDATE_BINDINGS=1 cargo test -p fieldsync-desktop bindings

/** Every command the UI may invoke: its arguments (`null`: none) and its answer. */
export interface Commands {
  app_info: { args: null; result: AppInfo };
  sign_in: { args: SignIn; result: null };
  sign_out: { args: null; result: null };
  sync_now: { args: null; result: null };
  set_paused: { args: SetPaused; result: null };
  sync_status: { args: null; result: SyncStatus };
  search: { args: Search; result: Array<Row> };
  record: { args: RecordId; result: Row };
  related: { args: Related; result: Array<Row> };
  save: { args: Save; result: Row };
  delete_record: { args: RecordId; result: null };
  review_queue: { args: OrderFilter; result: Array<ReviewItem> };
  review: { args: Review; result: null };
  conflicts: { args: null; result: Array<ConflictEntry> };
  attention: { args: null; result: Array<AttentionItem> };
  resend: { args: Resend; result: null };
  resend_at_current_prices: { args: MutationId; result: null };
  discard: { args: MutationId; result: null };
  restore_conflict: { args: ConflictId; result: null };
  dashboard: { args: null; result: Dashboard };
  review_many: { args: ReviewMany; result: BulkReview };
  export_orders: { args: OrderFilter; result: string };
  export_diagnostics: { args: null; result: string };
  waiting_changes: { args: null; result: Array<ProfileSummary> };
  customer_card: { args: CustomerId; result: CustomerCard };
  picker_products: { args: PickerQuery; result: Array<PickerProduct> };
  open_link: { args: Link; result: null };
}

/** A command's name. */
export type Command = keyof Commands;

/** Every event the Rust side emits, with its payload. */
export interface Events {
  "sync-state": SyncState;
  "sync-event": SyncEvent;
}

export type SyncState = { "state": "idle" } | { "state": "offline", since_ms: number, next_probe_ms: number, } | { "state": "syncing", rows: number, percent: number, } | { "state": "up_to_date", last_ok_ms: number, } | { "state": "failed", error: string, retry_at_ms: number, } | { "state": "sign_in_needed", reason: string, } | { "state": "paused" };

export type Status = { pending: number, needs_attention: number, last_sync: string | null, clock_offset_ms: number, server: string | null, user: string | null, };

export type SyncStatus = { state: SyncState, summary: string, status: Status, };

export type AppInfo = { server: string | null, server_locked: boolean, signed_in: boolean, user: string | null, role: string | null, 
/**
 * The pricing day (`YYYY-MM-DD`) by which prices and promotions are shown: the one the
 * engine and the server price by, not this computer's local date.
 */
pricing_day: string, };

export type UiError = { code: string, message: string, details: { [key in string]?: string }, };

export type AttentionItem = { mutation_id: string, entity: string, id: string, op: "put" | "delete", fields: Record<string, unknown>, code: string, reason: string, rejected_at_ms: number, 
/**
 * The record in people's words ("customer Olsen Bakery", "visit for Olsen Bakery");
 * filled by `Engine::attention`.
 */
what: string, 
/**
 * The fields a person can fix by typing (not references, not server-set), with their
 * labels; filled by `Engine::attention`.
 */
fixable: Array<FieldLabel>, };

export type FieldLabel = { field: string, label: string, 
/**
 * The values allowed, for a field with a fixed set (shown as a choice); else empty.
 */
choices: Array<string>, 
/**
 * `text`, `number`, `date` (YYYY-MM-DD) or `yes_no`.
 */
input: string, };

export type ConflictEntry = { conflict_id: string, entity: string, id: string, field: string, kept: unknown, overwritten: unknown, kept_by: string, overwritten_by: string, at: string, 
/**
 * What names the record for people (its name, title, code or number), from this
 * profile or, for a deleted record, from the values the conflict kept.
 */
record_name: string | null, 
/**
 * The record in people's words ("customer Olsen Bakery").
 */
what: string, 
/**
 * The field's label ("Phone"), or "the whole record" for a delete that won.
 */
field_label: string, 
/**
 * The kept and the overwritten values in people's words (a referenced record by its
 * name, money in units, "yes"/"no", "empty").
 */
kept_text: string, overwritten_text: string, };

export type ReviewItem = { id: string, 
/**
 * The order's number for people (`B-0042`); none on orders from before numbers.
 */
number: string | null, status: string, order_date: string, customer_id: string, customer: string, rep_id: string, rep: string, lines: number, total_cents: number, 
/**
 * The currency of the customer's price list (the total's), when known.
 */
currency: string | null, 
/**
 * Stock or price flags the server raised.
 */
flags: string | null, 
/**
 * Earlier decisions on the order, oldest first: {decision, comment, reviewer, at}.
 */
history: Array<Record<string, unknown>>, 
/**
 * Changes to the order or its lines made here that the server has not acknowledged
 * yet ("not sent").
 */
unsent: boolean, };

export type Dashboard = { 
/**
 * Mondays of the weeks covered, oldest first (`YYYY-MM-DD`).
 */
weeks: Array<string>, 
/**
 * Every rep of the team, by name, with zeros for quiet weeks.
 */
reps: Array<RepWeeks>, 
/**
 * Orders waiting for review, and their value.
 */
open_reviews: number, open_review_cents: number, 
/**
 * Best customers of the period by revenue.
 */
top_customers: Array<TopCustomer>, 
/**
 * The team's laptops, as of `laptops_as_of` (none before the first sync that
 * fetched them).
 */
laptops: Array<Laptop>, laptops_as_of: string | null, 
/**
 * The currency of every amount, when all price lists here share one; `None` when they
 * mix currencies (the sums then add different money) or there are none.
 */
currency: string | null, };

export type RepWeeks = { rep: string, orders: number[], revenue_cents: number[], visits: number[], };

export type TopCustomer = { customer_id: string, customer: string, orders: number, revenue_cents: number, };

export type Laptop = { user: string, device: string | null, app_version: string | null, last_seen_at: string, 
/**
 * Changes of this user the server refused in the last week.
 */
rejected_recently: number, };

export type BulkReview = { reviewed: number, };

export type ProfileSummary = { server: string, user: string, 
/**
 * Changes made here and not yet sent.
 */
pending: number, 
/**
 * Changes the server refused, waiting for their owner to fix or discard.
 */
needs_attention: number, };

export type CustomerCard = { customer: Record<string, unknown> & { id: string }, 
/**
 * The customer's price list by name, and the currency its prices are in.
 */
price_list: string | null, currency: string | null, credit_limit_cents: number | null, 
/**
 * Open invoices, plus orders sent for approval, approved or delivered that no invoice
 * bills yet.
 */
open_balance_cents: number, 
/**
 * The credit limit less the open balance (negative: over the limit); `None` without a
 * limit.
 */
available_credit_cents: number | null, 
/**
 * The latest orders, newest first.
 */
recent_orders: Array<CardOrder>, 
/**
 * The latest visits, newest first.
 */
visits: Array<CardVisit>, 
/**
 * Billing addresses first, then shipping.
 */
addresses: Array<Record<string, unknown> & { id: string }>, contacts: Array<Record<string, unknown> & { id: string }>, 
/**
 * Invoices with an amount still open, the earliest due first.
 */
open_invoices: Array<Record<string, unknown> & { id: string }>, 
/**
 * The customer's fields whose value the current user set and a later edit replaced.
 */
overwritten: Array<Overwritten>, };

export type PickerProduct = { product: Record<string, unknown> & { id: string }, 
/**
 * From the customer's price list; `None` when the list lacks the product (a line of it
 * cannot be priced).
 */
unit_price_cents: number | null, 
/**
 * The best promotion running today, or 0.
 */
discount_pct: number, 
/**
 * On hand less reserved, over every warehouse; `None` when no warehouse stocks it.
 */
available: number | null, };

export type CardOrder = { id: string, 
/**
 * The order's number for people; none on orders from before numbers.
 */
number: string | null, status: string, order_date: string, total_cents: number, lines: number, };

export type CardVisit = { id: string, visited_at: string, outcome: string | null, notes: string | null, 
/**
 * Who made the visit ("" when that user is not visible here).
 */
rep: string, };

export type Overwritten = { field: string, label: string, 
/**
 * Who made the edit that was kept.
 */
by: string, 
/**
 * The value the current user had set, in people's words.
 */
yours: string, };

export type SyncEvent = { "kind": "rejected", count: number, latest: string, } | { "kind": "overwritten", count: number, } | { "kind": "sign_in_expired", reason: string, } | { "kind": "first_sync_done", rows: number, } | { "kind": "notice", text: string, };

export type Row = Record<string, unknown> & { id: string };

export type SignIn = { server: string, user: string, password: string, };

export type SetPaused = { paused: boolean, };

export type Search = { entity: string, query: string, limit?: number, };

export type RecordId = { entity: string, id: string, };

export type Related = { entity: string, field: string, value: string, };

export type Save = { entity: string, id: string | null, fields: { [key in string]?: string }, };

export type OrderFilter = { status: string | null, rep: string | null, from: string | null, to: string | null, };

export type Review = { orderId: string, approve: boolean, comment: string | null, };

export type ReviewMany = { orderIds: Array<string>, approve: boolean, comment: string | null, };

export type Resend = { mutationId: string, fixes: { [key in string]?: string }, };

export type MutationId = { mutationId: string, };

export type ConflictId = { conflictId: string, };

export type CustomerId = { id: string, };

export type PickerQuery = { customerId: string, query: string, limit?: number, };

export type Link = { kind: LinkKind, value: string, };

export type LinkKind = "phone" | "email";
