import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { create, getOption, toBinary, toJsonString, type DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { secret_bearing, WatchRequestSchema } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fullMethodName, SDK_API_METHODS } from "./support/api-descriptors.js";
import { buildValidRequest } from "./support/request-builder.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);

/** Driven by the proto: an RPC declared secret-bearing later is swept by every test here. */
const SECRET_BEARING = SDK_API_METHODS.filter((m) => getOption(m, secret_bearing));
const servedOverGet = (m: DescMethod) =>
  m.methodKind === "unary" && m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;

/** What curl saw: the HTTP status, the response headers (lower-cased names) and the body. */
interface CurlResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/**
 * Runs curl with `-i` and splits its answer. A stream that stays open is cut
 * after `maxSeconds`; what arrived by then is the answer.
 */
async function curl(args: string[], maxSeconds = 20): Promise<CurlResponse> {
  const out = await run("curl", ["-sS", "-i", "-m", String(maxSeconds), ...args], { encoding: "latin1" }).then(
    (r) => r.stdout,
    (e: { code?: number; stdout?: string }) => {
      if (e.code === 28 && e.stdout) return e.stdout; // cut by -m: a stream still open
      throw e;
    },
  );
  const end = out.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = out.slice(0, end).split("\r\n");
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return { status: Number(statusLine.split(" ")[1]), headers, body: out.slice(end + 4) };
}

/** A length-prefixed message, as Connect and gRPC-Web streams frame it. */
function envelope(message: Uint8Array): Buffer {
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, 5);
  return framed;
}

