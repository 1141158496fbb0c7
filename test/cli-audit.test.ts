import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, runCli } from "./support/cli-process.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";

// `engine-cloud audit list|export|verify` as a user runs them, the built
// binary against a real server: verify passes an honest export, offline,
// and names the first broken link of a tampered one with exit code 1.

let srv: TestServer;
let tenant: TestTenant;
let dir: string;
beforeAll(async () => {
  assertCliBuilt();
  srv = await startTestServer({ env: { ENGINE_CLOUD_AUDIT_CHECKPOINT_EVERY: "3" } });
  tenant = await createTestTenant(srv);
  for (let i = 0; i < 4; i++) await putApiKey(tenant.admin, { provider: `cli${i}` }, uniqueSecret());
  dir = mkdtempSync(path.join(tmpdir(), "audit-cli-"));
}, 120_000);
afterAll(async () => {
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[]) =>
  runCli(args, { ENGINE_CLOUD_URL: srv.url, ENGINE_CLOUD_TOKEN: srv.adminToken, ENGINE_CLOUD_TENANT: tenant.slug });

describe("engine-cloud audit", () => {
  it("lists the tenant's events, filtered by action", async () => {
    const r = await run(["audit", "list", "--action", "credential.put", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const { events } = JSON.parse(r.stdout);
    expect(events.map((e: { action: string }) => e.action)).toEqual(Array(4).fill("credential.put"));
  });

  it("exports to a file that verifies offline, and finds the edit in a tampered copy", async () => {
    const file = path.join(dir, "audit.jsonl");
    const exported = await run(["audit", "export", "--output", file]);
    expect(exported.code, exported.stderr).toBe(0);
    const ok = await run(["audit", "verify", "--file", file]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verified: chain .+, \d+ events, [1-9]\d* signed checkpoints/);

    const lines = readFileSync(file, "utf8").split("\n");
    const i = lines.findIndex((l) => l.includes('"seq":2,'));
    lines[i] = lines[i].replace(/"target":"[^"]*"/, '"target":"credential:forged"');
    const tampered = path.join(dir, "tampered.jsonl");
    writeFileSync(tampered, lines.join("\n"));
    const bad = await run(["audit", "verify", "--file", tampered]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("is broken at event 2: its content does not match its hash");
  });

  it("verifies the chain straight from the server", async () => {
    const r = await run(["audit", "verify"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`chain ${tenant.id}`);
  });
});
