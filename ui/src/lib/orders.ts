// Order arithmetic shared by the screens: the same rounding as the server's
// `pricing::line_total_cents` (half up, after the discount).
/// A line as the screens hold it: any record with these fields (values may be untyped).
export type LineLike = Record<string, unknown>;

export function lineTotal(l: LineLike): number {
  const gross = Number(l["quantity"]) * Number(l["unit_price_cents"]);
  return Math.round(gross * (1 - Number(l["discount_pct"] ?? 0) / 100));
}

export function orderTotal(lines: LineLike[]): number {
  return lines.reduce((sum, l) => sum + lineTotal(l), 0);
}
