import { defineConfig } from "vitest/config";

// The console in a real headless Chromium (Debian's chromium-headless-shell, driven by playwright-core): one
// browser per file, a new context per test, the real server from test/support/test-server.ts serving the built
// console. Out of `npm test`; `.ci/run` runs it after the fault suite (`npm run test:browser`).
export default defineConfig({
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["test/browser/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts", "test/browser/support/build-console.ts"],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: "forks",
    // Two cores: two browsers at a time at most.
    maxWorkers: 2,
  },
});
