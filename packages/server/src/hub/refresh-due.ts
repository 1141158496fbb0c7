/**
 * When a fresh token set should next be refreshed: W = min(15 min, half the
 * issued lifetime) before expiry (research note §5 #1; Nango and Activepieces
 * use 15 min, which short-lived tokens must cap), plus a jitter of up to a
 * fifth of W, earlier only. The engine works connections by this due time
 * (connections.next_refresh_at, indexed).
 *
 * Why earlier only: the jitter is there to spread connections made or
 * refreshed together (providers stamp expiries in whole seconds, so a bulk
 * connect falls due in one burst). A later jitter would eat into the margin
 * the hub promises runtimes (a fresh token before expiry − W/2): with ±10 %,
 * a refresh had W/2 − 10 % of W to be claimed, sent, answered, committed and
 * fanned out; with 0…+20 % earlier it has at least W/2, at the price of about
 * one refresh in ten more over a token's life.
 */
export const MAX_REFRESH_WINDOW_MS = 15 * 60_000;

/** The jitter's width, as a share of W: a refresh comes W to W·(1 + this) before expiry. */
export const REFRESH_JITTER = 0.2;

export function refreshWindowMs(lifetimeSeconds: number): number {
  return Math.min(MAX_REFRESH_WINDOW_MS, (lifetimeSeconds * 1000) / 2);
}

/** How long before expiry to refresh a token issued for `lifetimeMs`: W and a uniform jitter of 0…20 % of W. */
export function refreshLeadMs(lifetimeMs: number, random = Math.random()): number {
  return Math.round(refreshWindowMs(lifetimeMs / 1000) * (1 + REFRESH_JITTER * random));
}

/**
 * In how long to refresh a token with `leftMs` left of a lifetime of
 * `lifetimeMs`: its lead before expiry, but no later than `keepAliveMs` — an
 * idle grant must be used at least that often (Google, Xero and Salesforce
 * end idle grants), whatever the access token's lifetime.
 */
export function refreshInMs(lifetimeMs: number, leftMs: number, keepAliveMs: number, random = Math.random()): number {
  return Math.max(0, Math.min(keepAliveMs, leftMs - refreshLeadMs(lifetimeMs, random)));
}

/** The first refresh of a token just issued, as a time. */
export function refreshDueAt(
  expiresAt: Date,
  lifetimeSeconds: number,
  keepAliveMs: number,
  now = new Date(),
  random = Math.random(),
): Date {
  const leftMs = expiresAt.getTime() - now.getTime();
  return new Date(now.getTime() + refreshInMs(lifetimeSeconds * 1000, leftMs, keepAliveMs, random));
}
