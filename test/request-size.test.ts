import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { toBinary, create } from "@bufbuild/protobuf";
import { CredentialType, TokenKind, WatchRequestSchema } from "@engine-cloud/api";
import { createCloudClient, type CloudClientOptions } from "@engine-cloud/sdk/node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { envelope, h2GrpcCall, http1GrpcWebCall, type RawOutcome } from "./support/raw-wire.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, type ServerProcess } from "./support/test-server.js";

const run = promisify(execFile);

// Small, so an oversized message is cheap to send; the default (1 MiB) is checked in config.test.ts.
const LIMIT = 64 * 1024;
const WHO_AM_I = "/engine.cloud.v1.AuthService/WhoAmI";
const WATCH = "/engine.cloud.v1.SyncService/Watch";

let server: ServerProcess;
let database: TestDatabase;
const adminToken = randomSeedToken();
let runtimeToken: string;
let bomb: Buffer;
let bombFile: string;

beforeAll(async () => {
  database = await createTestDatabase();
  server = await spawnServerProcess({
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    ENGINE_CLOUD_MAX_MESSAGE_BYTES: String(LIMIT),
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
  });
  const admin = createCloudClient({ baseUrl: server.url, token: adminToken });
  runtimeToken = (await admin.tokens.createToken({ label: "size-tests", kind: TokenKind.RUNTIME })).secret;
  bomb = await gzipOfZeros(256);
  bombFile = path.join(database.dataDir, "bomb.gz");
  writeFileSync(bombFile, bomb);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

/** gzip of `mib` MiB of zero bytes, made a MiB at a time: about 1 KiB of gzip per MiB it decodes to. */
async function gzipOfZeros(mib: number): Promise<Buffer> {
  const gzip = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on("data", (c: Buffer) => out.push(c));
  const done = new Promise((resolve) => gzip.on("end", resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib; i++) if (!gzip.write(zeros)) await new Promise((r) => gzip.once("drain", r));
  gzip.end();
  await done;
  return Buffer.concat(out);
}

/** The server process's resident memory now (VmRSS), in MiB. */
function rssMiB(): number {
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Samples the server's resident memory while `work` runs; resolves to the highest sample. */
async function peakRssDuring(work: () => Promise<void>): Promise<number> {
  let peak = rssMiB();
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB())), 5);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, rssMiB());
}

const SDK_PROTOCOLS: Array<[string, Partial<CloudClientOptions>]> = [
  ["Connect over HTTP/1.1", { protocol: "connect", httpVersion: "1.1" }],
  ["Connect over HTTP/2", { protocol: "connect", httpVersion: "2" }],
  ["gRPC", { protocol: "grpc" }],
  ["gRPC-Web over HTTP/1.1", { protocol: "grpc-web", httpVersion: "1.1" }],
  ["gRPC-Web over HTTP/2", { protocol: "grpc-web", httpVersion: "2" }],
];

describe("message size", () => {
  it.each(SDK_PROTOCOLS)(
    "refuses a message over ENGINE_CLOUD_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED and MESSAGE_TOO_LARGE, before any credential check (%s)",
    async (_, options) => {
      const anonymous = createCloudClient({ baseUrl: server.url, ...options });
      const err = await failureOf(anonymous.projects.allowProject({ name: "x".repeat(LIMIT + 1) }));
      expect([err.codeName, err.reason, err.metadata.limit_bytes]).toEqual([
        "resource_exhausted",
        "MESSAGE_TOO_LARGE",
        String(LIMIT),
      ]);
    },
  );

  it("refuses a length prefix over the limit at once, without waiting for the payload it announces", async () => {
    const outcome = await h2GrpcCall(server.url, WHO_AM_I, envelope(Buffer.alloc(0), { declaredLength: 0xffffffff }), {
      end: false,
    });
    expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE"]);
  });

  it("refuses an oversized length prefix on the Watch fast path the same way", async () => {
    const outcome = await h2GrpcCall(server.url, WATCH, envelope(Buffer.alloc(0), { declaredLength: LIMIT }), {
      end: false,
      headers: { authorization: `Bearer ${runtimeToken}` },
    });
    expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE"]);
  });

  it("refuses a body that ends inside its message with INVALID_ARGUMENT and TRUNCATED_MESSAGE", async () => {
    const outcome = await h2GrpcCall(server.url, WHO_AM_I, envelope(Buffer.from([1, 2, 3]), { declaredLength: 10 }));
    expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.INVALID_ARGUMENT, "TRUNCATED_MESSAGE"]);
  });

  it("refuses a Connect body whose content-length is over the limit, from curl", async () => {
    const { stdout } = await run("curl", [
      "-sS",
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      "--data-binary",
      `{"name":"${"x".repeat(LIMIT)}"}`,
      `${server.url}/engine.cloud.v1.ProjectService/AllowProject`,
    ]);
    const body = JSON.parse(stdout);
    expect(body.code).toBe("resource_exhausted");
    expect(JSON.stringify(body.details)).toContain("MESSAGE_TOO_LARGE");
  });
});

