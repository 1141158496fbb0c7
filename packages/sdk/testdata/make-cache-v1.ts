// Wrote cache-v1.bin with writeLocalCache as it was on main at be43326 (cache format 1). Kept to show how the
// fixture was made; never re-run it against newer code, which writes a newer format: the fixture must stay
// what the old SDK wrote. Run (at be43326 only): npx tsx packages/sdk/testdata/make-cache-v1.ts
import { fileURLToPath } from "node:url";
import { writeLocalCache } from "../src/local-cache.js";
import { CACHE_V1_CONTENTS, CACHE_V1_FILE, CACHE_V1_KEY } from "./cache-v1.js";

await writeLocalCache(fileURLToPath(CACHE_V1_FILE), CACHE_V1_KEY, CACHE_V1_CONTENTS);
