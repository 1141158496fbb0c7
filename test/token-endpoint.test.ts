import { createHash, randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { OAuthProviderSchema, TokenAuthMethod } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expiryOf,
  requestTokens,
  retryAfterMs,
  TokenEndpointError,
  tokenSetOf,
} from "../packages/server/src/hub/token-endpoint.js";
import { startLoopbackAuthorizationServer, type LoopbackAuthorizationServer } from "./support/loopback-authorization-server.js";

// The token-endpoint client's failure classes, against a real authorization server on loopback (and its fault
// shim for what a healthy server never answers): the refresh engine acts on these classes, so each must be told
// apart exactly.

const REDIRECT = "http://127.0.0.1:9/oauth/callback";
const POLICY = { allowLoopback: true, timeoutMs: 2000 };
let as: LoopbackAuthorizationServer;
const provider = () =>
  create(OAuthProviderSchema, {
    id: "loopback",
    tokenUrl: `${as.issuer}/token`,
    tokenAuthMethod: TokenAuthMethod.CLIENT_SECRET_POST,
    defaultLifetimeSeconds: 600,
  });
const client = () => ({ clientId: as.clientId, clientSecret: as.clientSecret });
const call = (grant: Record<string, string>, credentials = client()) =>
  requestTokens(`${as.issuer}/token`, provider(), credentials, grant, POLICY);

/** What a call failed with: its class and code. */
async function failure(p: Promise<unknown>): Promise<TokenEndpointError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenEndpointError);
  return err as TokenEndpointError;
}

