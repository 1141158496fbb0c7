import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// Where a module may live, and what it may import. The server's folders form
// one ordered list of layers, lowest first: a module may import its own
// layer and the layers below it, never above. docs/ARCHITECTURE.md shows the
// same list; a test there (below) holds the two to each other. Between
// packages: the API package imports none of ours; the SDK only the API; the
// server only the API; the CLI (and the console to come) only the SDK and the
// API. Test files (`*.test.ts`) may reach any layer and are not held here.

/** Lowest first. Keys are folders of packages/server/src, or top-level files (by name, without .ts). */
export const SERVER_LAYERS: ReadonlyArray<{ layer: string; holds: readonly string[] }> = [
  { layer: "base", holds: ["errors", "log", "metrics", "version", "well-formed-text"] },
  { layer: "store", holds: ["store"] },
  { layer: "feed", holds: ["feed"] },
  { layer: "crypto", holds: ["crypto"] },
  { layer: "auth", holds: ["auth"] },
  { layer: "limits", holds: ["limits"] },
  { layer: "tenancy", holds: ["tenancy"] },
  { layer: "messages", holds: ["messages"] },
  { layer: "vault", holds: ["vault"] },
  { layer: "hub", holds: ["hub"] },
  { layer: "mail", holds: ["mail"] },
  { layer: "sync", holds: ["sync"] },
  { layer: "jobs", holds: ["jobs"] },
  { layer: "services", holds: ["services"] },
  { layer: "transport", holds: ["transport"] },
  { layer: "app", holds: ["app", "bootstrap", "config", "server", "cli-entry", "index", "main"] },
];

/** The workspace packages each package may import (beyond its own files, Node builtins and third-party packages). */
export const PACKAGE_RULES: Readonly<Record<string, readonly string[]>> = {
  api: [],
  sdk: ["@engine-cloud/api"],
  server: ["@engine-cloud/api"],
  cli: ["@engine-cloud/sdk", "@engine-cloud/api"],
  console: ["@engine-cloud/sdk", "@engine-cloud/api"],
};

const root = path.resolve(import.meta.dirname, "..");
const packagesDir = path.join(root, "packages");
const serverSrc = path.join(packagesDir, "server", "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "gen" && entry.name !== "node_modules" && entry.name !== "dist") out.push(...sourceFiles(full));
    } else if (/\.(ts|tsx|mts)$/.test(entry.name) && !/\.test\.ts$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
      out.push(full);
    }
  }
  return out;
}

/** Every module specifier a file imports or re-exports, static or dynamic, types included. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

const layerIndex = new Map<string, number>();
SERVER_LAYERS.forEach(({ holds }, i) => holds.forEach((h) => layerIndex.set(h, i)));

/** The layer key of a server module: its top folder under src/, or its file name at the top. */
function layerKeyOf(srcDir: string, file: string): string {
  const rel = path.relative(srcDir, file).split(path.sep);
  return rel.length > 1 ? rel[0] : rel[0].replace(/\.(ts|js)$/, "");
}

interface Violation {
  file: string;
  import: string;
  rule: string;
}

function serverLayerViolations(srcDir = serverSrc): Violation[] {
  const out: Violation[] = [];
  for (const file of sourceFiles(srcDir)) {
    const from = layerKeyOf(srcDir, file);
    const fromIndex = layerIndex.get(from);
    const rel = path.relative(root, file);
    if (fromIndex === undefined) {
      out.push({ file: rel, import: "", rule: `"${from}" is in no layer: add it to SERVER_LAYERS and docs/ARCHITECTURE.md` });
      continue;
    }
    for (const spec of importsOf(file)) {
      if (!spec.startsWith(".")) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(srcDir + path.sep)) {
        out.push({ file: rel, import: spec, rule: "a server module imports only inside packages/server/src or by package name" });
        continue;
      }
      const to = layerKeyOf(srcDir, target);
      const toIndex = layerIndex.get(to);
      if (toIndex === undefined || toIndex > fromIndex) {
        const toLayer = toIndex === undefined ? `"${to}" (in no layer)` : SERVER_LAYERS[toIndex].layer;
        out.push({
          file: rel,
          import: spec,
          rule: `${SERVER_LAYERS[fromIndex].layer} may not import ${toLayer}: a layer imports only itself and the layers below it`,
        });
      }
    }
  }
  return out;
}

function packageViolations(): Violation[] {
  const out: Violation[] = [];
  for (const pkg of readdirSync(packagesDir)) {
    const src = path.join(packagesDir, pkg, "src");
    let files: string[];
    try {
      files = sourceFiles(src);
    } catch {
      continue;
    }
    const allowed = PACKAGE_RULES[pkg];
    for (const file of files) {
      const rel = path.relative(root, file);
      if (!allowed) {
        out.push({ file: rel, import: "", rule: `package "${pkg}" has no rule in PACKAGE_RULES` });
        break;
      }
      for (const spec of importsOf(file)) {
        const ours = spec.match(/^(@engine-cloud\/[^/]+)/)?.[1];
        if (ours && ours !== `@engine-cloud/${pkg}` && !allowed.includes(ours)) {
          out.push({ file: rel, import: spec, rule: `${pkg} may import only ${allowed.join(" and ") || "no package of ours"}` });
        }
        if (spec.startsWith(".") && !path.resolve(path.dirname(file), spec).startsWith(src + path.sep)) {
          out.push({ file: rel, import: spec, rule: `${pkg} reaches into another package by path; import it by name` });
        }
      }
    }
  }
  return out;
}

const report = (vs: Violation[]) => vs.map((v) => `${v.file}: import "${v.import}" — ${v.rule}`).join("\n");

describe("architecture", () => {
  it("holds every server module to its layer", () => {
    expect(report(serverLayerViolations())).toBe("");
  });

  it("holds every package to the packages it may import", () => {
    expect(report(packageViolations())).toBe("");
  });

  it("names the file, the import and the rule of a wrong-way import (the check is not vacuous)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-architecture-"));
    try {
      const put = (rel: string, text: string) => {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        writeFileSync(path.join(dir, rel), text);
      };
      put("services/token-service.ts", 'import { findToken } from "../store/tokens.js";\nexport const x = findToken;\n');
      put("store/tokens.ts", 'import type { X } from "../services/token-service.js";\nexport const findToken = 1;\n');
      put("gadgets/thing.ts", "export const y = 2;\n");
      expect(
        report(serverLayerViolations(dir))
          .split("\n")
          .map((l) => l.replace(/^.*?(store|gadgets)/, "$1"))
          .sort(),
      ).toEqual([
        'gadgets/thing.ts: import "" — "gadgets" is in no layer: add it to SERVER_LAYERS and docs/ARCHITECTURE.md',
        'store/tokens.ts: import "../services/token-service.js" — store may not import services: a layer imports only itself and the layers below it',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists the same layers, in the same order, as docs/ARCHITECTURE.md", () => {
    const doc = readFileSync(path.join(root, "docs", "ARCHITECTURE.md"), "utf8");
    const block = doc.match(/<!-- layers -->([\s\S]*?)<!-- \/layers -->/)?.[1];
    expect(block, "docs/ARCHITECTURE.md has a <!-- layers --> … <!-- /layers --> list").toBeDefined();
    const documented = [...block!.matchAll(/^\s*\d+\.\s+\*\*([a-z-]+)\*\*/gm)].map((m) => m[1]);
    expect(documented).toEqual(SERVER_LAYERS.map((l) => l.layer));
  });
});
