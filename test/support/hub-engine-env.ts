/**
 * The refresh engine's knobs as the hub's proofs set them (fault suite and
 * bench): 3-second access tokens, so W = min(15 min, half the lifetime) =
 * 1.5 s; a poll interval well inside W; the production lease (below, why);
 * a token call timeout under a third of the lease.
 */
export const TOKEN_TTL_S = 3;
export const WINDOW_MS = Math.min(15 * 60_000, (TOKEN_TTL_S * 1000) / 2);
export const POLL_MS = 200;
// A token call that outlives its timeout is an unknown outcome, and with rotating tokens a retry after one loses
// the grant (rotation_lost): the timeout must stay far above what a busy two-core machine running three servers,
// the authorization server and the runtimes takes for a call. At a load of 20–25, 2.9 s (a 9-s lease) was not
// enough for 50 connections, so the proofs use the production lease, 30 s (a 9.9-s timeout).
export const LEASE_MS = 30_000;

/** Under a third of the lease, as the server requires. */
export const TOKEN_TIMEOUT_MS = Math.floor(LEASE_MS / 3) - 100;
/**
 * The longest a SIGKILLed replica's claim waits for another replica, by the
 * engine's rule (store/connection-refresh.ts): its heartbeat lapses within the
 * live window (6 s), and a call it had marked must be a timeout and a second
 * old. A claim without a marked call is taken over with the heartbeat alone.
 */
export const DEAD_HOLDER_TAKEOVER_MS = 6_000 + TOKEN_TIMEOUT_MS + 1_000 + POLL_MS;

export const HUB_ENGINE_ENV: Record<string, string> = {
  ENGINE_CLOUD_HUB_POLL_MS: String(POLL_MS),
  ENGINE_CLOUD_HUB_LEASE_MS: String(LEASE_MS),
  ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS: String(TOKEN_TIMEOUT_MS),
};
