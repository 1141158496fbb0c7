import { Code } from "@connectrpc/connect";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Role, WatchRequestSchema } from "@engine-cloud/api";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { FAST_PASSWORD_HASH, uniqueEmail, uniquePassword } from "./support/test-people.js";
import { createTestTenant } from "./support/test-tenant.js";
import { createTestDatabase } from "./support/test-database.js";
import { randomSeedToken, startTestServer, type TestServer } from "./support/test-server.js";
import { createWireClient, envelope, protocolHeaders, type WireClient } from "./support/wire-call.js";

// The console's browser session over plain HTTP, as a browser would send it (the headers a browser sets are set
// by hand here; the browser suite checks that Chromium really sends them): the cookie Login sets, which requests
// may use it, and the first platform administrator's setup.

let srv: TestServer;
let wire: WireClient;
/** The platform administrator person CompleteSetup created, and the Set-Cookie it answered with. */
let adminPerson: { email: string; password: string; cookie: string };
const AUTH = "/engine.cloud.v1.AuthService";

beforeAll(async () => {
  srv = await startTestServer({ env: FAST_PASSWORD_HASH });
  wire = createWireClient(srv.url, 1);
  const code = srv.server.app.bootstrap.setupCode!;
  const email = uniqueEmail("first-admin");
  const password = uniquePassword();
  const res = await connect("CompleteSetup", { code, email, password, displayName: "First Admin", browserSession: true });
  expect(res.status).toBe(200);
  adminPerson = { email, password, cookie: cookiePair(res.setCookie[0]!) };
});
afterAll(async () => {
  wire?.close();
  await srv?.stop();
});

/** "ec_session=…" of a Set-Cookie value: what the browser sends back. */
const cookiePair = (setCookie: string) => setCookie.split(";", 1)[0]!;
const SAME_ORIGIN = { "sec-fetch-site": "same-origin" };

interface Answer {
  status: number;
  body: Record<string, unknown>;
  setCookie: string[];
  reason?: string;
}

