import { describe, expect, test } from "vitest";
import { lineTotal, orderTotal } from "./orders";

describe("lineTotal", () => {
  test("is quantity times unit price", () => {
    expect(lineTotal({ quantity: 3, unit_price_cents: 1250 })).toBe(3750);
  });

  test("takes the discount off the line amount", () => {
    expect(lineTotal({ quantity: 4, unit_price_cents: 1000, discount_pct: 15 })).toBe(3400);
  });

  test("rounds half a cent up, after the discount, like the server", () => {
    // 1 × 899 less 10% = 809.1 → 809; 3 × 5 less 50% = 7.5 → 8.
    expect(lineTotal({ quantity: 1, unit_price_cents: 899, discount_pct: 10 })).toBe(809);
    expect(lineTotal({ quantity: 3, unit_price_cents: 5, discount_pct: 50 })).toBe(8);
  });

  test("reads the untyped values a record holds", () => {
    expect(lineTotal({ quantity: "2", unit_price_cents: "499", discount_pct: null })).toBe(998);
  });
});

describe("orderTotal", () => {
  test("adds up the lines", () => {
    const lines = [
      { quantity: 3, unit_price_cents: 1250, discount_pct: 0 },
      { quantity: 1, unit_price_cents: 899, discount_pct: 10 },
    ];
    expect(orderTotal(lines)).toBe(3750 + 809);
  });

  test("is zero for an order without lines", () => {
    expect(orderTotal([])).toBe(0);
  });
});
