import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Metafile, type Plugin } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

// The SDK root is for browsers too: bundled for the browser platform, nothing it reaches may be a Node builtin.
// Builtins are let through as externals so the bundle completes and each one is reported with the chain of
// imports that reached it, from the entry down (esbuild's own error names only the last file).

const NODE_BUILTINS = new RegExp(`^(node:.*|${builtinModules.map((m) => m.replace(/[/]/g, "\\/")).join("|")})$`);

interface BuiltinImport {
  builtin: string;
  importer: string;
}

function recordBuiltins(found: BuiltinImport[]): Plugin {
  return {
    name: "record-node-builtins",
    setup(b) {
      b.onResolve({ filter: NODE_BUILTINS }, (args) => {
        found.push({ builtin: args.path, importer: path.relative(REPO_ROOT, args.importer) });
        return { path: args.path, external: true };
      });
    },
  };
}

/** entry → … → importer, the shortest way the bundle's inputs lead from one to the other. */
function importChain(metafile: Metafile, entry: string, importer: string): string[] {
  const previous = new Map<string, string | undefined>([[entry, undefined]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (file === importer) break;
    for (const next of metafile.inputs[file]?.imports ?? []) {
      if (next.external || previous.has(next.path)) continue;
      previous.set(next.path, file);
      queue.push(next.path);
    }
  }
  const chain: string[] = [];
  for (let at: string | undefined = importer; at !== undefined; at = previous.get(at)) chain.unshift(at);
  return chain[0] === entry ? chain : [importer];
}

/** Bundles `entry` for the browser; returns the bundle and every Node builtin it reached, with its import chain. */
async function bundleForBrowser(entry: { file: string } | { contents: string }, conditions: string[]) {
  const found: BuiltinImport[] = [];
  const result = await build({
    ...("file" in entry
      ? { entryPoints: [path.join(REPO_ROOT, entry.file)] }
      : { stdin: { contents: entry.contents, resolveDir: REPO_ROOT, sourcefile: "browser-entry.js" } }),
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: "browser",
    format: "esm",
    conditions,
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [recordBuiltins(found)],
  });
  const entryInput = "file" in entry ? entry.file : "<stdin>";
  const builtins = found.map(({ builtin, importer }) =>
    [...importChain(result.metafile, entryInput, importer), builtin].join(" → "),
  );
  return { code: result.outputFiles[0]!.text, builtins };
}

describe("the SDK root in a browser bundle", () => {
  // The sources as the workspace sees them, and the built files as a user's bundler sees them after install.
  it.each([
    ["its sources", "packages/sdk/src/index.ts", ["source"]],
    ["the built package", "packages/sdk/dist/index.js", []],
  ])("imports no Node builtin (%s)", async (_, file, conditions) => {
    const { builtins } = await bundleForBrowser({ file }, conditions);
    expect(builtins, "the SDK root must stay isomorphic: move Node-only code under src/node.ts").toEqual([]);
  });

  describe("talking to the server through connect-web", () => {
    let srv: TestServer;
    let dir: string;
    beforeAll(async () => {
      srv = await startTestServer();
      dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-browser-bundle-"));
    });
    afterAll(async () => {
      await srv?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    // What a web console does: the root's client over the fetch transport, bundled for the browser. Node has
    // fetch, so the very bundle runs here against the real server.
    it.each(["connect", "grpc-web"] as const)("calls the server over %s with the bundled fetch transport", async (protocol) => {
      const { code, builtins } = await bundleForBrowser(
        {
          contents: `
            import { createCloudClient, createCloudWebTransport, errorReason } from "@engine-cloud/sdk";
            export async function whoAmI(baseUrl, token) {
              const client = createCloudClient({ transport: createCloudWebTransport({ baseUrl, token, protocol: ${JSON.stringify(protocol)} }) });
              const me = await client.auth.whoAmI({});
              const refused = await createCloudClient({ transport: createCloudWebTransport({ baseUrl, token: "ect_wrong", protocol: ${JSON.stringify(protocol)} }) })
                .auth.whoAmI({})
                .then(() => "accepted", errorReason);
              return { platformAdmin: me.platformAdmin, tenant: me.tenantSlug, refused };
            }
          `,
        },
        ["source"],
      );
      expect(builtins).toEqual([]);
      const file = path.join(dir, `bundle-${protocol}.mjs`);
      writeFileSync(file, code);
      const bundle = (await import(pathToFileURL(file).href)) as {
        whoAmI(baseUrl: string, token: string): Promise<{ platformAdmin: boolean; tenant: string; refused: string }>;
      };
      const answer = await bundle.whoAmI(srv.url, srv.adminToken);
      expect(answer.platformAdmin).toBe(true);
      expect(answer.tenant).toBe("default");
      // The error details decode in the bundle too: a caller there sees the stable reason, not just a code.
      expect(answer.refused).toBe("TOKEN_INVALID");
    });
  });
});
