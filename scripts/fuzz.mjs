#!/usr/bin/env node
// `npm run fuzz -- [--seed N] [--inputs N] [--findings FILE]`: the generated-input suite
// (test/fuzz/) for as long as asked. Without --seed a fresh one is drawn and printed, so a
// finding can be replayed with the same seed. ENGINE_TEST_POSTGRES_URL runs it on PostgreSQL.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    inputs: { type: "string", default: "1000000" },
    findings: { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  console.log("usage: npm run fuzz -- [--seed N] [--inputs N (default 1000000)] [--findings FILE.json]");
  process.exit(0);
}
for (const [name, value] of [
  ["seed", values.seed],
  ["inputs", values.inputs],
]) {
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`--${name}: "${value}" is not a whole number`);
    process.exit(2);
  }
}
const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: seed ${seed}, ${values.inputs} inputs`);
const env = { ...process.env, ENGINE_FUZZ_SEED: seed, ENGINE_FUZZ_INPUTS: values.inputs };
if (values.findings) env.ENGINE_FUZZ_FINDINGS = values.findings;
const run = spawnSync("npx", ["vitest", "run", "--config", "vitest.fuzz.config.ts"], { stdio: "inherit", env });
process.exit(run.status ?? 1);
