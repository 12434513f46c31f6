// Accessibility in the component tests: axe-core checks the rendered screen, and a test
// fails on any serious or critical violation, naming the rule and the elements.
import axe from "axe-core";
import { expect } from "vitest";

export async function expectAccessible(root: Element = document.body): Promise<void> {
  const result = await axe.run(root, { resultTypes: ["violations"] });
  const bad = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(bad).toEqual([]);
}
