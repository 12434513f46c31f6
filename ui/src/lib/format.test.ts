import { describe, expect, test } from "vitest";
import { amount, dateTime, fieldText, humanTime, localDate, outcomeLabel, relativeTime, statusLabel, weekLabel } from "./format";

describe("localDate", () => {
  test("is the day on the local wall clock, late in the evening too", () => {
    expect(localDate(new Date(2025, 0, 5, 23, 59))).toBe("2025-01-05");
    expect(localDate(new Date(2025, 11, 31, 0, 1))).toBe("2025-12-31");
  });
});

describe("dateTime", () => {
  test("shows a timestamp in local time to the minute", () => {
    expect(dateTime(new Date(2025, 5, 3, 9, 7, 30).toISOString())).toBe("2025-06-03 09:07");
  });

  test("leaves text that is not a time as it is, and nothing as nothing", () => {
    expect(dateTime("soon")).toBe("soon");
    expect(dateTime(null)).toBe("");
  });
});

describe("fieldText", () => {
  test("shows values as a form holds them", () => {
    expect(fieldText(null)).toBe("");
    expect(fieldText(12)).toBe("12");
    expect(fieldText(true)).toBe("true");
    expect(fieldText("x")).toBe("x");
  });
});

test("outcomeLabel reads the outcome in words, and keeps an unknown one", () => {
  expect(outcomeLabel("follow_up")).toBe("Follow up");
  expect(outcomeLabel("later")).toBe("later");
  expect(outcomeLabel(null)).toBe("");
});

describe("dashboard labels", () => {
  test("a week is labelled by its Monday", () => {
    expect(weekLabel("2026-11-30")).toBe("30 Nov");
    expect(weekLabel("2027-01-04")).toBe("4 Jan");
  });

  test("last seen reads as people say it", () => {
    const now = new Date("2026-11-30T12:00:00Z");
    expect(relativeTime("2026-11-30T11:59:40Z", now)).toBe("just now");
    expect(relativeTime("2026-11-30T11:45:00Z", now)).toBe("15 min ago");
    expect(relativeTime("2026-11-30T09:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-11-29T10:00:00Z", now)).toBe("yesterday");
    expect(relativeTime("2026-11-26T12:00:00Z", now)).toBe("4 days ago");
    expect(relativeTime("not a time", now)).toBe("not a time");
  });
});

describe("humanTime", () => {
  const now = new Date(2026, 10, 30, 14, 0);
  test("says today and yesterday, in local time, across midnight", () => {
    expect(humanTime(new Date(2026, 10, 30, 11, 42).toISOString(), now)).toBe("today 11:42");
    expect(humanTime(new Date(2026, 10, 30, 0, 5).toISOString(), now)).toBe("today 00:05");
    expect(humanTime(new Date(2026, 10, 29, 23, 55).toISOString(), now)).toBe("yesterday 23:55");
    expect(humanTime(new Date(2026, 11, 1, 0, 30).toISOString(), new Date(2026, 11, 1, 8, 0))).toBe("today 00:30");
  });

  test("older times get the day, and the year when it is another", () => {
    expect(humanTime(new Date(2026, 10, 3, 9, 10).toISOString(), now)).toBe("3 Nov 09:10");
    expect(humanTime(new Date(2025, 11, 31, 18, 0).toISOString(), now)).toBe("31 Dec 2025 18:00");
    expect(humanTime("never", now)).toBe("never");
  });
});

test("statusLabel reads an order's status in words, and keeps an unknown one", () => {
  expect(statusLabel("submitted")).toBe("Submitted");
  expect(statusLabel("on_hold")).toBe("on_hold");
});

describe("amount", () => {
  test("shows money in the price list's currency, and the number alone without one", () => {
    expect(amount(123450, "NOK")).toBe("NOK 1,234.50");
    expect(amount(-500, "EUR")).toBe("-EUR 5.00");
    expect(amount(123450, null)).toBe("1,234.50");
    expect(amount(99, "points")).toBe("0.99 points");
  });
});