describe("errors about long input", () => {
  it("answers a 60,000-character key name with INVALID_ARGUMENT and a clipped message, and the gRPC connection carries on", async () => {
    // The field path names the map key: unclipped, it made a trailer block HTTP/2 could not carry, and the
    // connection failed with every call on it (found by the generated-input suite).
    const runtime = createCloudClient({ baseUrl: server.url, token: runtimeToken, protocol: "grpc" });
    const longName = "k".repeat(60_000);
    const err = await failureOf(
      runtime.credentials.putCredential({ provider: "p", type: CredentialType.API_KEY, keys: { [longName]: { value: "v" } } }),
    );
    expect([err.codeName, err.reason]).toEqual(["invalid_argument", "INVALID_ARGUMENT"]);
    expect(Array.from(err.message).length).toBeLessThanOrEqual(512);
    expect(Array.from(err.field ?? "").length).toBeLessThanOrEqual(512);
    expect(err.field).toMatch(/^keys\["k+…$/);
    // The same client, the same HTTP/2 connection: still answering.
    expect((await runtime.auth.whoAmI({})).principalType).toBe("token");
  });
});

describe("request compression", () => {
  it("refuses gzip bombs over Connect, gRPC, gRPC-Web and the Watch fast path with UNIMPLEMENTED and COMPRESSION_UNSUPPORTED, and the server's memory does not grow", async () => {
    // Warm every path first, so the peak measured below is the bombs' alone.
    await h2GrpcCall(server.url, WHO_AM_I, envelope(Buffer.alloc(0)));
    const before = rssMiB();
    let stdout = "";
    const outcomes: RawOutcome[] = [];
    const gzipped = envelope(bomb, { flags: 1 });
    const peak = await peakRssDuring(async () => {
      ({ stdout } = await run("curl", [
        "-sS",
        "-X",
        "POST",
        "-H",
        "content-type: application/proto",
        "-H",
        "content-encoding: gzip",
        "--data-binary",
        `@${bombFile}`,
        `${server.url}${WHO_AM_I}`,
      ]));
      outcomes.push(await h2GrpcCall(server.url, WHO_AM_I, gzipped, { headers: { "grpc-encoding": "gzip" } }));
      outcomes.push(await http1GrpcWebCall(server.url, WHO_AM_I, gzipped, { "grpc-encoding": "gzip" }));
      outcomes.push(
        await h2GrpcCall(server.url, WATCH, gzipped, {
          headers: { "grpc-encoding": "gzip", authorization: `Bearer ${runtimeToken}` },
        }),
      );
    });
    // Each bomb decodes to 256 MiB; before the fix one raised resident memory by more than that.
    expect(peak - before).toBeLessThan(64);

    const connect = JSON.parse(stdout);
    expect(connect.code).toBe("unimplemented");
    expect(JSON.stringify(connect.details)).toContain("COMPRESSION_UNSUPPORTED");
    for (const outcome of outcomes) {
      expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.UNIMPLEMENTED, "COMPRESSION_UNSUPPORTED"]);
    }
  });

  it.each([
    ["a unary call", WHO_AM_I],
    ["the Watch fast path", WATCH],
  ])(
    "refuses a compressed envelope sent without any encoding header with COMPRESSION_UNSUPPORTED, never INTERNAL (%s)",
    async (_, rpc) => {
      const request = toBinary(WatchRequestSchema, create(WatchRequestSchema, { project: "p" }));
      const outcome = await h2GrpcCall(server.url, rpc, envelope(Buffer.from(request), { flags: 1 }), {
        headers: { authorization: `Bearer ${runtimeToken}` },
      });
      expect([outcome.grpcStatus, outcome.reason]).toEqual([grpc.status.UNIMPLEMENTED, "COMPRESSION_UNSUPPORTED"]);
    },
  );
});
