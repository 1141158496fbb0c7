import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

/**
 * A real OAuth 2.0 / OpenID Connect authorization server on loopback
 * (oidc-provider, the research note's spike): authorization code with PKCE,
 * refresh-token rotation, and strict replay detection — a code or refresh
 * token used twice revokes the whole grant, so `events` showing
 * `grant.revoked` is the oracle for a double exchange. A small shim in front
 * counts token calls, remembers every token it issued (for leak scans) and
 * can answer the next token calls with injected faults.
 */
export interface LoopbackAuthorizationServer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** POST /token requests that reached the server (faults included). */
  tokenCalls(): number;
  /**
   * Provider events by name, e.g. "grant.revoked", "grant.error", with error
   * details and, where the server knew it, the account.
   */
  events: Array<{ name: string; detail?: string; account?: string }>;
  /** Every access, refresh and id token the server issued. */
  issuedTokens: Set<string>;
  /** The refresh tokens the server issued, oldest first. */
  refreshTokens: string[];
  /** Revokes a token at the server's RFC 7009 endpoint, as the app (an admin revoking the grant at the provider). */
  revoke(token: string): Promise<void>;
  /** Whether the server still takes this token (RFC 7662 introspection). */
  isActive(token: string): Promise<boolean>;
  /** The same by kind, and the authorization codes it sent back to the redirect URI (for leak scans). */
  issued: IssuedByKind;
  /** Successful refresh-token grants per account (the login the browser used). */
  refreshes: Map<string, number>;
  /** Asks the introspection endpoint (RFC 7662) about a token, as a resource server would. */
  introspect(token: string): Promise<{ active: boolean; exp?: number }>;
  /**
   * Resolves at the next successful refresh: the server has rotated (and
   * spent the old refresh token) but its answer is held until `release()` —
   * the moment between the provider's rotation and the client's commit.
   * `clientPort` is the port the refreshing client called from.
   */
  holdNextRefresh(): Promise<HeldRefresh>;
  /** Answers the next token or revocation call with this instead of passing it on. */
  pushFault(fault: TokenFault): void;
  /** While set, every token call is answered 503 (an outage), counted like any other. */
  outage: boolean;
  /** While above 0, every token call the server answers is held this long first (a slow provider). */
  answerDelayMs: number;
  /** The most token calls that were open at once (request received, answer not yet sent); `reset` starts over. */
  concurrentTokenCalls(options?: { reset?: boolean }): number;
  /**
   * Plays the browser: follows the authorization URL through login and
   * consent as `login`, and returns the URL the browser would be sent back to
   * (the callback with code, state and iss), without requesting it.
   */
  authorize(url: string, options?: { login?: string; deny?: boolean }): Promise<URL>;
  /**
   * A grant for `login` as if it had consented (benchmarks seeding thousands
   * of accounts without playing the browser): the server's own grant, access
   * token and refresh token, stored as the code exchange stores them, so a
   * refresh with it is an ordinary refresh_token grant.
   */
  mintGrant(login: string): Promise<MintedGrant>;
  close(): Promise<void>;
}

export interface IssuedByKind {
  accessTokens: Set<string>;
  /**
   * Each access token's expiry (ms) by the server's own reckoning: whole
   * seconds, issued-at rounded down plus the lifetime — up to a second
   * before what a client computes from expires_in.
   */
  accessTokenExpiry: Map<string, number>;
  refreshTokens: Set<string>;
  idTokens: Set<string>;
  codes: Set<string>;
}

export interface MintedGrant {
  accessToken: string;
  refreshToken: string;
  expiresInSeconds: number;
  scope: string;
}

export interface HeldRefresh {
  account: string;
  clientPort: number;
  release(): void;
}

export type TokenFault =
  | { kind: "status"; status: number; retryAfter?: string; body?: unknown }
  | { kind: "drop" }
  | { kind: "redirect"; location: string }
  /** Passed on to the server, which acts on it (rotates), but answered only after `ms`. */
  | { kind: "delay"; ms: number }
  /** Passed on to the server, which acts on it; then the connection is cut instead of answering. */
  | { kind: "drop-after-commit" }
  /** Passed on; the JSON answer is rewritten: fields dropped, fields added or replaced. */
  | { kind: "rewrite"; drop?: string[]; add?: Record<string, unknown> }
  /** Held before the server sees it, passed on once `until` settles: what it finds then decides its answer. */
  | { kind: "hold"; until: Promise<unknown> };

