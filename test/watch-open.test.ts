import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Role } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { errorInfoReasonOf } from "./support/grpc-status.js";
import { openRawWatch, RAW_WATCH_PATHS, type RawWatch } from "./support/raw-watch.js";
import { addPerson, FAST_PASSWORD_HASH } from "./support/test-people.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { clientOf, createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { changeOf, isCaughtUp, recordWatch } from "./support/watch-recorder.js";

const run = promisify(execFile);
const PROJECT = "p1";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ env: FAST_PASSWORD_HASH });
});
afterAll(() => srv?.stop());

/** Polls a call with the credential until the server refuses it: the revocation has reached this server. */
async function refusalOnceEffective(runtime: CloudClient) {
  for (let i = 0; i < 200; i++) {
    try {
      await runtime.sync.pull({ project: PROJECT });
    } catch (err) {
      return failureOf(Promise.reject(err));
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the credential was never refused");
}

/** A tenant with a secret in project p1, and a credential of it that can watch p1. */
interface Watched {
  tenant: TestTenant;
  secret: string;
  token: string;
}

async function watchedTenant(): Promise<Watched> {
  const tenant = await createTestTenant(srv, { allow: [PROJECT] });
  const secret = uniqueSecret();
  await putApiKey(tenant.admin, { project: PROJECT, provider: "held-back" }, secret);
  return { tenant, secret, token: (await tenant.token()).secret };
}

/** Ways access is taken away, each with the reason a stream must end with. */
const REVOCATIONS: Array<{ what: string; reason: string; take: (w: Watched) => Promise<unknown>; member?: boolean }> = [
  { what: "its token is revoked", reason: "TOKEN_REVOKED", take: revokeToken },
  {
    what: "its tenant is suspended",
    reason: "TENANT_SUSPENDED",
    take: (w) => srv.admin().tenants.suspendTenant({ tenant: w.tenant.slug }),
  },
  { what: "its member is removed", reason: "MEMBERSHIP_REMOVED", take: removeMember, member: true },
];

const userIds = new Map<string, string>();
const tokenIds = new Map<string, string>();

async function revokeToken(w: Watched) {
  await w.tenant.admin.tokens.revokeToken({ id: tokenIds.get(w.token)! });
}
async function removeMember(w: Watched) {
  await w.tenant.admin.users.removeMember({ userId: userIds.get(w.token)! });
}

describe.each(RAW_WATCH_PATHS)("a Watch whose request body arrives after its access was taken away, on the %s", (watchPath) => {
  it.each(REVOCATIONS)("never sends a secret when $what, and ends with $reason", async ({ reason, take, member }) => {
    const w = await watchedTenant();
    if (member) {
      const person = await addPerson(srv, w.tenant.admin, Role.ADMIN);
      w.token = person.token;
      userIds.set(person.token, person.userId);
    } else {
      const { id, secret } = await w.tenant.token();
      w.token = secret;
      tokenIds.set(secret, id);
    }
    const watch: RawWatch = openRawWatch(srv.url, w.token, watchPath);
    try {
      // The headers passed the access check; now take the access away, and only then send the body.
      await new Promise((r) => setTimeout(r, 100));
      await take(w);
      const refusal = await refusalOnceEffective(clientOf(srv, w.token));
      expect(refusal.reason).toBe(reason);
      watch.sendBody({ project: PROJECT });
      const ended = await Promise.race([watch.ended, new Promise((r) => setTimeout(() => r("still open after 5 s"), 5000))]);
      expect(watch.received().includes(w.secret), "the stream delivered the secret").toBe(false);
      expect(watch.messages).toBe(0);
      expect(ended).toEqual({ codeName: refusal.codeName, reason });
    } finally {
      watch.close();
    }
  });

  it("still serves a Watch whose body comes late but within the deadline", async () => {
    const w = await watchedTenant();
    const watch = openRawWatch(srv.url, w.token, watchPath);
    try {
      await new Promise((r) => setTimeout(r, 300));
      watch.sendBody({ project: PROJECT });
      await until(() => watch.received().includes(w.secret));
    } finally {
      watch.close();
    }
  });
});

describe("a Watch whose request body never arrives", () => {
  let quick: TestServer;
  beforeAll(async () => {
    quick = await startTestServer({ env: { ENGINE_CLOUD_WATCH_BODY_TIMEOUT_MS: "500" } });
  });
  afterAll(() => quick?.stop());

  it.each(RAW_WATCH_PATHS)("ends on the %s with DEADLINE_EXCEEDED and reason REQUEST_BODY_TIMEOUT", async (path) => {
    const tenant = await createTestTenant(quick, { allow: [PROJECT] });
    const watch = openRawWatch(quick.url, (await tenant.token()).secret, path);
    try {
      const ended = await withTimeout(watch.ended, 5000);
      expect(ended).toEqual({ codeName: "deadline_exceeded", reason: "REQUEST_BODY_TIMEOUT" });
    } finally {
      watch.close();
    }
  });
});

describe("repeated authorization headers", () => {
  /** Two valid tokens of two tenants: whichever one a layer picked, the call would succeed. */
  async function twoCredentials() {
    const [a, b] = [await watchedTenant(), await watchedTenant()];
    return ["-H", `authorization: Bearer ${a.token}`, "-H", `authorization: Bearer ${b.token}`];
  }
  // No body: the credential is checked on the headers, and a server answering before it read an
  // upload may reset the stream under curl.
  const curlPost = async (url: string, args: string[]) => (await run("curl", ["-sS", "-X", "POST", ...args, url])).stdout;
  const WATCH_URL = () => `${srv.url}/engine.cloud.v1.SyncService/Watch`;

  it("are refused on the fast path (gRPC) with UNAUTHENTICATED and reason AUTHORIZATION_REPEATED", async () => {
    const out = await curlPost(WATCH_URL(), [
      "--http2-prior-knowledge",
      "-D",
      "-",
      "-o",
      "/dev/null",
      "-H",
      "content-type: application/grpc+proto",
      "-H",
      "te: trailers",
      ...(await twoCredentials()),
    ]);
    expect(out).toMatch(/grpc-status: 16\r?\n/);
    const details = /grpc-status-details-bin: (\S+)/.exec(out)?.[1] ?? "";
    expect(errorInfoReasonOf(Buffer.from(details, "base64"))).toBe("AUTHORIZATION_REPEATED");
  });

  it.each(["1.1", "2"])("are refused on the generic path (Connect JSON over HTTP/%s) with the same reason", async (version) => {
    const out = await curlPost(WATCH_URL(), [
      version === "2" ? "--http2-prior-knowledge" : "--http1.1",
      "-H",
      "content-type: application/connect+json",
      ...(await twoCredentials()),
    ]);
    expect(out).toContain('"code":"unauthenticated"');
    expect(out).toContain('"reason":"AUTHORIZATION_REPEATED"');
  });

  it("are refused on unary calls too", async () => {
    const out = await curlPost(`${srv.url}/engine.cloud.v1.CredentialService/ListCredentials`, [
      "-H",
      "content-type: application/json",
      ...(await twoCredentials()),
      "-d",
      "{}",
    ]);
    expect(JSON.parse(out)).toMatchObject({ code: "unauthenticated" });
    expect(out).toContain('"reason":"AUTHORIZATION_REPEATED"');
  });
});

describe("a credential that cannot be decrypted", () => {
  it("is left out of the catch-up of Watch (both paths) and Pull, and the others arrive", async () => {
    const tenant = await createTestTenant(srv, { allow: [PROJECT] });
    const good = await putApiKey(tenant.admin, { project: PROJECT, provider: "good" }, uniqueSecret());
    const bad = await putApiKey(tenant.admin, { project: PROJECT, provider: "tampered" }, uniqueSecret());
    const after = await putApiKey(tenant.admin, { project: PROJECT, provider: "good-too" }, uniqueSecret());
    // Flip the last byte of the sealed secrets (the AES-GCM tag): it no longer opens.
    await sql`UPDATE credentials SET sealed_keys = set_byte(sealed_keys, length(sealed_keys) - 1, get_byte(sealed_keys, length(sealed_keys) - 1) # 1) WHERE id = ${bad.id}`.execute(
      srv.server.app.storage.db,
    );
    const runtime = clientOf(srv, (await tenant.token()).secret);

    const pulled = await runtime.sync.pull({ project: PROJECT });
    const ids = pulled.events.flatMap((e) => (e.event.case === "upsert" ? [e.event.value.id] : []));
    expect(ids).toEqual(expect.arrayContaining([good.id, after.id]));
    expect(ids).not.toContain(bad.id);

    for (const options of [{}, { timeoutMs: 60_000 }]) {
      const watch = recordWatch(runtime, { project: PROJECT }, options);
      try {
        await watch.until(isCaughtUp);
        expect(watch.events.some(changeOf(good.id)) && watch.events.some(changeOf(after.id))).toBe(true);
        expect(watch.events.some(changeOf(bad.id))).toBe(false);
      } finally {
        await watch.close();
      }
    }
    const logged = srv.logs.map((l) => JSON.parse(l)).find((l) => l.credential === bad.id);
    expect(logged).toMatchObject({
      level: "error",
      msg: "a credential could not be decrypted and was not sent",
      tenant: tenant.id,
    });
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))]);
}