/** A Connect JSON call of AuthService (or `path`), with the headers given: what the console's fetch sends. */
async function connect(method: string, message: object, headers: Record<string, string> = {}, path = AUTH): Promise<Answer> {
  const res = await fetch(`${srv.url}${path}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", ...headers },
    body: JSON.stringify(message),
  });
  return answerOf(res);
}

async function answerOf(res: Response): Promise<Answer> {
  const body = (await res.json()) as Record<string, unknown>;
  const details = (body.details as Array<{ type: string; value: string }> | undefined) ?? [];
  const info = details.find((d) => d.type === "google.rpc.ErrorInfo");
  const reason = info && fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason;
  return { status: res.status, body, setCookie: res.headers.getSetCookie(), reason };
}

/** Signs the admin person in with browser_session; returns the cookie pair. */
async function browserLogin(tenant = ""): Promise<string> {
  const res = await connect("Login", { email: adminPerson.email, password: adminPerson.password, tenant, browserSession: true });
  expect(res.status).toBe(200);
  return cookiePair(res.setCookie[0]!);
}

describe("Login with browser_session", () => {
  it("sets an HttpOnly, Lax, host-wide cookie for the session's lifetime and returns no token", async () => {
    const res = await connect("Login", { email: adminPerson.email, password: adminPerson.password, browserSession: true });
    expect(res.status).toBe(200);
    expect(res.body.sessionToken).toBeUndefined();
    expect(res.setCookie).toHaveLength(1);
    // Plain http to 127.0.0.1: Secure (and with it the __Host- prefix) is dropped so a browser keeps the cookie.
    expect(res.setCookie[0]).toMatch(/^ec_session=ecu_[A-Za-z0-9]+; Max-Age=(\d+); HttpOnly; SameSite=Lax; Path=\/$/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(res.setCookie[0]!)![1]);
    const session = res.body.session as { expiresAt: string };
    expect(Math.abs(Date.now() + maxAge * 1000 - Date.parse(session.expiresAt))).toBeLessThan(5_000);
  });

  it("without browser_session returns the token as before and sets no cookie", async () => {
    const res = await connect("Login", { email: adminPerson.email, password: adminPerson.password });
    expect(res.body.sessionToken).toMatch(/^ecu_/);
    expect(res.setCookie).toEqual([]);
  });
});

describe("which calls the cookie authenticates", () => {
  it("a same-origin Connect POST, as that session, and WhoAmI shows the session's expiry", async () => {
    const cookie = await browserLogin();
    const res = await connect("WhoAmI", {}, { cookie, ...SAME_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      principalType: "user",
      displayName: adminPerson.email,
      platformAdmin: true,
      browserSession: true,
    });
    const session = res.body.session as { id: string; idleExpiresAt: string; expiresAt: string };
    expect(session.id).toBe(res.body.sessionId);
    expect(Date.parse(session.idleExpiresAt)).toBeGreaterThan(Date.now());
    expect(Date.parse(session.expiresAt)).toBeGreaterThanOrEqual(Date.parse(session.idleExpiresAt));
  });

  it("without Sec-Fetch-Site, only with an Origin equal to the server's own", async () => {
    const cookie = await browserLogin();
    expect((await connect("WhoAmI", {}, { cookie, origin: srv.url })).status).toBe(200);
    const foreign = await connect("WhoAmI", {}, { cookie, origin: srv.url.replace("127.0.0.1", "localhost") });
    expect(foreign).toMatchObject({ status: 401, reason: "COOKIE_NOT_SAME_ORIGIN" });
    expect(await connect("WhoAmI", {}, { cookie })).toMatchObject({ status: 401, reason: "COOKIE_NOT_SAME_ORIGIN" });
  });

  it("never from another site or another origin of the same site", async () => {
    const cookie = await browserLogin();
    for (const fetchSite of ["cross-site", "same-site", "none"]) {
      const res = await connect("ListSessions", {}, { cookie, "sec-fetch-site": fetchSite, origin: srv.url });
      expect(res).toMatchObject({ status: 401, reason: "COOKIE_NOT_SAME_ORIGIN" });
    }
  });

  it("never on a cross-site Connect GET of a side-effect-free RPC (a link or an <img> on another site)", async () => {
    const cookie = await browserLogin();
    const url = `${srv.url}${AUTH}/WhoAmI?connect=v1&encoding=json&message=${encodeURIComponent("{}")}`;
    const crossSite = await answerOf(await fetch(url, { headers: { cookie, "sec-fetch-site": "cross-site" } }));
    expect(crossSite).toMatchObject({ status: 401, reason: "COOKIE_NOT_SAME_ORIGIN" });
    // The console's own GET works: the rule is about where the request came from, not the method.
    expect((await fetch(url, { headers: { cookie, ...SAME_ORIGIN } })).status).toBe(200);
  });

  it("never over gRPC or gRPC-Web, even marked same-origin", async () => {
    const cookie = await browserLogin();
    for (const protocol of ["grpc", "grpc-web"] as const) {
      const answer = await wire.call(
        protocol,
        false,
        {
          path: `${AUTH}/WhoAmI`,
          headers: { ...protocolHeaders(protocol, false), cookie, ...SAME_ORIGIN },
          body: envelope(new Uint8Array()),
        },
        10_000,
      );
      expect(answer).toMatchObject({ code: "unauthenticated", reason: "COOKIE_PROTOCOL_REFUSED" });
    }
  });

  it("an authorization header wins over the cookie", async () => {
    const cookie = await browserLogin();
    const tenant = await createTestTenant(srv);
    const token = await tenant.token();
    const res = await connect("WhoAmI", {}, { cookie, authorization: `Bearer ${token.secret}`, "sec-fetch-site": "cross-site" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ principalType: "token", principalId: token.id });
    expect(res.body.browserSession).toBeUndefined();
  });
});

/**
 * Opens SyncService.Watch as a Connect server stream (the console's live views are such streams) with `headers`,
 * and reads its frames until the stream ends or `ms` pass; `opened` resolves at the first frame.
 */
async function watchStream(codec: "json" | "proto", headers: Record<string, string>, ms = 10_000) {
  const message =
    codec === "json"
      ? new TextEncoder().encode(JSON.stringify({ project: WATCH_PROJECT }))
      : toBinary(WatchRequestSchema, create(WatchRequestSchema, { project: WATCH_PROJECT }));
  const body = envelope(message);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  const res = await fetch(`${srv.url}/engine.cloud.v1.SyncService/Watch`, {
    method: "POST",
    headers: { "content-type": `application/connect+${codec}`, "connect-protocol-version": "1", ...headers },
    body: Buffer.from(body),
    signal: abort.signal,
  });
  const frames: Array<{ flags: number; data: Buffer }> = [];
  let buffered = Buffer.alloc(0);
  let openedResolve = () => {};
  const opened = new Promise<void>((r) => (openedResolve = r));
  const reading = (async () => {
    try {
      for await (const chunk of res.body!) {
        buffered = Buffer.concat([buffered, Buffer.from(chunk)]);
        while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
          const len = buffered.readUInt32BE(1);
          frames.push({ flags: buffered[0]!, data: buffered.subarray(5, 5 + len) });
          buffered = buffered.subarray(5 + len);
          openedResolve();
        }
      }
    } catch {
      // aborted at the deadline
    } finally {
      clearTimeout(timer);
      openedResolve();
    }
  })();
  return { status: res.status, opened, frames, ended: reading };
}

const WATCH_PROJECT = "console-live";

describe("a Connect server stream on the cookie", () => {
  beforeAll(async () => {
    await srv.admin().projects.allowProject({ name: WATCH_PROJECT });
  });

  for (const codec of ["json", "proto"] as const) {
    it(`opens with the cookie, re-checks it, and ends when the session logs out (connect+${codec})`, async () => {
      const cookie = await browserLogin();
      const stream = await watchStream(codec, { cookie, ...SAME_ORIGIN });
      expect(stream.status).toBe(200);
      await stream.opened;
      // The first frames are the catch-up, not an end: the re-check before the first send passed on the cookie's token.
      expect(stream.frames.length).toBeGreaterThan(0);
      expect(stream.frames[0]!.flags & 0x02).toBe(0);
      const started = Date.now();
      expect((await connect("Logout", {}, { cookie, ...SAME_ORIGIN })).status).toBe(200);
      await stream.ended;
      expect(Date.now() - started).toBeLessThan(5_000);
      const end = stream.frames.at(-1)!;
      expect(end.flags & 0x02).toBe(0x02);
      expect(end.data.toString()).toMatch(/unauthenticated/);
    });
  }

  it("is refused cross-site before the stream opens", async () => {
    const cookie = await browserLogin();
    const stream = await watchStream("proto", { cookie, "sec-fetch-site": "cross-site" });
    await stream.ended;
    expect(stream.frames.at(-1)!.data.toString()).toMatch(/COOKIE_NOT_SAME_ORIGIN|unauthenticated/);
  });
});

describe("Logout and SwitchTenant on a cookie session", () => {
  it("Logout revokes the session on the server and clears the cookie", async () => {
    const cookie = await browserLogin();
    const res = await connect("Logout", {}, { cookie, ...SAME_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.setCookie).toEqual(["ec_session=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/"]);
    // A copy of the cookie kept by whoever stole it is dead too.
    expect(await connect("WhoAmI", {}, { cookie, ...SAME_ORIGIN })).toMatchObject({ status: 401, reason: "SESSION_REVOKED" });
  });

  it("SwitchTenant puts the new session in the cookie, not the body, and ends the old one", async () => {
    const tenant = await createTestTenant(srv);
    const { invitationCode } = await tenant.admin.users.inviteUser({ email: adminPerson.email, role: Role.VIEWER });
    await createCloudClient({ baseUrl: srv.url }).users.acceptInvitation({ invitationCode, password: adminPerson.password });
    const cookie = await browserLogin();
    const res = await connect("SwitchTenant", { tenant: tenant.slug }, { cookie, ...SAME_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.body.sessionToken).toBeUndefined();
    const next = cookiePair(res.setCookie[0]!);
    expect(next).not.toBe(cookie);
    const who = await connect("WhoAmI", {}, { cookie: next, ...SAME_ORIGIN });
    expect(who.body).toMatchObject({ tenantSlug: tenant.slug, role: "viewer", browserSession: true });
    expect(await connect("WhoAmI", {}, { cookie, ...SAME_ORIGIN })).toMatchObject({ status: 401, reason: "SESSION_REVOKED" });
  });

  it("SwitchTenant with a bearer session still answers with the token", async () => {
    const { sessionToken } = await createCloudClient({ baseUrl: srv.url }).auth.login({
      email: adminPerson.email,
      password: adminPerson.password,
    });
    const switched = await createCloudClient({ baseUrl: srv.url, token: sessionToken }).auth.switchTenant({ tenant: "default" });
    expect(switched.sessionToken).toMatch(/^ecu_/);
  });
});

describe("CompleteSetup", () => {
  it("made a platform administrator person who owns the operator tenant, with a verified email", async () => {
    const cookie = await browserLogin();
    const who = await connect("WhoAmI", {}, { cookie, ...SAME_ORIGIN });
    expect(who.body).toMatchObject({ platformAdmin: true, role: "owner", tenantSlug: "default" });
    const row = await srv.server.app.storage.db
      .selectFrom("users")
      .select(["platform_admin", "email_verified_at"])
      .where(sql<string>`lower(email)`, "=", adminPerson.email.toLowerCase())
      .executeTakeFirstOrThrow();
    expect(row.platform_admin).toBe(true);
    expect(row.email_verified_at).toBeInstanceOf(Date);
  });

  it("lets that person seat the first owner of a tenant they are no member of, as a platform admin token does", async () => {
    const { sessionToken } = await createCloudClient({ baseUrl: srv.url }).auth.login({
      email: adminPerson.email,
      password: adminPerson.password,
    });
    const asAdmin = createCloudClient({ baseUrl: srv.url, token: sessionToken });
    const { tenant } = await asAdmin.tenants.createTenant({ slug: `seat-${Date.now().toString(36)}` });
    const inTenant = createCloudClient({ baseUrl: srv.url, token: sessionToken, tenant: tenant!.slug });
    const { invitationCode } = await inTenant.users.inviteUser({ email: uniqueEmail("first-owner"), role: Role.OWNER });
    // The invitation holds at acceptance: its issuer is still a platform administrator (issuerMayGrant).
    const { member } = await createCloudClient({ baseUrl: srv.url }).users.acceptInvitation({
      invitationCode,
      displayName: "First Owner",
      password: uniquePassword(),
    });
    expect(member?.role).toBe(Role.OWNER);
  });

  it("works once: the same code a second time is refused", async () => {
    const again = await failureOf(
      createCloudClient({ baseUrl: srv.url }).auth.completeSetup({
        code: srv.server.app.bootstrap.setupCode!,
        email: uniqueEmail("second"),
        password: uniquePassword(),
        displayName: "Second",
      }),
    );
    expect(again).toMatchObject({ code: Code.Unauthenticated, reason: "SETUP_CODE_INVALID" });
  });

  it("a later start replaces the code, an expired code is refused, and once a person is set up no code is minted", async () => {
    const database = await createTestDatabase();
    // One seed for every start, so the platform admin token of the first start works on the later ones.
    const env = { ...FAST_PASSWORD_HASH, ENGINE_CLOUD_TOKEN: randomSeedToken() };
    const setUp = (url: string, code: string) =>
      createCloudClient({ baseUrl: url }).auth.completeSetup({
        code,
        email: uniqueEmail("setup"),
        password: uniquePassword(),
        displayName: "Setup",
      });
    try {
      const first = await startTestServer({ env, database });
      const replaced = first.server.app.bootstrap.setupCode!;
      expect(replaced).toMatch(/^[A-Za-z0-9_-]{43}$/);
      await first.stop();

      const second = await startTestServer({ env, database });
      const code = second.server.app.bootstrap.setupCode!;
      expect(code).not.toBe(replaced);
      expect(await failureOf(setUp(second.url, replaced))).toMatchObject({ reason: "SETUP_CODE_INVALID" });
      const setupCodes = second.server.app.storage.db.updateTable("setup_codes").where("ended_at", "is", null);
      await setupCodes.set({ expires_at: sql`now() - interval '1 second'` }).execute();
      expect(await failureOf(setUp(second.url, code))).toMatchObject({ reason: "SETUP_CODE_INVALID" });
      await setupCodes.set({ expires_at: sql`now() + interval '1 hour'` }).execute();
      // Setup never takes over an existing account, and the refusal leaves the code unused.
      const invited = uniqueEmail("existing");
      const { invitationCode } = await second.admin().users.inviteUser({ email: invited, role: Role.VIEWER });
      await createCloudClient({ baseUrl: second.url }).users.acceptInvitation({
        invitationCode,
        displayName: "Existing",
        password: uniquePassword(),
      });
      const taken = createCloudClient({ baseUrl: second.url }).auth.completeSetup({
        code,
        email: invited.toUpperCase(),
        password: uniquePassword(),
        displayName: "Taker",
      });
      expect(await failureOf(taken)).toMatchObject({ code: Code.AlreadyExists, reason: "SETUP_EMAIL_TAKEN" });
      expect((await setUp(second.url, code)).session?.tenantId).toBe(second.server.app.bootstrap.operatorTenantId);
      await second.stop();

      const third = await startTestServer({ env, database });
      expect(third.server.app.bootstrap.setupCode).toBeUndefined();
      await third.stop();
    } finally {
      await database.drop();
    }
  });

  it("never puts the setup code, the password or a session token in the log", async () => {
    const log = srv.logs.join("\n");
    expect(log).not.toContain(srv.server.app.bootstrap.setupCode!);
    expect(log).not.toContain(adminPerson.password);
    expect(log).not.toContain(adminPerson.cookie.split("=")[1]!);
  });
});

// Last in the file: it leaves 127.0.0.1 throttled for setup codes on this server.
describe("CompleteSetup under guessing", () => {
  it("throttles wrong codes per address like sign-ins, and a wrong code costs no password hash", async () => {
    const guess = () =>
      failureOf(
        createCloudClient({ baseUrl: srv.url }).auth.completeSetup({
          code: "not-the-code",
          email: uniqueEmail("guess"),
          password: uniquePassword(),
          displayName: "Guess",
        }),
      );
    const started = performance.now();
    const reasons: string[] = [];
    for (let i = 0; i < 60 && !reasons.includes("LOGIN_THROTTLED"); i++) reasons.push((await guess()).reason);
    // The suite's earlier wrong codes count too: the throttle holds per address.
    expect(reasons.slice(0, -1).every((r) => r === "SETUP_CODE_INVALID")).toBe(true);
    expect(reasons.at(-1)).toBe("LOGIN_THROTTLED");
    expect(reasons.length).toBeGreaterThan(10);
    // 50 scrypt hashes would take seconds even at the test cost; lookups take milliseconds each.
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});