export interface LoopbackOptions {
  redirectUris: string[];
  /** Access-token lifetime in seconds (default 3600). */
  accessTokenTtl?: number;
  rotateRefreshTokens?: boolean;
  /** Told of every successful grant (code exchange or refresh) as the server issues it; for benchmarks. */
  onGrant?: (grant: { account: string; grantType: string; at: number }) => void;
}

export async function startLoopbackAuthorizationServer(options: LoopbackOptions): Promise<LoopbackAuthorizationServer> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = "engine-hub";
  const clientSecret = `client-secret-${Math.random().toString(36).slice(2)}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    pkce: { required: () => true },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      RefreshToken: 3600,
      Grant: 3600,
      Session: 3600,
      Interaction: 600,
      IdToken: 3600,
    },
    issueRefreshToken: async () => true,
    rotateRefreshToken: options.rotateRefreshTokens ?? true,
    features: { devInteractions: { enabled: true }, revocation: { enabled: true }, introspection: { enabled: true } },
    cookies: { keys: ["loopback-test-only"] },
    adapter: unboundedMemoryAdapter(),
  });
  const events: LoopbackAuthorizationServer["events"] = [];
  const issuedTokens = new Set<string>();
  const issued: IssuedByKind = {
    accessTokens: new Set(),
    accessTokenExpiry: new Map(),
    refreshTokens: new Set(),
    idTokens: new Set(),
    codes: new Set(),
  };
  const holds: Array<(held: HeldRefresh) => void> = [];
  for (const name of ["authorization.error", "server_error"]) {
    provider.on(name, () => events.push({ name }));
  }
  provider.on("grant.revoked", (c: unknown) => {
    const ctx = c as GrantContext;
    events.push({ name: "grant.revoked", account: ctx.oidc?.entities.Account?.accountId });
  });
  // Saved a microtask after its expiry was reckoned (opaque tokens: the value is the jti, exp = now + expiration).
  provider.on("access_token.saved", (t: unknown) => {
    const token = t as { jti: string; expiration: number };
    issued.accessTokenExpiry.set(token.jti, (Math.floor(Date.now() / 1000) + token.expiration) * 1000);
  });
  const refreshes = new Map<string, number>();
  const refreshedBy = new WeakMap<http.ServerResponse, string>();
  /** The account of every token response, and of every refresh token issued: a spent one names its account no more. */
  const answeredFor = new WeakMap<http.ServerResponse, string>();
  const refreshTokenAccount = new Map<string, string>();
  provider.on("grant.success", (c: unknown) => {
    const ctx = c as GrantContext;
    events.push({ name: "grant.success" });
    const account = ctx.oidc?.entities.Account?.accountId ?? "";
    options.onGrant?.({ account, grantType: ctx.oidc?.params.grant_type ?? "", at: Date.now() });
    if (ctx.res) answeredFor.set(ctx.res, account);
    if (ctx.oidc?.params.grant_type !== "refresh_token") return;
    refreshes.set(account, (refreshes.get(account) ?? 0) + 1);
    refreshedBy.set(ctx.res, account);
  });
  provider.on("grant.error", (c: unknown, err: unknown) => {
    const ctx = c as GrantContext;
    const e = err as { error?: string; error_detail?: string };
    events.push({
      name: "grant.error",
      detail: `${e.error}: ${e.error_detail ?? ""}`,
      // A refresh token of a revoked grant is gone from the server, and its account with it: named from our own record.
      account: ctx.oidc?.entities.Account?.accountId ?? refreshTokenAccount.get(String(ctx.oidc?.params.refresh_token ?? "")),
    });
  });
  const refreshTokens: string[] = [];
  const faults: TokenFault[] = [];
  let tokenCalls = 0;
  let openTokenCalls = 0;
  let mostOpenTokenCalls = 0;
  const handle = provider.callback();
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = req.url?.split("?", 1)[0];
    // Faults apply to the token and the revocation endpoint alike; only the token endpoint's calls are counted.
    if (req.method === "POST" && (path === "/token" || path === "/token/revocation")) {
      if (path === "/token") {
        tokenCalls++;
        mostOpenTokenCalls = Math.max(mostOpenTokenCalls, ++openTokenCalls);
        res.once("close", () => openTokenCalls--);
      }
      if (path === "/token" && shim.outage) return answerFault(req, res, { kind: "status", status: 503 });
      const fault = faults.shift() ?? (shim.answerDelayMs > 0 ? { kind: "delay", ms: shim.answerDelayMs } : undefined);
      if (fault && (fault.kind === "status" || fault.kind === "drop" || fault.kind === "redirect"))
        return answerFault(req, res, fault);
      if (fault && fault.kind !== "hold") alterAnswer(res, fault);
      const onRefreshToken = (token: string) => {
        refreshTokens.push(token);
        const account = answeredFor.get(res);
        if (account) refreshTokenAccount.set(token, account);
      };
      captureTokens(res, issuedTokens, issued, onRefreshToken, (send) => {
        const account = refreshedBy.get(res);
        const hold = account === undefined ? undefined : holds.shift();
        if (!hold) return send();
        hold({ account: account!, clientPort: req.socket.remotePort ?? 0, release: send });
      });
      if (fault?.kind === "hold") return void fault.until.finally(() => handle(req, res));
    }
    handle(req, res);
  });

  const introspect = async (token: string) => {
    const res = await fetch(`${issuer}/token/introspection`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, client_id: clientId, client_secret: clientSecret }).toString(),
    });
    return (await res.json()) as { active: boolean; exp?: number };
  };
  const shim: LoopbackAuthorizationServer = {
    outage: false,
    answerDelayMs: 0,
    concurrentTokenCalls(o = {}) {
      const most = mostOpenTokenCalls;
      if (o.reset) mostOpenTokenCalls = openTokenCalls;
      return most;
    },
    issuer,
    clientId,
    clientSecret,
    tokenCalls: () => tokenCalls,
    events,
    issuedTokens,
    refreshTokens,
    issued,
    refreshes,
    async revoke(token) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token, client_id: clientId, client_secret: clientSecret }).toString(),
      });
      if (res.status !== 200) throw new Error(`revocation answered ${res.status}: ${await res.text()}`);
    },
    isActive: async (token) => (await introspect(token)).active === true,
    introspect,
    holdNextRefresh: () => new Promise((resolve) => holds.push(resolve)),
    pushFault: (f) => void faults.push(f),
    async mintGrant(login) {
      const scope = "openid offline_access";
      const client = await provider.Client.find(clientId);
      const grant = new provider.Grant({ accountId: login, clientId });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const now = Math.floor(Date.now() / 1000);
      const common = { accountId: login, client, grantId, scope, gty: "authorization_code", authTime: now };
      const refreshToken = await new provider.RefreshToken({ ...common, iiat: now, rotations: 0 }).save();
      const at = new provider.AccessToken(common);
      const accessToken = await at.save();
      for (const [set, token] of [
        [issued.refreshTokens, refreshToken],
        [issued.accessTokens, accessToken],
      ] as const) {
        set.add(token);
        issuedTokens.add(token);
      }
      refreshTokens.push(refreshToken);
      return { accessToken, refreshToken, expiresInSeconds: at.expiration, scope };
    },
    authorize: async (url, o = {}) => {
      const back = await playBrowser(url, options.redirectUris, o.login ?? "alice", o.deny ?? false);
      const code = back.searchParams.get("code");
      if (code) issued.codes.add(code);
      return back;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return shim;
}

/** Faults that let the server act and then change what the client gets back. */
function alterAnswer(res: http.ServerResponse, fault: Extract<TokenFault, { kind: "delay" | "drop-after-commit" | "rewrite" }>) {
  const end = res.end.bind(res) as (...a: unknown[]) => http.ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (fault.kind === "drop-after-commit") {
      res.socket?.destroy();
      return res;
    }
    if (fault.kind === "delay") {
      setTimeout(() => end(chunk, ...rest), fault.ms);
      return res;
    }
    const body = JSON.parse(Buffer.from(chunk as string).toString("utf8")) as Record<string, unknown>;
    for (const k of fault.drop ?? []) delete body[k];
    Object.assign(body, fault.add ?? {});
    const text = JSON.stringify(body);
    if (!res.headersSent) res.setHeader("content-length", Buffer.byteLength(text));
    return end(text);
  }) as typeof res.end;
}

/** What oidc-provider stores, as far as the adapter reads it. */
interface StoredPayload {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
}

/**
 * oidc-provider's storage, in memory, without its development adapter's
 * limit: that one is an LRU of 1,000 entries shared by every provider in the
 * process, so a few hundred connections (a grant, a refresh token, access
 * tokens each) evict grants still in use and refreshes fail with
 * invalid_grant "not found" — a fixture fault that looks like a hub fault.
 * Entries expire as the provider asks; revoking a grant removes its tokens.
 */
function unboundedMemoryAdapter() {
  const entries = new Map<string, { payload: StoredPayload; expiresAt: number }>();
  const grants = new Map<string, Set<string>>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) entries.delete(key);
    return entries.get(key)?.payload;
  };
  return class UnboundedMemoryAdapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: StoredPayload, expiresIn?: number) {
      const key = this.key(id);
      entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
      if (payload.grantId) grants.set(payload.grantId, (grants.get(payload.grantId) ?? new Set()).add(key));
      if (this.model === "Session" && payload.uid) byUid.set(payload.uid, id);
      if (payload.userCode) byUserCode.set(payload.userCode, id);
    }
    async find(id: string) {
      return live(this.key(id));
    }
    async findByUid(uid: string) {
      const id = byUid.get(uid);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode(userCode: string) {
      const id = byUserCode.get(userCode);
      return id === undefined ? undefined : this.find(id);
    }
    async consume(id: string) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      entries.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const key of grants.get(grantId) ?? []) entries.delete(key);
      grants.delete(grantId);
    }
  };
}

function answerFault(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  fault: Extract<TokenFault, { kind: "status" | "drop" | "redirect" }>,
) {
  req.resume();
  if (fault.kind === "drop") return void req.socket.destroy();
  if (fault.kind === "redirect") {
    res.writeHead(307, { location: fault.location });
    return void res.end();
  }
  res.writeHead(fault.status, {
    "content-type": "application/json",
    ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}),
  });
  res.end(JSON.stringify(fault.body ?? { error: "temporarily_unavailable" }));
}

/** What the grant.success event carries, as far as the shim reads it. */
interface GrantContext {
  res: http.ServerResponse;
  oidc?: { params: { grant_type?: string; refresh_token?: string }; entities: { Account?: { accountId: string } } };
}

const TOKEN_KINDS = [
  ["access_token", "accessTokens"],
  ["refresh_token", "refreshTokens"],
  ["id_token", "idTokens"],
] as const;

/**
 * Remembers the tokens of a token response as it goes out; `beforeSend`
 * decides when the finished answer is written (at once, or held).
 */
function captureTokens(
  res: http.ServerResponse,
  into: Set<string>,
  byKind: IssuedByKind,
  onRefreshToken: (token: string) => void,
  beforeSend: (send: () => void) => void,
) {
  const chunks: Buffer[] = [];
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => http.ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (chunk) chunks.push(Buffer.from(chunk as string));
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (chunk && typeof chunk !== "function") chunks.push(Buffer.from(chunk as string));
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      for (const [field, kind] of TOKEN_KINDS) {
        if (typeof body[field] !== "string") continue;
        into.add(body[field] as string);
        byKind[kind].add(body[field] as string);
      }
      if (typeof body.refresh_token === "string") onRefreshToken(body.refresh_token);
    } catch {
      // not JSON: nothing issued
    }
    beforeSend(() => void end(chunk, ...rest));
    return res;
  }) as typeof res.end;
}

/** The seven hops of the research note: authorize → login → consent → back to the redirect URI. */
async function playBrowser(start: string, redirectUris: string[], login: string, deny: boolean): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = new URL(start);
  let init: RequestInit = {};
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get("location")!, url);
      if (redirectUris.some((r) => next.href.startsWith(r))) return next;
      url = next;
      init = {};
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`authorization server answered ${res.status}: ${html.slice(0, 300)}`);
    const form = { "content-type": "application/x-www-form-urlencoded" };
    if (html.includes('value="login"')) {
      init = { method: "POST", headers: form, body: new URLSearchParams({ prompt: "login", login, password: "any" }).toString() };
    } else if (deny) {
      url = new URL(`${url.pathname.replace(/\/$/, "")}/abort`, url);
      init = {};
    } else {
      init = { method: "POST", headers: form, body: new URLSearchParams({ prompt: "consent" }).toString() };
    }
  }
  throw new Error("the authorization flow did not come back within 20 hops");
}

/** The OAuth app (a custom provider with its client) that makes `auth` a tenant's provider `provider`. */
export function loopbackOAuthApp(auth: LoopbackAuthorizationServer, provider: string) {
  return {
    provider,
    clientId: auth.clientId,
    clientSecret: auth.clientSecret,
    customProvider: {
      id: provider,
      displayName: "Loopback",
      authorizeUrl: `${auth.issuer}/auth`,
      tokenUrl: `${auth.issuer}/token`,
      revocationUrl: `${auth.issuer}/token/revocation`,
      issuer: auth.issuer,
      defaultScopes: ["openid", "offline_access"],
      pkce: true,
      authorizeParams: { prompt: "consent" },
    },
  };
}
