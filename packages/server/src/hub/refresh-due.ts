/**
 * When a fresh token set should next be refreshed: W = min(15 min, half the
 * issued lifetime) before expiry (research note §5 #1; Nango and Activepieces
 * use 15 min, which short-lived tokens must cap). The refresh engine works
 * connections by this due time (connections.next_refresh_at, indexed) and adds
 * its own jitter when it reschedules.
 */
export const MAX_REFRESH_WINDOW_MS = 15 * 60_000;

export function refreshWindowMs(lifetimeSeconds: number): number {
  return Math.min(MAX_REFRESH_WINDOW_MS, (lifetimeSeconds * 1000) / 2);
}

/**
 * The first refresh of a token just issued: W before its expiry, but no
 * later than `keepAliveMs` from `now` — an idle grant must be used at least
 * that often (Google, Xero and Salesforce end idle grants), whatever the
 * access token's lifetime.
 */
export function refreshDueAt(expiresAt: Date, lifetimeSeconds: number, keepAliveMs: number, now = new Date()): Date {
  return new Date(Math.min(expiresAt.getTime() - refreshWindowMs(lifetimeSeconds), now.getTime() + keepAliveMs));
}
