import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { TokenKind } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

const runtimeToken = async (label = "rt") => srv.admin().tokens.createToken({ label, kind: TokenKind.RUNTIME });

describe("tokens", () => {
  it("creates a token that works at once, without a restart", async () => {
    const { secret, token } = await srv.admin().tokens.createToken({ label: "laptop", kind: TokenKind.TENANT_ADMIN });
    expect(secret).toMatch(/^eca_[0-9A-Za-z]{49}$/);
    const me = await srv.client(secret).auth.whoAmI({});
    expect(me.principalId).toBe(token!.id);
    expect(me.permissions).toContain("tokens.create");
  });

  it("returns the plaintext only once: get and list never carry it", async () => {
    const { secret, token } = await runtimeToken("once");
    const got = await srv.admin().tokens.getToken({ id: token!.id });
    const listed = await srv.admin().tokens.listTokens({});
    const everything = JSON.stringify([got, listed], (_k, v) => (typeof v === "bigint" ? String(v) : v));
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(secret.slice(8));
    expect(got.token!.displayPrefix).toBe(secret.slice(0, 8));
  });

  it("rejects a revoked token on the next request", async () => {
    const { secret, token } = await runtimeToken("to-revoke");
    const client = srv.client(secret);
    await client.auth.whoAmI({});
    await srv.admin().tokens.revokeToken({ id: token!.id });
    const err = await failureOf(client.auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_REVOKED"]);
  });

  it("rejects a missing token", async () => {
    const err = await failureOf(srv.client().projects.listProjects({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_MISSING"]);
  });

  it("rejects a mistyped token without a database lookup", async () => {
    const { secret } = await runtimeToken("typo");
    const typo = secret.slice(0, 20) + (secret[20] === "a" ? "b" : "a") + secret.slice(21);
    const before = srv.server.app.verifier.lookups;
    const err = await failureOf(srv.client(typo).auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_INVALID"]);
    expect(srv.server.app.verifier.lookups).toBe(before);
  });

  it("rejects an unknown free-form token without a database lookup", async () => {
    const before = srv.server.app.verifier.lookups;
    const err = await failureOf(srv.client("x".repeat(40)).auth.whoAmI({}));
    expect(err.reason).toBe("TOKEN_INVALID");
    expect(srv.server.app.verifier.lookups).toBe(before);
  });

  it("rejects an expired token", async () => {
    const { secret, token } = await srv.admin().tokens.createToken({
      label: "short",
      kind: TokenKind.SERVICE,
      expiresAt: timestampFromDate(new Date(Date.now() + 1500)),
    });
    await srv.client(secret).auth.whoAmI({});
    await new Promise((r) => setTimeout(r, 1600));
    const err = await failureOf(srv.client(secret).auth.whoAmI({}));
    expect([err.codeName, err.reason]).toEqual(["unauthenticated", "TOKEN_EXPIRED"]);
    const listed = await srv.admin().tokens.listTokens({});
    expect(listed.tokens.map((t) => t.id)).not.toContain(token!.id);
    const all = await srv.admin().tokens.listTokens({ showInactive: true });
    expect(all.tokens.map((t) => t.id)).toContain(token!.id);
  });

  it("refuses an expiry in the past with the field named", async () => {
    const err = await failureOf(
      srv.admin().tokens.createToken({
        label: "past",
        kind: TokenKind.RUNTIME,
        expiresAt: timestampFromDate(new Date(Date.now() - 60_000)),
      }),
    );
    expect([err.codeName, err.reason, err.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "expires_at"]);
  });

  it("does not let a tenant admin mint a platform admin token", async () => {
    const { secret } = await srv.admin().tokens.createToken({ label: "ta", kind: TokenKind.TENANT_ADMIN });
    const err = await failureOf(srv.client(secret).tokens.createToken({ label: "up", kind: TokenKind.PLATFORM_ADMIN }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
  });

  it("does not let a runtime token administer tokens", async () => {
    const { secret } = await runtimeToken("rt-admin");
    const err = await failureOf(srv.client(secret).tokens.listTokens({}));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
  });

  it("pages through tokens without repeats or gaps", async () => {
    for (let i = 0; i < 5; i++) await runtimeToken(`page-${i}`);
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await srv.admin().tokens.listTokens({ pageSize: 2, pageToken });
      expect(page.tokens.length).toBeLessThanOrEqual(2);
      seen.push(...page.tokens.map((t) => t.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    const all = await srv.admin().tokens.listTokens({ pageSize: 1000 });
    expect(seen).toEqual(all.tokens.map((t) => t.id));
  });

  it("records when a token was last used", async () => {
    const { secret, token } = await runtimeToken("used");
    await srv.client(secret).auth.whoAmI({});
    await srv.server.app.verifier.flushLastUsed();
    const got = await srv.admin().tokens.getToken({ id: token!.id });
    expect(got.token!.lastUsedAt).toBeDefined();
  });

  it("never writes a token into the log", async () => {
    const { secret } = await runtimeToken("logged");
    await srv.client(secret).auth.whoAmI({});
    const log = srv.logs.join("\n");
    expect(log).toContain("AuthService/WhoAmI");
    expect(log).not.toContain(secret);
    expect(log).not.toContain(srv.adminToken);
  });
});
