import * as net from "node:net";
import { CredentialType, TokenKind } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { randomSeedToken, spawnServerProcess, type ServerProcess } from "./support/test-server.js";
import { createWireClient, envelope, protocolHeaders, type WireClient, type WireProtocol } from "./support/wire-call.js";

// Requests connect-es refuses itself, before any interceptor or service code sees them: a
// message that does not decode, a bad timeout header, a unary call with no message or two,
// a Connect GET the library cannot read. Each must come back typed, with the ErrorInfo
// reason every other error carries, in every protocol; never INTERNAL.

const LOGOUT = "/engine.cloud.v1.AuthService/Logout";
const GET_PROJECT = "/engine.cloud.v1.ProjectService/GetProject";
const GET_SERVER_INFO = "/engine.cloud.v1.ServerService/GetServerInfo";
const WATCH = "/engine.cloud.v1.SyncService/Watch";
const BINARY: WireProtocol[] = ["connect-proto", "grpc", "grpc-web"];
const ENVELOPED: WireProtocol[] = ["grpc", "grpc-web"];

/** Field 1490 with wire type 7, which does not exist: not protobuf at all. */
const ILLEGAL_TAG = Buffer.from("975d7d", "hex");
/** GetProjectRequest.name (field 1) holding the bytes C3 28: not UTF-8. */
const INVALID_UTF8 = Buffer.from("0a02c328", "hex");
/** WatchRequest { project: "p", runtime_id (field 3): bytes F4 90 80 80, past U+10FFFF }. */
const WATCH_INVALID_UTF8 = Buffer.from("0a01701a04f4908080", "hex");

let server: ServerProcess;
let database: TestDatabase;
let wire: WireClient;
let runtimeToken: string;
let adminToken: string;

beforeAll(async () => {
  database = await createTestDatabase();
  adminToken = randomSeedToken();
  server = await spawnServerProcess({
    ENGINE_CLOUD_TOKEN: adminToken,
    ENGINE_CLOUD_DATA_DIR: database.dataDir,
    // Keep-alive connections (fetch's, the SDK's) would hold the stop for the default grace.
    ENGINE_CLOUD_SHUTDOWN_GRACE_MS: "1000",
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
  });
  const admin = createCloudClient({ baseUrl: server.url, token: adminToken });
  runtimeToken = (await admin.tokens.createToken({ label: "protocol-errors", kind: TokenKind.RUNTIME })).secret;
  wire = createWireClient(server.url, 1);
}, 60_000);
afterAll(async () => {
  wire?.close();
  await server?.stop();
  await database?.drop();
});

/** One call over HTTP/2 with the well-formed headers of `protocol` plus `headers`; `body` framed as the protocol frames it. */
async function call(
  protocol: WireProtocol,
  path: string,
  body: Uint8Array,
  {
    headers = {},
    streaming = false,
    framed = false,
  }: { headers?: Record<string, string>; streaming?: boolean; framed?: boolean } = {},
) {
  const enveloped = streaming || protocol === "grpc" || protocol === "grpc-web";
  const answer = await wire.call(
    protocol,
    streaming,
    {
      path,
      headers: { ...protocolHeaders(protocol, streaming), ...headers },
      body: enveloped && !framed ? envelope(body) : body,
    },
    10_000,
  );
  if (answer === "timeout") throw new Error(`no answer to ${path} over ${protocol}`);
  return answer;
}

const codeAndReason = (a: { code: string; reason?: string }) => [a.code, a.reason];

