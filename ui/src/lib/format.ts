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
