import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);

/**
 * What a user outside this repository gets: the packed SDK and CLI installed
 * into a fresh project and used from plain node, no tsx, no workspace.
 */
describe("packages", () => {
  let srv: TestServer;
  let project: string;

  beforeAll(async () => {
    srv = await startTestServer();
    project = mkdtempSync(path.join(tmpdir(), "engine-cloud-consumer-"));
    const packed: string[] = [];
    for (const pkg of ["sdk", "cli"]) {
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
      import { createCloudClient } from "@engine-cloud/sdk";
      const client = createCloudClient({ baseUrl: process.argv[2], token: process.argv[3] });
      const me = await client.auth.whoAmI({});
      console.log(JSON.stringify({ platformAdmin: me.platformAdmin, tenant: me.tenantSlug }));
    `;
    writeFileSync(path.join(project, "check.mjs"), script);
    const { stdout } = await run(process.execPath, ["check.mjs", srv.url, srv.adminToken], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ platformAdmin: true, tenant: "default" });
  });

  it("ships type declarations with the SDK", async () => {
    const { stdout } = await run("ls", [path.join(project, "node_modules/@engine-cloud/sdk/dist")]);
    expect(stdout).toContain("index.d.ts");
  });

  it("installs the CLI as a bin that talks to the server", async () => {
    const { stdout } = await run(path.join(project, "node_modules/.bin/engine-cloud"), ["status", "--json"], {
      cwd: project,
      env: { ...process.env, ENGINE_CLOUD_URL: srv.url },
    });
    expect(JSON.parse(stdout).api).toBe("engine.cloud.v1");
  });
});
