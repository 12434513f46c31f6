// How the screens show dates, times and record values. Dates are the user's local
// calendar day: "today" for a rep is the day on the laptop's wall clock.

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

/// The local calendar day of `d` as YYYY-MM-DD (the registry's Date format).
export function localDate(d: Date = new Date()): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/// An RFC 3339 timestamp as local "YYYY-MM-DD HH:MM"; text that is not a time is shown as it is.
export function dateTime(value: unknown): string {
  if (typeof value !== "string" && typeof value !== "number") return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${localDate(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/// A record value as the text a form field holds: null and missing values are empty.
export function fieldText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  return JSON.stringify(value) ?? "";
}

/// The visit outcomes of the registry's `visits.outcome`, with the words people read.
export const OUTCOMES: readonly (readonly [string, string])[] = [
  ["order_taken", "Order taken"],
  ["follow_up", "Follow up"],
  ["no_interest", "No interest"],
  ["not_met", "Not met"],
];

export function outcomeLabel(value: unknown): string {
  const found = OUTCOMES.find(([v]) => v === value);
  return found ? found[1] : fieldText(value);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A week's Monday (YYYY-MM-DD) as the dashboard labels it: "24 Nov".
export function weekLabel(monday: string): string {
  const [, m, d] = monday.split("-").map(Number);
  if (!m || !d) return monday;
  return `${d} ${MONTHS[m - 1]}`;
}

/// How long ago an RFC 3339 time was, in words: "just now", "5 min ago", "3 h ago",
/// "2 days ago"; older than a week, the date.
export function relativeTime(value: string, now: Date = new Date()): string {
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return value;
  const minutes = Math.round((now.getTime() - t.getTime()) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days <= 7) return days === 1 ? "yesterday" : `${days} days ago`;
  return localDate(t);
}

/// A time as people say it, in local time: "today 11:42", "yesterday 16:05", "28 Nov 09:10",
/// or with the year when it is not this year. Text that is not a time is shown as it is.
export function humanTime(value: unknown, now: Date = new Date()): string {
  if (typeof value !== "string" && typeof value !== "number") return "";
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return String(value);
  const clock = `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (localDate(t) === localDate(now)) return `today ${clock}`;
  if (localDate(t) === localDate(yesterday)) return `yesterday ${clock}`;
  const day = `${t.getDate()} ${MONTHS[t.getMonth()]}`;
  return t.getFullYear() === now.getFullYear() ? `${day} ${clock}` : `${day} ${t.getFullYear()} ${clock}`;
}

/// An order's status in the words people read: "submitted" → "Submitted".
const STATUSES: Record<string, string> = {
  draft: "Draft",
  submitted: "Submitted",
  approved: "Approved",
  rejected: "Rejected",
  delivered: "Delivered",
  cancelled: "Cancelled",
};

export function statusLabel(value: unknown): string {
  const text = fieldText(value);
  return STATUSES[text] ?? text;
}

/// "1 change", "3 changes": a count with its noun (English plurals by "s").
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/// Money in cents in the price list's currency: "NOK 1,234.50"; without a known currency,
/// the number alone.
export function amount(cents: number, currency?: string | null): string {
  const units = cents / 100;
  if (currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency, currencyDisplay: "code" }).format(units).replace(/\u00a0/g, " ");
    } catch {
      // Not an ISO 4217 code: say it after the number.
      return `${amount(cents)} ${currency}`;
    }
  }
  return units.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}
