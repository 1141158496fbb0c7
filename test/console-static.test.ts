import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/test-server.js";

// The built console, served on the API's port from a directory this test writes (a stand-in for Vite's output):
// redirects, the SPA fallback, cache headers, the page policy, and no way out of the directory.

const INDEX = '<!doctype html><html><head><script type="module" src="/console/assets/index-abc123.js"></script></head></html>';
const SCRIPT = "console.log('console');";
/** A file beside the console directory that no path may reach. */
const OUTSIDE = "outside-secret";

let tmp: string;
let srv: TestServer;
let missing: TestServer;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "console-static-"));
  const dist = path.join(tmp, "dist");
  mkdirSync(path.join(dist, "assets"), { recursive: true });
  writeFileSync(path.join(dist, "index.html"), INDEX);
  writeFileSync(path.join(dist, "assets", "index-abc123.js"), SCRIPT);
  writeFileSync(path.join(dist, "favicon.svg"), "<svg/>");
  writeFileSync(path.join(tmp, "package.json"), OUTSIDE);
  writeFileSync(path.join(tmp, "dist-secret.txt"), OUTSIDE);
  symlinkSync(path.join(tmp, "package.json"), path.join(dist, "linked.json"));
  srv = await startTestServer({ env: { ENGINE_CLOUD_CONSOLE_DIR: dist } });
  missing = await startTestServer({ env: { ENGINE_CLOUD_CONSOLE_DIR: path.join(tmp, "not-built") } });
});
afterAll(async () => {
  await srv?.stop();
  await missing?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A GET with the path sent exactly as written (fetch would normalise `..` and %2e away before sending). */
function rawGet(server: TestServer, rawPath: string, method = "GET"): Promise<Raw> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: rawPath, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

describe("the console's routes", () => {
  it("redirects / and /console to /console/", async () => {
    for (const p of ["/", "/console"]) {
      const res = await rawGet(srv, p);
      expect([res.status, res.headers.location]).toEqual([302, "/console/"]);
    }
  });

  it("serves index.html at /console/ with the strict page policy, never cached", async () => {
    const res = await rawGet(srv, "/console/");
    expect(res.status).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers).toMatchObject({
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store",
    });
  });

  it("answers index.html for any console path that is not a file, so the console's own links open (SPA fallback)", async () => {
    for (const p of [
      "/console/connections/7d0b7a84-51a4-4b8e-9d0e-0a6f1c2b3d4e",
      "/console/accept",
      "/console/members/a@b.com",
    ]) {
      const res = await rawGet(srv, p);
      expect([p, res.status, res.body]).toEqual([p, 200, INDEX]);
      expect(res.headers["content-security-policy"]).toBe(CSP);
    }
  });

  it("caches hashed assets for a year, immutable, and everything else not at all", async () => {
    const asset = await rawGet(srv, "/console/assets/index-abc123.js");
    expect([asset.status, asset.body]).toEqual([200, SCRIPT]);
    expect(asset.headers).toMatchObject({
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
    const icon = await rawGet(srv, "/console/favicon.svg");
    expect(icon.headers).toMatchObject({ "content-type": "image/svg+xml", "cache-control": "no-store" });
    // A stale page asking for an old build's asset gets a 404, not HTML in place of a script.
    expect((await rawGet(srv, "/console/assets/index-old999.js")).status).toBe(404);
  });

  it("answers HEAD like GET without a body, and leaves other methods and paths to the other routes", async () => {
    const head = await rawGet(srv, "/console/", "HEAD");
    expect([head.status, head.body, head.headers["content-security-policy"]]).toEqual([200, "", CSP]);
    expect((await rawGet(srv, "/console/", "POST")).status).toBe(404);
    expect((await rawGet(srv, "/healthz")).body).toBe("ok\n");
  });

  it("never serves a file outside the directory, however the path is written", async () => {
    const attempts = [
      "/console/../package.json",
      "/console/%2e%2e/package.json",
      "/console/%2E%2E%2Fpackage.json",
      "/console/assets/../../package.json",
      "/console/..%2fpackage.json",
      "/console/..%5cpackage.json",
      "/console/%2e%2e%5cpackage.json",
      "/console/../dist-secret.txt",
      "/console/%00../package.json",
      "/console/%252e%252e/package.json",
      "/console/%ZZ",
      "/console/linked.json",
      `/console/${encodeURIComponent(path.join(tmp, "package.json"))}`,
    ];
    for (const p of attempts) {
      const res = await rawGet(srv, p);
      expect(res.body, p).not.toContain(OUTSIDE);
      expect([200, 400, 404], p).toContain(res.status);
    }
  });

  it("logs every console request like every other route", async () => {
    await rawGet(srv, "/console/members");
    const line = srv.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.method === "GET /console/members");
    expect(line).toMatchObject({ protocol: "http", code: "OK" });
  });
});

describe("without a built console", () => {
  it("answers /console/ with a plain page saying how to build it", async () => {
    const res = await rawGet(missing, "/console/connections/x");
    expect(res.status).toBe(503);
    expect(res.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(res.body).toContain("npm run build -w packages/console");
    expect(res.body).toContain(path.join(tmp, "not-built"));
  });
});
