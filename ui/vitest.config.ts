import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { playwright } from "@vitest/browser-playwright";

// Component tests run in a real headless Chromium. It is the system's browser (Debian's
// `chromium` package, which scripts/test.sh installs), because Playwright's own browser
// download is not reachable everywhere; FIELDSYNC_CHROMIUM points at another binary.
const executablePath = process.env["FIELDSYNC_CHROMIUM"] ?? "/usr/bin/chromium";

export default defineConfig({
  plugins: [svelte()],
  // Pre-bundled up front, so Vite does not discover them mid-run and reload the page.
  optimizeDeps: { include: ["@tauri-apps/api/core", "@tauri-apps/api/event", "@tauri-apps/api/mocks"] },
  test: {
    include: ["src/**/*.test.ts"],
    // expect.poll retries for up to 5 s (default 1 s) so a busy machine does not fail a
    // test; a passing assertion takes milliseconds. expect.element waits up to the test timeout.
    expect: { poll: { timeout: 5000 } },
    // Screenshots of failed tests land here (ignored by git).
    attachmentsDir: "test-results/attachments",
    browser: {
      enabled: true,
      headless: true,
      screenshotDirectory: "test-results/screenshots",
      // Without the sandbox (--no-sandbox), which Chromium refuses to run as root in;
      // scripts/test.sh runs as root on a fresh machine. The pages are our own code.
      // In a time zone far from UTC, so a screen that used the computer's local date where
      // the pricing day belongs (docs/sync-protocol.md) shows it near midnight.
      provider: playwright({ launchOptions: { executablePath, chromiumSandbox: false }, contextOptions: { timezoneId: "Pacific/Auckland" } }),
      instances: [{ browser: "chromium" }],
    },
  },
});
