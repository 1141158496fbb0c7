import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);

/**
 * What a user outside this repository gets: the packed API package, SDK and
 * CLI installed into a fresh project and used from plain node, no tsx, no
 * workspace. (The SDK and the CLI depend on the API package, so it is packed
 * and installed with them, as a registry would serve it.)
 */
describe("packages", () => {
  let srv: TestServer;
  let project: string;

  beforeAll(async () => {
    srv = await startTestServer();
    project = mkdtempSync(path.join(tmpdir(), "engine-cloud-consumer-"));
    const packed: string[] = [];
    for (const pkg of ["api", "sdk", "cli"]) {
      const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", project], {
        cwd: path.join(REPO_ROOT, "packages", pkg),
      });
      packed.push(path.join(project, JSON.parse(stdout)[0].filename));
    }
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...packed], { cwd: project });
  }, 180_000);

  afterAll(async () => {
    await srv?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it("installs the SDK from its tarball and calls the server from plain node", async () => {
    const script = `
      import { createCloudClient } from "@engine-cloud/sdk/node";
      const client = createCloudClient({ baseUrl: process.argv[2], token: process.argv[3] });
      const me = await client.auth.whoAmI({});
      console.log(JSON.stringify({ platformAdmin: me.platformAdmin, tenant: me.tenantSlug }));
    `;
    writeFileSync(path.join(project, "check.mjs"), script);
    const { stdout } = await run(process.execPath, ["check.mjs", srv.url, srv.adminToken], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ platformAdmin: true, tenant: "default" });
  });

  it("uses the isomorphic root over its fetch transport, with messages from the API package", async () => {
    const script = `
      import { TokenKind, TENANT_HEADER } from "@engine-cloud/api";
      import { createCloudClient, createCloudWebTransport, createCredentialClient } from "@engine-cloud/sdk";
      const client = createCloudClient({ transport: createCloudWebTransport({ baseUrl: process.argv[2], token: process.argv[3] }) });
      const { token } = await client.tokens.createToken({ label: "packaged", kind: TokenKind.RUNTIME });
      const credentials = createCredentialClient({ client, project: "" });
      const missing = await credentials.get("packaged-provider");
      console.log(JSON.stringify({ kind: token.kind === TokenKind.RUNTIME, missing: missing === undefined, TENANT_HEADER }));
    `;
    writeFileSync(path.join(project, "check-root.mjs"), script);
    const { stdout } = await run(process.execPath, ["check-root.mjs", srv.url, srv.adminToken], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ kind: true, missing: true, TENANT_HEADER: "engine-tenant" });
  });

  it("ships type declarations that declare EngineSyncProvider and EngineCredentialClient", async () => {
    const { stdout } = await run("ls", [path.join(project, "node_modules/@engine-cloud/sdk/dist")]);
    expect(stdout).toContain("index.d.ts");
    expect(stdout).toContain("node.d.ts");
    // A TypeScript user of the installed packages, resolving them through their exports maps as tsc does.
    writeFileSync(
      path.join(project, "types.ts"),
      `
      import type { Credential } from "@engine-cloud/api";
      import type { EngineCredentialClient } from "@engine-cloud/sdk";
      import type { EngineSyncProvider } from "@engine-cloud/sdk/node";
      export const fromProvider = (p: EngineSyncProvider): Credential | undefined => p.get("google/work");
      export const fromClient = (c: EngineCredentialClient): Promise<Credential | undefined> => c.get("google/work");
      `,
    );
    writeFileSync(
      path.join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          types: [],
          skipLibCheck: true,
        },
        files: ["types.ts"],
      }),
    );
    const tsc = path.join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    await expect(run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project })).resolves.toBeDefined();
  });

  it("installs the CLI as a bin that talks to the server", async () => {
    const { stdout } = await run(path.join(project, "node_modules/.bin/engine-cloud"), ["status", "--json"], {
      cwd: project,
      env: { ...process.env, ENGINE_CLOUD_URL: srv.url },
    });
    expect(JSON.parse(stdout).api).toBe("engine.cloud.v1");
  });
});
