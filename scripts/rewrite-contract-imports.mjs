#!/usr/bin/env node
// Points every import of the contract at its home: generated messages, services and the wire constants at
// "@engine-cloud/api", what only Node can do at "@engine-cloud/sdk/node", the rest at "@engine-cloud/sdk".
//
//   node scripts/rewrite-contract-imports.mjs            rewrite in place, list the files changed
//   node scripts/rewrite-contract-imports.mjs --check    change nothing; exit 1 if a file would change
//
// Each imported name goes to the entry that exports it (read with the TypeScript compiler from
// packages/api/src/index.ts, packages/sdk/src/index.ts and packages/sdk/src/node.ts, types included): the API
// package first, then the Node entry (whose createCloudClient and createCredentialClient are the root's plus a
// baseUrl and the environment, what callers in Node used before), then the root. The server may import only the
// API package. Imports that land on the same module are merged. Idempotent: run it again after a merge.
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const API = "@engine-cloud/api";
const SDK = "@engine-cloud/sdk";
const SDK_NODE = "@engine-cloud/sdk/node";
const check = process.argv.includes("--check");

/** Every name (value or type) an entry file exports. */
function exportsOf(entries) {
  const files = Object.values(entries).map((f) => path.join(ROOT, f));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    customConditions: ["source"],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  return Object.fromEntries(
    Object.entries(entries).map(([name, file]) => {
      const source = program.getSourceFile(path.join(ROOT, file));
      const symbol = source && checker.getSymbolAtLocation(source);
      if (!symbol) throw new Error(`cannot read the exports of ${file}`);
      return [name, new Set(checker.getExportsOfModule(symbol).map((s) => s.name))];
    }),
  );
}

const names = exportsOf({
  [API]: "packages/api/src/index.ts",
  [SDK]: "packages/sdk/src/index.ts",
  [SDK_NODE]: "packages/sdk/src/node.ts",
});

const inServer = (file) => file.startsWith("packages/server/");
const inSdk = (file) => file.startsWith("packages/sdk/src/");

/** Where one imported name lives now, or an error message. */
function homeOf(file, name) {
  if (names[API].has(name)) return API;
  if (inServer(file)) return { error: `${name} is not part of ${API}: the server imports the contract only` };
  if (names[SDK_NODE].has(name)) return SDK_NODE;
  if (names[SDK].has(name)) return SDK;
  return { error: `${name} is exported by none of ${API}, ${SDK}, ${SDK_NODE}` };
}

/** The module a specifier names now, for imports that move whole (namespaces, generated files); else undefined. */
function movedModule(file, specifier) {
  if (specifier.startsWith(`${SDK}/gen/`)) return `${API}/gen/${specifier.slice(`${SDK}/gen/`.length)}`;
  if (inSdk(file) && specifier.startsWith("./gen/")) {
    // The engine.cloud.v1 files are all re-exported from the package root; the vendored ones are not.
    if (specifier.startsWith("./gen/engine/cloud/v1/")) return API;
    return `${API}/gen/${specifier.slice("./gen/".length)}`;
  }
  return undefined;
}

