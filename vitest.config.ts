import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources ("source" export condition), so tests need no build.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    // The fault suite and the fuzzer take minutes: their own configs, `npm run test:fault` and `npm run fuzz`; the
    // browser suite needs Chromium and the built console: `npm run test:browser`.
    exclude: [...configDefaults.exclude, "test/fault/**", "test/fuzz/**", "test/browser/**"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
