import { TokenAuthMethod, type OAuthProvider } from "@engine-cloud/api";
import { OutboundRefused, postForm, type OutboundPolicy, type OutboundResponse } from "./outbound-http.js";

/** The client credentials a token request is made with. */
export interface ClientCredentials {
  clientId: string;
  /** Absent for a public client. */
  clientSecret?: string;
}

/** A successful token response, as the hub keeps it. */
export interface TokenSet {
  accessToken: string;
  /** Absent when the provider sent none (a refresh then keeps the previous one). */
  refreshToken?: string;
  tokenType: string;
  expiresAt: Date;
  /** The lifetime the expiry was computed from, in seconds. */
  lifetimeSeconds: number;
  /** Granted scopes; absent when the response did not say (RFC 6749 §5.1: then as requested). */
  scopes?: string[];
  /** The provider's token_metadata fields found in the response. */
  metadata: Record<string, string>;
  /** The external account: the configured field, else the id_token's sub. */
  externalAccount?: string;
}

/**
 * How a token request failed, in the classes the refresh engine acts on:
 * `invalid_grant` (the grant is gone: re-read, then NEEDS_REAUTH),
 * `invalid_client` (the app is misconfigured), `rate_limited` (429, with the
 * Retry-After in ms when given), `server_error` (5xx), `network` (no answer:
 * the outcome is unknown, the provider may have acted), `refused` (our own
 * SSRF rules), `protocol` (any other error or an unreadable answer).
 */
export type TokenFailureKind =
  "invalid_grant" | "invalid_client" | "rate_limited" | "server_error" | "network" | "refused" | "protocol";

export class TokenEndpointError extends Error {
  constructor(
    readonly kind: TokenFailureKind,
    /** The OAuth error code when the provider sent one, else the kind. */
    readonly error: string,
    /** The provider's error_description verbatim, or ours; never a token. */
    readonly description: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(`${error}: ${description}`);
  }
}

const MAX_RETRY_AFTER_MS = 3600_000;
const DEFAULT_LIFETIME_S = 3600;

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3), capped at an hour. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

const short = (text: string) => text.slice(0, 500);

/** Classifies an answer: a TokenSet's raw JSON, or a TokenEndpointError. */
export function classifyTokenResponse(res: OutboundResponse): Record<string, unknown> {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(res.body);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  const error = typeof json?.error === "string" ? json.error : undefined;
  const description = typeof json?.error_description === "string" ? short(json.error_description) : "";
  if (res.status === 429) {
    throw new TokenEndpointError(
      "rate_limited",
      error ?? "rate_limited",
      description || "the provider is rate limiting",
      429,
      retryAfterMs(res.headers["retry-after"]),
    );
  }
  if (res.status >= 500) {
    throw new TokenEndpointError(
      "server_error",
      error ?? "server_error",
      description || `the provider answered ${res.status}`,
      res.status,
      retryAfterMs(res.headers["retry-after"]),
    );
  }
  // Some providers (GitHub) answer 200 with an error body.
  if (error || res.status < 200 || res.status >= 300) {
    const code = error ?? "invalid_response";
    const kind: TokenFailureKind =
      code === "invalid_grant"
        ? "invalid_grant"
        : code === "invalid_client" || code === "unauthorized_client"
          ? "invalid_client"
          : "protocol";
    throw new TokenEndpointError(kind, code, description || `the provider answered ${res.status}`, res.status);
  }
  if (!json || typeof json.access_token !== "string" || json.access_token === "") {
    throw new TokenEndpointError("protocol", "invalid_response", "the token response has no access_token", res.status);
  }
  return json;
}

