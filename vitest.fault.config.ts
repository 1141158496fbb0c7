import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * The fault suite (`npm run test:fault`): servers killed, stopped and cut off
 * from their database or their clients on purpose. Minutes, not seconds, so it
 * is not part of `npm test`; `.ci/run` runs it after the PostgreSQL suite.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/fault/**/*.test.ts"],
    exclude: [],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file starts server processes of its own; two files at once on two cores would time each other out.
    fileParallelism: false,
  },
});
