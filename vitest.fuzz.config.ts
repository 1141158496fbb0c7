import { defineConfig } from "vitest/config";
import base from "./vitest.config.js";

/**
 * Generated bad input for every RPC (`npm run fuzz`; a fixed seed and 100,000
 * inputs in `.ci/run`). The seed and the number of inputs come from
 * ENGINE_FUZZ_SEED and ENGINE_FUZZ_INPUTS (scripts/fuzz.mjs sets them from flags).
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/fuzz/**/*.test.ts"],
    exclude: [],
    // A long run is bounded by its number of inputs, not by a test timeout.
    testTimeout: 24 * 3600_000,
    hookTimeout: 120_000,
  },
});