/** The payload of a JWT, unverified: only for an id_token received straight from the token endpoint over TLS (OIDC Core §3.1.3.7). */
function idTokenSubject(idToken: unknown): string | undefined {
  if (typeof idToken !== "string") return undefined;
  try {
    const payload = JSON.parse(Buffer.from(idToken.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown };
    return typeof payload.sub === "string" && payload.sub ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** A token endpoint's success: its JSON, when it was asked and answered (this server's wall clock), and the provider's stamp. */
export interface TokenAnswer {
  json: Record<string, unknown>;
  sentAtMs: number;
  receivedAtMs: number;
  /** The response's Date header (RFC 9110 §6.6.1): the second the provider generated it, on its clock. */
  stampedAtMs?: number;
}

/**
 * Whole-second rounding: providers count expires_in (and a JWT's exp) in
 * whole seconds, so a token may end up to a second before sent + expires_in.
 * The allowance is that second, but at most a tenth of the lifetime (a second
 * of a 3-second test token would triple its refreshes).
 */
const roundingAllowanceMs = (lifetimeMs: number) => Math.min(1000, lifetimeMs / 10);

/**
 * When a token answered for `lifetimeSeconds` expires, on this server's
 * clock: reckoned from when the request was sent (the provider issued it
 * after that, not when our commit got to it), less the rounding allowance.
 * When the provider's Date header names a second that overlaps the call (its
 * clock agrees with ours), the token was stamped in that second and expires
 * no later than it plus the lifetime, the tighter bound when the allowance is
 * a tenth of a short lifetime: a 3-second token stamped late in its second
 * ends up to 0.7 s before the allowance's guess. A provider clock that does
 * not agree is not used; either bound only ever makes the expiry earlier.
 */
export function expiryOf(answer: TokenAnswer, lifetimeSeconds: number): Date {
  const lifetimeMs = lifetimeSeconds * 1000;
  const bySend = answer.sentAtMs + lifetimeMs - roundingAllowanceMs(lifetimeMs);
  const stamped = answer.stampedAtMs;
  const agrees = stamped !== undefined && stamped <= answer.receivedAtMs && stamped + 1000 > answer.sentAtMs;
  return new Date(agrees ? Math.min(bySend, stamped + lifetimeMs) : bySend);
}

/** Reads a token answer into what the hub keeps. */
export function tokenSetOf(provider: OAuthProvider, answer: TokenAnswer): TokenSet {
  const { json } = answer;
  const expiresIn = Number(json.expires_in);
  const lifetimeSeconds =
    Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : provider.defaultLifetimeSeconds || DEFAULT_LIFETIME_S;
  const metadata: Record<string, string> = {};
  for (const field of provider.tokenMetadata) {
    const v = json[field];
    if (typeof v === "string" || typeof v === "number") metadata[field] = String(v);
  }
  const fromField = provider.accountIdField ? json[provider.accountIdField] : undefined;
  return {
    accessToken: json.access_token as string,
    refreshToken: typeof json.refresh_token === "string" && json.refresh_token ? json.refresh_token : undefined,
    tokenType: typeof json.token_type === "string" ? json.token_type : "Bearer",
    expiresAt: expiryOf(answer, lifetimeSeconds),
    lifetimeSeconds,
    scopes: typeof json.scope === "string" ? json.scope.split(/[ ,]+/).filter(Boolean) : undefined,
    metadata,
    externalAccount:
      typeof fromField === "string" || typeof fromField === "number" ? String(fromField) : idTokenSubject(json.id_token),
  };
}

/** Calls a token endpoint with a grant; returns the success's answer, or throws TokenEndpointError. */
export async function requestTokens(
  tokenUrl: string,
  provider: OAuthProvider,
  client: ClientCredentials,
  grant: Record<string, string>,
  policy: OutboundPolicy,
): Promise<TokenAnswer> {
  const sentAtMs = Date.now();
  const res = await postAuthenticated(tokenUrl, provider, client, new URLSearchParams(grant), policy);
  const receivedAtMs = Date.now();
  const json = classifyTokenResponse(res);
  const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
  return { json, sentAtMs, receivedAtMs, ...(Number.isFinite(date) ? { stampedAtMs: date } : {}) };
}

/** POSTs a form as the client (RFC 6749 §2.3.1), with outbound failures as TokenEndpointErrors. */
async function postAuthenticated(
  url: string,
  provider: OAuthProvider,
  client: ClientCredentials,
  form: URLSearchParams,
  policy: OutboundPolicy,
): Promise<OutboundResponse> {
  const headers: Record<string, string> = {};
  if (provider.tokenAuthMethod === TokenAuthMethod.CLIENT_SECRET_BASIC && client.clientSecret !== undefined) {
    // Both parts form-urlencoded before base64.
    const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
    headers.authorization = `Basic ${Buffer.from(`${enc(client.clientId)}:${enc(client.clientSecret)}`).toString("base64")}`;
  } else {
    form.set("client_id", client.clientId);
    if (client.clientSecret) form.set("client_secret", client.clientSecret);
  }
  try {
    return await postForm(url, form, headers, policy);
  } catch (err) {
    if (err instanceof OutboundRefused) throw new TokenEndpointError("refused", "refused", err.why);
    // The message names the failure (reset, timeout, DNS), never the request.
    throw new TokenEndpointError("network", "network", `the provider could not be reached (${(err as Error).message})`);
  }
}

/**
 * Revokes a token at an RFC 7009 endpoint. The server answers 200 for a token
 * it does not know (§2.2), so only a failure to get an answer, or an error,
 * is reported — as a TokenEndpointError, like a token request's.
 */
export async function revokeToken(
  revocationUrl: string,
  provider: OAuthProvider,
  client: ClientCredentials,
  token: { value: string; hint: "refresh_token" | "access_token" },
  policy: OutboundPolicy,
): Promise<void> {
  const form = new URLSearchParams({ token: token.value, token_type_hint: token.hint });
  const res = await postAuthenticated(revocationUrl, provider, client, form, policy);
  if (res.status >= 200 && res.status < 300) return;
  classifyTokenResponse(res);
}
