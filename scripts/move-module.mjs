#!/usr/bin/env node
// Moves TypeScript modules and rewrites every relative import of them (and the
// moved files' own relative imports) across packages/, test/ and bench/.
// Usage: node scripts/move-module.mjs old.ts=new.ts [old2.ts=new2.ts ...]  (paths from the repo root)
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";

const root = process.cwd();
const moves = new Map(process.argv.slice(2).map((a) => a.split("=").map((p) => path.resolve(root, p))));
const files = execFileSync("git", ["ls-files", "packages", "test", "bench", "scripts"], { encoding: "utf8" })
  .split("\n")
  .filter((f) => /\.(ts|mts|mjs)$/.test(f) && !f.includes("/gen/"))
  .map((f) => path.resolve(root, f));

const destOf = (abs) => moves.get(abs) ?? abs;
const spec = /(from\s+|import\s*\(\s*|import\s+)(["'])(\.{1,2}\/[^"']+)\2/g;

for (const file of files) {
  if (!existsSync(file)) continue;
  const src = readFileSync(file, "utf8");
  const newFile = destOf(file);
  const out = src.replace(spec, (all, pre, q, rel) => {
    const target = path.resolve(path.dirname(file), rel.replace(/\.js$/, ".ts"));
    const moved = destOf(target);
    if (moved === target && newFile === file) return all;
    let r = path.relative(path.dirname(newFile), moved).replace(/\.ts$/, ".js");
    if (!r.startsWith(".")) r = "./" + r;
    return `${pre}${q}${r}${q}`;
  });
  if (out !== src) writeFileSync(file, out);
}
for (const [from, to] of moves) {
  mkdirSync(path.dirname(to), { recursive: true });
  execFileSync("git", ["mv", from, to]);
}
