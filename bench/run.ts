/**
 * `npm run bench`: lists the benchmarks, or runs one of them.
 *
 *   npm run bench                        one line per benchmark
 *   npm run bench -- NAME [flags]        runs bench/NAME.bench.ts with the flags (`--help` for its own)
 *
 * A benchmark is a `bench/*.bench.ts` file; the other files in bench/ are the pieces they share and the
 * processes they start. The line shown for each is the first sentence of the file's opening comment, so a new
 * benchmark is listed without touching this file.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SUFFIX = ".bench.ts";

const benchmarks = readdirSync(HERE)
  .filter((file) => file.endsWith(SUFFIX))
  .map((file) => file.slice(0, -SUFFIX.length))
  .sort();

/** The first sentence of the file's leading doc comment, on one line of at most `max` characters. */
function summaryOf(name: string, max: number): string {
  const source = readFileSync(path.join(HERE, name + SUFFIX), "utf8");
  const comment = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? "";
  const prose = comment
    .split("\n")
    .map((line) => line.replace(/^\s*\*\s?/, "").trim())
    .join(" ")
    .trim();
  const sentence = (/^.*?\.(?=\s|$)/.exec(prose)?.[0] ?? prose).replace(/\.$/, "");
  if (sentence.length <= max) return sentence;
  return sentence.slice(0, sentence.lastIndexOf(" ", max - 1)) + " …";
}

const [name, ...flags] = process.argv.slice(2);

if (name === undefined || name === "--help" || name === "-h") {
  const width = Math.max(...benchmarks.map((b) => b.length));
  console.log("usage: npm run bench -- NAME [flags]   (NAME --help for its flags; figures in docs/BENCHMARKS.md)\n");
  // One line each on a 120-column terminal.
  for (const b of benchmarks) console.log(`  ${b.padEnd(width)}  ${summaryOf(b, 120 - width - 4)}`);
  process.exit(0);
}

if (!benchmarks.includes(name)) {
  console.error(`no benchmark "${name}"; there are: ${benchmarks.join(", ")}`);
  process.exit(2);
}

// Its own process, with the "source" condition so workspace packages resolve to their TypeScript sources.
const run = spawnSync(process.execPath, ["--import", "tsx", "--conditions=source", path.join(HERE, name + SUFFIX), ...flags], {
  stdio: "inherit",
});
process.exit(run.status ?? 1);