function sourceFiles(dir) {
  const out = [];
  for (const entry of readdirSync(path.join(ROOT, dir))) {
    const rel = path.join(dir, entry);
    if (entry === "node_modules" || entry === "dist" || entry === "gen") continue;
    if (statSync(path.join(ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|mts|mjs)$/.test(entry) && !entry.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

/** `{ a, type B }` or `type { a, B }`, one line up to 120 columns like the rest of the code. */
function renderImport(specifiers, module) {
  const allTypes = specifiers.every((s) => s.type);
  const parts = specifiers.map((s) => `${s.type && !allTypes ? "type " : ""}${s.text}`);
  const head = allTypes ? "import type" : "import";
  const line = `${head} { ${parts.join(", ")} } from "${module}";`;
  if (line.length <= 120) return line;
  return `${head} {\n${parts.map((p) => `  ${p},`).join("\n")}\n} from "${module}";`;
}

/** The order the imports of one statement are written in: the contract, the SDK root, its Node entry, the rest. */
const moduleRank = (module) => [API, SDK, SDK_NODE].indexOf(module) + 1 || 4;

const isHome = (specifier) => specifier === API || specifier.startsWith(`${API}/gen/`) || specifier === SDK_NODE;

function rewrite(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edits = []; // { start, end, text }, applied from the end
  const errors = [];
  const feeders = []; // named-import declarations of the contract: { statement, specifier, specs: [{ text, type, to }] }

  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const specifier = statement.moduleSpecifier.text;
      const moved = movedModule(file, specifier);
      if (specifier !== SDK && moved === undefined && !isHome(specifier)) continue;
      const clause = statement.importClause;
      const bindings = clause?.namedBindings;
      if (!clause || clause.name || !bindings || ts.isNamespaceImport(bindings)) {
        // A namespace import of the SDK enumerates the API's descriptors: it wants the API package.
        const to = specifier === SDK ? API : moved;
        if (to)
          edits.push({
            start: statement.moduleSpecifier.getStart(source),
            end: statement.moduleSpecifier.getEnd(),
            text: `"${to}"`,
          });
        continue;
      }
      const specs = [];
      for (const element of bindings.elements) {
        const imported = (element.propertyName ?? element.name).text;
        // A vendored generated file moves whole; the engine.cloud.v1 files' names come from the API root.
        const to = isHome(specifier) ? specifier : moved && moved !== API ? moved : moved === API ? API : homeOf(file, imported);
        if (typeof to === "object") {
          errors.push(`${file}: ${to.error}`);
          continue;
        }
        const text = element.propertyName ? `${element.propertyName.text} as ${element.name.text}` : element.name.text;
        specs.push({ text, type: clause.isTypeOnly || element.isTypeOnly, to });
      }
      feeders.push({ statement, specifier, specs });
      continue;
    }
    // const { a, b } = await import("@engine-cloud/sdk");   (the benchmarks load workspace code after a re-exec)
    if (ts.isVariableStatement(statement) && statement.declarationList.declarations.length === 1) {
      const [decl] = statement.declarationList.declarations;
      const init = decl.initializer;
      const call = init && ts.isAwaitExpression(init) ? init.expression : undefined;
      const isSdkImport =
        call &&
        ts.isCallExpression(call) &&
        call.expression.kind === ts.SyntaxKind.ImportKeyword &&
        ts.isStringLiteral(call.arguments[0]) &&
        call.arguments[0].text === SDK &&
        ts.isObjectBindingPattern(decl.name);
      if (!isSdkImport) continue;
      const groups = new Map();
      for (const element of decl.name.elements) {
        const home = homeOf(file, (element.propertyName ?? element.name).getText(source));
        if (typeof home === "object") errors.push(`${file}: ${home.error}`);
        else groups.set(home, [...(groups.get(home) ?? []), element.getText(source)]);
      }
      if (groups.size === 1 && groups.has(SDK)) continue;
      const lines = [...groups].map(([module, els]) => `const { ${els.join(", ")} } = await import("${module}");`);
      edits.push({ start: statement.getStart(source), end: statement.getEnd(), text: lines.join("\n") });
    }
  }

  // Nothing moves when every named import already names its home: leave the file as it is, layout included.
  const moves = feeders.some((f) => f.specs.some((s) => s.to !== f.specifier));
  if (moves) {
    // Each destination's merged import takes the place of the first declaration that feeds it; the rest go.
    const groups = new Map();
    for (const feeder of feeders) {
      for (const spec of feeder.specs) {
        if (!groups.has(spec.to)) groups.set(spec.to, { first: feeder, specs: [] });
        const group = groups.get(spec.to);
        if (!group.specs.some((s) => s.text === spec.text && s.type === spec.type)) group.specs.push(spec);
      }
    }
    for (const feeder of feeders) {
      // A declaration that moves whole to one module keeps its layout: only the module name changes.
      const only = feeder.specs[0]?.to;
      const group = groups.get(only);
      if (feeder.specs.every((s) => s.to === only) && group.first === feeder && group.specs.length === feeder.specs.length) {
        const literal = feeder.statement.moduleSpecifier;
        if (only !== feeder.specifier) edits.push({ start: literal.getStart(source), end: literal.getEnd(), text: `"${only}"` });
        continue;
      }
      const placed = [...groups]
        .filter(([, g]) => g.first === feeder)
        .sort(([a], [b]) => moduleRank(a) - moduleRank(b) || a.localeCompare(b))
        .map(([m, g]) => renderImport(g.specs, m));
      let end = feeder.statement.getEnd();
      if (placed.length === 0 && text[end] === "\n") end += 1;
      edits.push({ start: feeder.statement.getStart(source), end, text: placed.join("\n") });
    }
  }

  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const edit of edits) out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
  return { out, errors };
}

const roots = ["packages/server/src", "packages/cli/src", "packages/sdk/src", "test", "bench", "examples"].filter((d) => {
  try {
    return statSync(path.join(ROOT, d)).isDirectory();
  } catch {
    return false;
  }
});
const changed = [];
const errors = [];
for (const file of roots.flatMap(sourceFiles)) {
  const text = readFileSync(path.join(ROOT, file), "utf8");
  if (!text.includes("@engine-cloud/") && !(inSdk(file) && text.includes("./gen/"))) continue;
  const result = rewrite(file, text);
  errors.push(...result.errors);
  if (result.out !== text) {
    changed.push(file);
    if (!check) writeFileSync(path.join(ROOT, file), result.out);
  }
}
for (const e of errors) console.error(e);
for (const f of changed) console.log(`${check ? "would rewrite" : "rewrote"} ${f}`);
process.exit(errors.length > 0 || (check && changed.length > 0) ? 1 : 0);