describe("a request message that does not decode", () => {
  it.each(BINARY)("is INVALID_ARGUMENT with MALFORMED_MESSAGE when it is not protobuf at all (%s)", async (protocol) => {
    expect(codeAndReason(await call(protocol, LOGOUT, ILLEGAL_TAG))).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
  });

  it.each(BINARY)("is INVALID_ARGUMENT with MALFORMED_MESSAGE when a string field is not UTF-8 (%s)", async (protocol) => {
    const answer = await call(protocol, GET_PROJECT, INVALID_UTF8);
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
    expect(answer.message).toContain("not valid protobuf binary");
  });

  it.each(BINARY)("is INVALID_ARGUMENT with MALFORMED_MESSAGE for a Watch on the sync fast path (%s)", async (protocol) => {
    const headers = { authorization: `Bearer ${runtimeToken}` };
    const answer = await call(protocol, WATCH, WATCH_INVALID_UTF8, { headers, streaming: true });
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
  });

  it.each<[WireProtocol, Record<string, string>]>([
    ["connect-proto", { "connect-timeout-ms": "10000" }],
    ["grpc", { "grpc-timeout": "10S" }],
    ["grpc-web", { "grpc-timeout": "10S" }],
  ])(
    "is INVALID_ARGUMENT with MALFORMED_MESSAGE for a Watch on the generic path (%s, with a deadline)",
    async (protocol, deadline) => {
      const headers = { authorization: `Bearer ${runtimeToken}`, ...deadline };
      const answer = await call(protocol, WATCH, WATCH_INVALID_UTF8, { headers, streaming: true });
      expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
    },
  );

  it.each<[string, string]>([
    ["not JSON", '{"name":'],
    ["a duplicate key", '{"name":"a","name":"b"}'],
    ["a value of the wrong type", '{"name":1}'],
    ["a lone surrogate", '{"name":"a\\ud83db"}'],
    ["not an object", "[1]"],
  ])("is INVALID_ARGUMENT with MALFORMED_MESSAGE when the JSON is %s (connect-json)", async (_, json) => {
    const answer = await call("connect-json", GET_PROJECT, Buffer.from(json));
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
  });

  it("is INVALID_ARGUMENT with MALFORMED_MESSAGE when a JSON integer is out of range (connect-json)", async () => {
    const answer = await call(
      "connect-json",
      "/engine.cloud.v1.ProjectService/ListProjects",
      Buffer.from('{"pageSize":4294967296}'),
    );
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
  });

  it("is INVALID_ARGUMENT with MALFORMED_MESSAGE for a Watch whose JSON does not decode (connect-json stream)", async () => {
    const headers = { authorization: `Bearer ${runtimeToken}` };
    const answer = await call("connect-json", WATCH, Buffer.from('{"project":'), { headers, streaming: true });
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "MALFORMED_MESSAGE"]);
  });
});

describe("a unary call with the wrong number of messages", () => {
  it.each(ENVELOPED)("is UNIMPLEMENTED (gRPC's code for it) with WRONG_MESSAGE_COUNT when it has none (%s)", async (protocol) => {
    const answer = await call(protocol, GET_SERVER_INFO, new Uint8Array(), { framed: true });
    expect(codeAndReason(answer)).toEqual(["unimplemented", "WRONG_MESSAGE_COUNT"]);
  });

  it.each(ENVELOPED)("is UNIMPLEMENTED with WRONG_MESSAGE_COUNT when it has two (%s)", async (protocol) => {
    const two = Buffer.concat([envelope(new Uint8Array()), envelope(new Uint8Array())]);
    const answer = await call(protocol, GET_SERVER_INFO, two, { framed: true });
    expect(codeAndReason(answer)).toEqual(["unimplemented", "WRONG_MESSAGE_COUNT"]);
  });
});

describe("a timeout header that is not a timeout", () => {
  it.each<[WireProtocol, Record<string, string>]>([
    ["connect-json", { "connect-timeout-ms": "abc" }],
    ["connect-proto", { "connect-timeout-ms": "-1" }],
    ["grpc", { "grpc-timeout": "1Z" }],
    ["grpc-web", { "grpc-timeout": "" }],
  ])("is INVALID_ARGUMENT with BAD_TIMEOUT (%s %j)", async (protocol, headers) => {
    const body = protocol === "connect-json" ? Buffer.from("{}") : new Uint8Array();
    const answer = await call(protocol, GET_SERVER_INFO, body, { headers });
    expect(codeAndReason(answer)).toEqual(["invalid_argument", "BAD_TIMEOUT"]);
  });
});

