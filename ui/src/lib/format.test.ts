import { describe, expect, test } from "vitest";
import { dateTime, fieldText, localDate, outcomeLabel } from "./format";

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