describe("secret-bearing reads", () => {
  let srv: TestServer;
  let tenant: TestTenant;
  let secret: string;
  let credentialId: string;
  const dir = mkdtempSync(path.join(tmpdir(), "secret-reads-"));
  const url = (m: DescMethod) => `${srv.url}/${fullMethodName(m)}`;
  const auth = () => ["-H", `authorization: Bearer ${srv.adminToken}`, "-H", `engine-tenant: ${tenant.slug}`];

  /** A Connect call of any method from its descriptor alone: unary JSON, or a server stream of one JSON message. */
  const connectPost = (m: DescMethod, json: string, headers: string[] = auth()) => {
    if (m.methodKind === "unary") {
      return curl(["-X", "POST", "-H", "content-type: application/json", ...headers, "--data-binary", json, url(m)]);
    }
    const body = path.join(dir, `${m.name}-${randomUUID()}.bin`);
    writeFileSync(body, envelope(Buffer.from(json)));
    return curl(
      ["-X", "POST", "-H", "content-type: application/connect+json", ...headers, "--data-binary", `@${body}`, url(m)],
      3,
    );
  };
  const connectGet = (m: DescMethod, json: string, headers: string[] = auth()) =>
    curl(["-G", ...headers, "--data-urlencode", "encoding=json", "--data-urlencode", `message=${json}`, url(m)]);
  const getCredential = SDK_API_METHODS.find((m) => fullMethodName(m) === "engine.cloud.v1.CredentialService/GetCredential")!;

  beforeAll(async () => {
    srv = await startTestServer();
    tenant = await createTestTenant(srv, { allow: ["p1"] });
    secret = uniqueSecret();
    credentialId = (await putApiKey(tenant.admin, { provider: "openai" }, secret)).id;
  }, 90_000);
  afterAll(() => srv?.stop());

  it("are declared on exactly the RPCs that return credential secrets or a token or code shown once", () => {
    expect(SECRET_BEARING.map(fullMethodName).sort()).toEqual([
      "engine.cloud.v1.AuthService/CompleteSetup",
      "engine.cloud.v1.AuthService/Login",
      "engine.cloud.v1.AuthService/SwitchTenant",
      // The authorization URL carries the connect flow's single-use state.
      "engine.cloud.v1.ConnectionService/StartConnect",
      "engine.cloud.v1.CredentialService/GetCredential",
      "engine.cloud.v1.CredentialService/PutCredential",
      "engine.cloud.v1.SyncService/Pull",
      "engine.cloud.v1.SyncService/RefreshCredential",
      "engine.cloud.v1.SyncService/Watch",
      "engine.cloud.v1.TokenService/CreateToken",
      "engine.cloud.v1.UserService/InviteUser",
    ]);
  });

  it("refuse GetCredential over a Connect GET before the credential check or the handler runs", async () => {
    const requestId = `get-refused-${randomUUID()}`;
    const res = await connectGet(getCredential, JSON.stringify({ id: credentialId }), [
      ...auth(),
      "-H",
      `x-request-id: ${requestId}`,
    ]);
    expect(res.body).not.toContain(secret);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: "invalid_argument" });
    expect(res.body).toContain("HTTP_GET_NOT_ALLOWED");
    expect(res.body).not.toMatch(/at .*\.js/);
    expect(res.headers.get("cache-control")).toBe("no-store");
    // The one log line of the call: refused, and no caller recorded, so the access check (and the handler after it) never ran.
    const line = JSON.parse(srv.logs.find((l) => l.includes(`"request_id":"${requestId}"`))!);
    expect(line).toMatchObject({
      method: "engine.cloud.v1.CredentialService/GetCredential",
      code: "InvalidArgument",
      reason: "HTTP_GET_NOT_ALLOWED",
    });
    expect(line.token_id).toBeUndefined();
  });

  it("answer GetCredential over POST with the secret and cache-control: no-store", async () => {
    const res = await connectPost(getCredential, JSON.stringify({ id: credentialId }));
    expect(res.status).toBe(200);
    expect(res.body).toContain(secret);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("are never answered over a Connect GET, every one of them", async () => {
    for (const m of SECRET_BEARING) {
      const res = await connectGet(
        m,
        toJsonString(
          m.input,
          buildValidRequest(m.input, () => undefined),
        ),
      );
      // The NO_SIDE_EFFECTS unary ones are refused by us, typed; Connect itself serves no other method over GET (405, 415).
      const outcome = servedOverGet(m)
        ? `${res.status} ${/HTTP_GET_NOT_ALLOWED/.exec(res.body)?.[0]}`
        : res.status >= 400 && res.status < 500;
      expect([fullMethodName(m), outcome]).toEqual([fullMethodName(m), servedOverGet(m) ? "400 HTTP_GET_NOT_ALLOWED" : true]);
    }
  });

  it("mark every response of every one of them cache-control: no-store, whatever the outcome", async () => {
    for (const m of SECRET_BEARING) {
      const res = await connectPost(
        m,
        toJsonString(
          m.input,
          buildValidRequest(m.input, () => undefined),
        ),
      );
      expect([fullMethodName(m), res.headers.get("cache-control")]).toEqual([fullMethodName(m), "no-store"]);
    }
  });

  it("mark the Pull that carries a secret cache-control: no-store", async () => {
    const pull = SDK_API_METHODS.find((m) => fullMethodName(m) === "engine.cloud.v1.SyncService/Pull")!;
    const res = await connectPost(pull, JSON.stringify({ project: "p1" }));
    expect([res.status, res.body.includes(secret), res.headers.get("cache-control")]).toEqual([200, true, "no-store"]);
  });

  it("mark a Watch stream carrying a secret cache-control: no-store, on the binary fast path and the generic path", async () => {
    const watch = SDK_API_METHODS.find((m) => fullMethodName(m) === "engine.cloud.v1.SyncService/Watch")!;
    // Binary gRPC-Web without a deadline: the fast path (transport/sync-fast-path.ts).
    const body = path.join(dir, "watch.bin");
    writeFileSync(body, envelope(toBinary(WatchRequestSchema, create(WatchRequestSchema, { project: "p1" }))));
    const fast = await curl(
      ["-X", "POST", "-H", "content-type: application/grpc-web+proto", ...auth(), "--data-binary", `@${body}`, url(watch)],
      3,
    );
    // Connect JSON: the generic path (services/sync-service.ts).
    const generic = await connectPost(watch, JSON.stringify({ project: "p1" }));
    for (const res of [fast, generic]) {
      expect([res.status, res.body.includes(secret), res.headers.get("cache-control")]).toEqual([200, true, "no-store"]);
    }
  }, 30_000);

  it("mark a one-time token cache-control: no-store when CreateToken returns it", async () => {
    const createToken = SDK_API_METHODS.find((m) => fullMethodName(m) === "engine.cloud.v1.TokenService/CreateToken")!;
    const res = await connectPost(createToken, JSON.stringify({ label: "no-store", kind: "TOKEN_KIND_RUNTIME" }));
    expect([res.status, JSON.parse(res.body).secret?.slice(0, 4), res.headers.get("cache-control")]).toEqual([
      200,
      "ecr_",
      "no-store",
    ]);
  });

  it("leave non-secret reads served over GET as Connect serves them", async () => {
    const info = SDK_API_METHODS.find((m) => fullMethodName(m) === "engine.cloud.v1.ServerService/GetServerInfo")!;
    const res = await connectGet(info, "{}", []);
    expect([res.status, res.headers.get("cache-control")]).toEqual([200, undefined]);
  });
});
