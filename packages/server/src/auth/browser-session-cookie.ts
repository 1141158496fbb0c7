import { ErrorReason } from "@engine-cloud/api";
import { unauthenticated, type DomainError } from "../errors/domain-error.js";
import { bearerOf } from "./bearer.js";

/**
 * The web console's session cookie: the one place that writes it, reads it and decides whether a request may
 * use it. The cookie is a second way to *present* a session token, not a second way to check one: the token it
 * holds goes through the caller resolver like a bearer (caller-resolver.ts).
 *
 * Why these rules (measured in Chromium against this server, docs/SECURITY.md "Browser sessions"):
 * - SameSite=Lax, not Strict: a Strict cookie set at the end of a cross-site redirect chain (an SSO return)
 *   is withheld on the next page and on its reload. Lax is sent on a cross-site *top-level navigation* GET,
 *   though, and Connect GET runs side-effect-free RPCs without a preflight, so SameSite alone does not stop a
 *   link on another site from running `GetCredential` in the victim's tab.
 * - Hence Sec-Fetch-Site: a browser marks every request it makes with it, and only the console's own calls are
 *   "same-origin" (a sibling subdomain is "same-site", also refused). Where it is absent (an old browser, or a
 *   client that is not one), the Origin header must be the server's own; with neither the cookie is ignored.
 * - Connect only: gRPC-Web is reachable from a page too, and the console never uses it, nor gRPC.
 * - `__Host-` (Secure, Path=/, no Domain) so no other host of the site can set or shadow it; Secure is dropped
 *   only on plain http to a loopback host, so `npm start` works in a browser on 127.0.0.1.
 */

export const SECURE_COOKIE_NAME = "__Host-ec_session";
export const PLAIN_COOKIE_NAME = "ec_session";

export interface BrowserSessionPolicy {
  /** The listener's scheme: "https" with TLS configured, else "http". */
  scheme: "http" | "https";
  /** The server's own origin when ENGINE_CLOUD_PUBLIC_URL is set; else each request's scheme and Host stand for it. */
  publicOrigin?: string;
}

/** What the request says of where it was sent, as the transport saw it. */
export interface RequestSite {
  /** The Host header (or HTTP/2 :authority) as sent. */
  host?: string;
}

/** The credential a request presents: a bearer, or the session cookie when the rules allow it. */
export type PresentedCredential =
  | { token: string; via: "bearer" | "cookie" }
  /** Nothing usable; `refusal` says why a cookie that came was ignored. */
  | { token: undefined; via?: undefined; refusal?: DomainError };

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** The hostname of a Host header ("127.0.0.1:8080" → "127.0.0.1", "[::1]:80" → "[::1]"), lower-cased. */
function hostnameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.indexOf(":");
  return colon < 0 ? h : h.slice(0, colon);
}

/** The Connect protocol's content types (unary and streaming); a Connect GET has none. */
const CONNECT_CONTENT_TYPE = /^application\/(connect\+)?(json|proto)\s*(;|$)/i;

export interface BrowserSessions {
  /** What the request presents: its authorization header always wins; else the cookie, only if allowed. */
  credentialOf(header: Headers, site: RequestSite): PresentedCredential;
  /** The Set-Cookie value that hands a session to the browser, for as long as the session lives. */
  cookieFor(site: RequestSite, token: string, expiresAt: Date): string;
  /** The Set-Cookie value that removes it. */
  clearedCookie(site: RequestSite): string;
}

export function createBrowserSessions(policy: BrowserSessionPolicy, now: () => number = Date.now): BrowserSessions {
  // Behind a TLS proxy whose public URL is https the browser is on https, whatever Host the proxy sends us.
  const httpsPublic = policy.publicOrigin?.startsWith("https:") ?? false;
  /** Secure unless the request came over plain http to a loopback host. */
  const secure = (site: RequestSite) =>
    policy.scheme === "https" || httpsPublic || !site.host || !LOOPBACK_HOSTS.has(hostnameOf(site.host));
  const nameFor = (site: RequestSite) => (secure(site) ? SECURE_COOKIE_NAME : PLAIN_COOKIE_NAME);
  const attributes = (site: RequestSite) => `HttpOnly; SameSite=Lax; Path=/${secure(site) ? "; Secure" : ""}`;
  const ownOrigin = (site: RequestSite) => policy.publicOrigin ?? (site.host ? `${policy.scheme}://${site.host}` : undefined);

  const refusalOf = (header: Headers, site: RequestSite): DomainError | undefined => {
    const contentType = header.get("content-type");
    if (contentType !== null && !CONNECT_CONTENT_TYPE.test(contentType)) {
      return unauthenticated(
        ErrorReason.COOKIE_PROTOCOL_REFUSED,
        'the session cookie is accepted only on Connect calls of the console; send "authorization: Bearer <token>"',
      );
    }
    const fetchSite = header.get("sec-fetch-site");
    const origin = header.get("origin");
    const sameOrigin =
      fetchSite !== null
        ? fetchSite === "same-origin"
        : origin !== null && origin.toLowerCase() === ownOrigin(site)?.toLowerCase();
    if (sameOrigin) return undefined;
    return unauthenticated(
      ErrorReason.COOKIE_NOT_SAME_ORIGIN,
      "the session cookie was ignored: the request did not come from the console's own origin; " +
        'call from the console, or send "authorization: Bearer <token>"',
      { sec_fetch_site: fetchSite ?? "", origin: origin ?? "" },
    );
  };

  return {
    credentialOf(header, site) {
      const bearer = bearerOf(header);
      if (bearer) return { token: bearer, via: "bearer" };
      const cookie = cookieValue(header.get("cookie"), nameFor(site));
      if (!cookie) return { token: undefined };
      const refusal = refusalOf(header, site);
      return refusal ? { token: undefined, refusal } : { token: cookie, via: "cookie" };
    },
    cookieFor(site, token, expiresAt) {
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - now()) / 1000));
      return `${nameFor(site)}=${token}; Max-Age=${maxAge}; ${attributes(site)}`;
    },
    clearedCookie(site) {
      return `${nameFor(site)}=; Max-Age=0; ${attributes(site)}`;
    },
  };
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4: "a=1; b=2"); the first one if repeated. */
function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