/** A code for a fresh grant, and its verifier. */
async function freshCode(login: string): Promise<{ code: string; verifier: string }> {
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${as.issuer}/auth`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: as.clientId,
    redirect_uri: REDIRECT,
    scope: "openid offline_access",
    prompt: "consent",
    state: randomBytes(16).toString("base64url"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const back = await as.authorize(url.href, { login });
  return { code: back.searchParams.get("code")!, verifier };
}

async function freshGrant(login: string) {
  const { code, verifier } = await freshCode(login);
  return tokenSetOf(
    provider(),
    await call({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier }),
  );
}

beforeAll(async () => {
  as = await startLoopbackAuthorizationServer({ redirectUris: [REDIRECT], rotateRefreshTokens: true, accessTokenTtl: 30 });
});
afterAll(() => as?.close());

describe("the token endpoint client", () => {
  it("exchanges a code: access and refresh token, expiry from expires_in, scopes, the account from the id_token", async () => {
    const before = Date.now();
    const tokens = await freshGrant("tess");
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();
    expect(tokens.lifetimeSeconds).toBe(30);
    expect(tokens.expiresAt.getTime() - before).toBeGreaterThanOrEqual(29_000);
    expect(tokens.scopes).toEqual(expect.arrayContaining(["openid", "offline_access"]));
    expect(tokens.externalAccount).toBe("tess");
  });

  it("classifies a spent rotating refresh token as invalid_grant (and the server revokes the grant)", async () => {
    const first = await freshGrant("ulla");
    const second = tokenSetOf(provider(), await call({ grant_type: "refresh_token", refresh_token: first.refreshToken! }));
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const revoked = as.events.filter((e) => e.name === "grant.revoked").length;
    const err = await failure(call({ grant_type: "refresh_token", refresh_token: first.refreshToken! }));
    expect(err).toMatchObject({ kind: "invalid_grant", error: "invalid_grant", status: 400 });
    expect(as.events.filter((e) => e.name === "grant.revoked").length).toBe(revoked + 1);
  });

  it("classifies a wrong client secret as invalid_client", async () => {
    const err = await failure(
      call({ grant_type: "refresh_token", refresh_token: "x" }, { clientId: as.clientId, clientSecret: "wrong" }),
    );
    expect(err).toMatchObject({ kind: "invalid_client", error: "invalid_client" });
  });

  it("classifies 429 as rate_limited with its Retry-After, in seconds or as a date", async () => {
    as.pushFault({ kind: "status", status: 429, retryAfter: "2" });
    expect(await failure(call({ grant_type: "refresh_token", refresh_token: "x" }))).toMatchObject({
      kind: "rate_limited",
      retryAfterMs: 2000,
    });
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("86400", now)).toBe(3600_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });

  it("classifies 5xx as server_error and a dropped connection as network (outcome unknown)", async () => {
    as.pushFault({ kind: "status", status: 503 });
    expect(await failure(call({ grant_type: "refresh_token", refresh_token: "x" }))).toMatchObject({
      kind: "server_error",
      status: 503,
    });
    as.pushFault({ kind: "drop" });
    expect(await failure(call({ grant_type: "refresh_token", refresh_token: "x" }))).toMatchObject({ kind: "network" });
  });

  it("refuses to follow a redirect from the token endpoint", async () => {
    as.pushFault({ kind: "redirect", location: "http://169.254.169.254/token" });
    expect(await failure(call({ grant_type: "refresh_token", refresh_token: "x" }))).toMatchObject({ kind: "refused" });
  });

  it("reads an error in a 200 answer (GitHub's way) as the error it is", async () => {
    as.pushFault({
      kind: "status",
      status: 200,
      body: { error: "bad_verification_code", error_description: "The code is incorrect" },
    });
    expect(await failure(call({ grant_type: "authorization_code", code: "x" }))).toMatchObject({
      kind: "protocol",
      error: "bad_verification_code",
    });
  });

  it("reads the provider's Date header: the second it stamped the answer in", async () => {
    const { code, verifier } = await freshCode("vera");
    const answer = await call({ grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(answer.stampedAtMs! % 1000).toBe(0);
    expect(answer.stampedAtMs!).toBeLessThanOrEqual(answer.receivedAtMs);
    expect(answer.stampedAtMs! + 1000).toBeGreaterThan(answer.sentAtMs);
    // The loopback server's expiry is its stamp's second plus expires_in: the reckoning never passes it.
    expect(tokenSetOf(provider(), answer).expiresAt.getTime()).toBeLessThanOrEqual(answer.stampedAtMs! + 30_000);
  });

  it("reckons an expiry from the sending less the rounding allowance, and from the provider's stamp when its clock agrees", () => {
    const sent = Date.parse("2026-01-01T00:00:00.900Z");
    const answered = { json: {}, sentAtMs: sent, receivedAtMs: sent + 50 };
    // A 3-second token: the allowance is a tenth of it.
    expect(expiryOf(answered, 3).toISOString()).toBe("2026-01-01T00:00:03.600Z");
    // Stamped in the second the call was in: it ends with that second's third, 0.6 s before the allowance's guess.
    expect(expiryOf({ ...answered, stampedAtMs: Date.parse("2026-01-01T00:00:00Z") }, 3).toISOString()).toBe(
      "2026-01-01T00:00:03.000Z",
    );
    // A stamp after the answer came (a provider clock ahead of ours) is not used.
    expect(expiryOf({ ...answered, stampedAtMs: Date.parse("2026-01-01T00:00:01Z") }, 3).toISOString()).toBe(
      "2026-01-01T00:00:03.600Z",
    );
    // A provider clock that does not agree with ours (seconds off) is not used, either way.
    for (const skewed of ["2025-12-31T23:59:55Z", "2026-01-01T00:00:07Z"]) {
      expect(expiryOf({ ...answered, stampedAtMs: Date.parse(skewed) }, 3).toISOString()).toBe("2026-01-01T00:00:03.600Z");
    }
  });

  it("assumes the provider's default lifetime without expires_in, and keeps named metadata", () => {
    const p = create(OAuthProviderSchema, {
      id: "sf",
      defaultLifetimeSeconds: 7200,
      tokenMetadata: ["instance_url"],
      accountIdField: "id",
    });
    const now = Date.parse("2026-01-01T00:00:00Z");
    const set = tokenSetOf(p, {
      json: { access_token: "a", instance_url: "https://acme.my.salesforce.com", id: "https://login/id/00D/005" },
      sentAtMs: now,
      receivedAtMs: now + 100,
    });
    expect(set).toMatchObject({
      lifetimeSeconds: 7200,
      metadata: { instance_url: "https://acme.my.salesforce.com" },
      externalAccount: "https://login/id/00D/005",
    });
    // Two hours from the sending, less the second whole-second rounding may cost.
    expect(set.expiresAt.toISOString()).toBe("2026-01-01T01:59:59.000Z");
    expect(set.refreshToken).toBeUndefined();
  });
});
