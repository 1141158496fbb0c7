import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
/** Paths a scanner tries: traversal, encoded and control characters, a near-RPC, a long one. */
const ODD_PATHS = [
  "/no/such/path",
  "/..%2f",
  "/%2e%2e/%2e%2e/etc/passwd",
  "//",
  "/%00",
  "/a%zz",
  "/engine.cloud.v1.NoService/Nothing",
  "/engine.cloud.v1.ServerService/NoMethod",
  `/${"a".repeat(8000)}`,
];

/** The server's log lines for the request that sent `requestId`, parsed: there should be one. */
function logLinesOf(srv: TestServer, requestId: string): Record<string, unknown>[] {
  return srv.logs.filter((l) => l.includes(`"request_id":"${requestId}"`)).map((l) => JSON.parse(l));
}

describe("plain HTTP paths beside the RPCs", () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  }, 90_000);
  afterAll(() => srv?.stop());

  /** curl -i with the path sent as is (no dot-segment folding); returns status line, headers and body as text. */
  const curl = async (method: string, urlPath: string, requestId: string, extra: string[] = []) => {
    const { stdout } = await run("curl", [
      "-sS",
      "-i",
      "--path-as-is",
      ...(method === "HEAD" ? ["-I"] : ["-X", method]),
      "-H",
      `x-request-id: ${requestId}`,
      ...extra,
      `${srv.url}${urlPath}`,
    ]);
    return stdout;
  };

  it("answer an unknown path a plain-text 404 without a stack, for every method and odd path, with one log line each", async () => {
    for (const method of METHODS) {
      for (const urlPath of ODD_PATHS) {
        const requestId = `odd-${randomUUID()}`;
        const out = await curl(method, urlPath, requestId);
        const what = `${method} ${urlPath.slice(0, 60)}`;
        expect([what, /^HTTP\/1\.1 (\d+)/.exec(out)?.[1]]).toEqual([what, "404"]);
        expect(out).toMatch(/content-type: text\/plain/i);
        if (method !== "HEAD") expect([what, out.slice(out.indexOf("\r\n\r\n") + 4)]).toEqual([what, "not found\n"]);
        expect(out).not.toMatch(/at .*\.js|Error|engine/);
        const lines = logLinesOf(srv, requestId);
        expect([what, lines.length, lines[0]?.code, lines[0]?.protocol]).toEqual([what, 1, "NotFound", "http"]);
        expect(String(lines[0].method).startsWith(`${method} /`)).toBe(true);
        expect(String(lines[0].method).length).toBeLessThanOrEqual(method.length + 1 + 200);
      }
    }
  }, 120_000);

  it("log one line for an RPC path Connect answers by itself: another HTTP method, an unknown content type, a body that does not decode", async () => {
    const rpc = "/engine.cloud.v1.ServerService/GetServerInfo";
    const cases: Array<[string, string[], string]> = [
      ["PUT", [], "405"],
      ["POST", ["-H", "content-type: text/plain", "-d", "{}"], "415"],
      ["POST", ["-H", "content-type: application/json", "-d", "{not json"], "400"],
    ];
    for (const [method, extra, status] of cases) {
      const requestId = `rpc-path-${randomUUID()}`;
      const out = await curl(method, rpc, requestId, extra);
      expect(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1]).toBe(status);
      expect(out).not.toMatch(/at .*\.js/);
      const lines = logLinesOf(srv, requestId);
      expect([status, lines.length, lines[0]?.method, lines[0]?.reason]).toEqual([
        status,
        1,
        "engine.cloud.v1.ServerService/GetServerInfo",
        `HTTP_${status}`,
      ]);
    }
  });

  it("log one line for a gRPC call Connect refuses by itself (a malformed grpc-timeout)", async () => {
    const requestId = `grpc-timeout-${randomUUID()}`;
    const grpc = [
      "--http2-prior-knowledge",
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      "-H",
      "grpc-timeout: soon",
    ];
    const body = path.join(mkdtempSync(path.join(tmpdir(), "plain-http-")), "empty-message.bin");
    writeFileSync(body, Buffer.alloc(5)); // one empty message: the 5-byte gRPC frame header alone
    const out = await curl("POST", "/engine.cloud.v1.ServerService/GetServerInfo", requestId, [
      ...grpc,
      "--data-binary",
      `@${body}`,
    ]);
    expect(out).toMatch(/grpc-status: 3/);
    const lines = logLinesOf(srv, requestId);
    expect([lines.length, lines[0]?.protocol, lines[0]?.reason]).toEqual([1, "grpc", "PROTOCOL_ERROR"]);
  });

  it("still log a call the interceptors take exactly once", async () => {
    const requestId = `taken-${randomUUID()}`;
    await curl("POST", "/engine.cloud.v1.ServerService/GetServerInfo", requestId, [
      "-H",
      "content-type: application/json",
      "-d",
      "{}",
    ]);
    const lines = logLinesOf(srv, requestId);
    expect([lines.length, lines[0]?.code]).toEqual([1, "OK"]);
  });
});