describe("compressed requests (transport's refusal, on every protocol)", () => {
  it.each(ENVELOPED)(
    "refuses a compressed flag without an encoding with UNIMPLEMENTED and COMPRESSION_UNSUPPORTED (%s)",
    async (protocol) => {
      const answer = await call(protocol, GET_SERVER_INFO, envelope(Buffer.from("garbage"), 1), { framed: true });
      expect(codeAndReason(answer)).toEqual(["unimplemented", "COMPRESSION_UNSUPPORTED"]);
    },
  );

  it.each<[WireProtocol, Record<string, string>]>([
    ["connect-proto", { "content-encoding": "gzip" }],
    ["grpc", { "grpc-encoding": "br" }],
    ["grpc-web", { "grpc-encoding": "gzip" }],
  ])("refuses garbage declared as compressed with UNIMPLEMENTED and COMPRESSION_UNSUPPORTED (%s)", async (protocol, headers) => {
    const body = protocol === "connect-proto" ? Buffer.from("garbage") : envelope(Buffer.from("garbage"), 1);
    const answer = await call(protocol, GET_SERVER_INFO, body, { headers, framed: true });
    expect(codeAndReason(answer)).toEqual(["unimplemented", "COMPRESSION_UNSUPPORTED"]);
  });
});

describe("Connect GET requests connect-es cannot read", () => {
  const get = async (query: string) => {
    const res = await fetch(`${server.url}${GET_SERVER_INFO}?connect=v1&${query}`);
    const body = (await res.json()) as { code: string; details?: Array<{ debug?: { reason?: string } }> };
    return [res.status, body.code, body.details?.[0]?.debug?.reason];
  };

  it("refuses a compression parameter with UNIMPLEMENTED and COMPRESSION_UNSUPPORTED", async () => {
    expect(await get("encoding=json&message=%7B%7D&compression=gzip")).toEqual([501, "unimplemented", "COMPRESSION_UNSUPPORTED"]);
  });

  it("refuses a message that is not base64 with INVALID_ARGUMENT and MALFORMED_MESSAGE", async () => {
    expect(await get("encoding=proto&base64=1&message=***")).toEqual([400, "invalid_argument", "MALFORMED_MESSAGE"]);
  });

  it("refuses a JSON message that does not decode with INVALID_ARGUMENT and MALFORMED_MESSAGE", async () => {
    expect(await get("encoding=json&message=%7B")).toEqual([400, "invalid_argument", "MALFORMED_MESSAGE"]);
  });
});

describe("a Host header no URL can hold", () => {
  it("is answered 400 over HTTP/1.1, and the server goes on serving", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1", () =>
        socket.write(
          `POST ${GET_SERVER_INFO} HTTP/1.1\r\nHost: a b\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`,
        ),
      );
      let text = "";
      socket
        .on("data", (d) => (text += d))
        .on("end", () => resolve(text))
        .on("error", reject);
    });
    expect(answer.split("\r\n")[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect((await createCloudClient({ baseUrl: server.url }).server.getServerInfo({})).api).toBe("engine.cloud.v1");
  });
});

describe("a Timestamp past the end of Timestamp's range (found by the fuzz suite)", () => {
  // 10^17 seconds: a valid int64, but no Date can hold it (it used to become INTERNAL, "Invalid time value").
  const farFuture = { seconds: 10n ** 17n, nanos: 0 };
  const admin = () => createCloudClient({ baseUrl: server.url, token: adminToken, tenant: "default" });

  it("is INVALID_ARGUMENT naming the field in a credential key's expiry", async () => {
    const keys = { api_key: { value: "v", expiresAt: farFuture } };
    const failure = await failureOf(admin().credentials.putCredential({ provider: "far", type: CredentialType.API_KEY, keys }));
    expect([failure.codeName, failure.reason, failure.field]).toEqual([
      "invalid_argument",
      "INVALID_ARGUMENT",
      'keys["api_key"].expires_at',
    ]);
  });

  it("is INVALID_ARGUMENT naming the field in a token's expiry", async () => {
    const failure = await failureOf(admin().tokens.createToken({ label: "far", kind: TokenKind.SERVICE, expiresAt: farFuture }));
    expect([failure.codeName, failure.reason, failure.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "expires_at"]);
  });
});
