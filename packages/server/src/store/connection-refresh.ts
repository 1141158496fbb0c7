import { sql, type RawBuilder, type UpdateObject } from "kysely";
import type { ConnectionRow } from "./connections.js";
import type { ConnectionStatusColumn, Database, Tx } from "./schema.js";
import { LIVE_WINDOW_MS } from "./server-instances.js";

/**
 * The refresh engine's statements (hub/refresh-engine.ts). Each connection is
 * its own lease, claimed by a conditional UPDATE on the connection row: the
 * lease is free once refresh_lease_until has passed (database clock), the
 * claim sets the holder and bumps refresh_lease_generation, and every later
 * write of the refresh is fenced on that generation, so a holder that stalled
 * past its lease and was overtaken commits nothing.
 *
 * A holder that died (its server instance's heartbeat lapsed) frees its
 * claims before their lease runs out, as soon as no token call of its can
 * still be in flight: with no attempt marker (it never asked the provider,
 * and being fenced it never will), or one older than a token call's timeout.
 * The lease itself only bounds a live holder that stalled.
 */

/** A connection as one holder claimed it for one refresh. */
export interface RefreshClaim {
  tenantId: string;
  id: string;
  holder: string;
  /** The connection's provider id (the refresh engine's per-provider gate). */
  provider: string;
  /** The fencing generation of this claim. */
  leaseGeneration: number;
  /** A previous holder marked a token request and never finished it: its outcome is unknown. */
  priorAttempt: boolean;
  /** When the refresh was due (null for a forced one of a connection with nothing scheduled). */
  dueAt: Date | null;
}

/** The statuses the engine refreshes; NEEDS_REAUTH and DISCONNECTED wait for a person. */
export const REFRESHABLE: readonly ConnectionStatusColumn[] = ["active", "degraded", "stale"];

/**
 * The refresh engine's clock: the database's now() — one clock for every
 * replica — ahead by `aheadMs`, which is 0 in a server; a test drives days
 * of schedule in seconds with it (createApp's hubClock). Every time the
 * schedule and the leases compare or write is on it; heartbeats are not
 * (they are the processes' real liveness).
 */
export interface RefreshClock {
  aheadMs(): number;
}
export const DATABASE_CLOCK: RefreshClock = { aheadMs: () => 0 };

/** A statement's now on the engine's clock. */
export type Now = RawBuilder<Date>;
export const nowOn = (clock: RefreshClock): Now => sql<Date>`(now() + ${clock.aheadMs()} * interval '1 millisecond')`;

const leaseFor = (now: Now, ms: number) => sql<Date>`${now} + ${ms} * interval '1 millisecond'`;
const fromNow = (now: Now, ms: number) => sql<Date>`${now} + ${Math.max(0, Math.round(ms))} * interval '1 millisecond'`;

interface ClaimedRow {
  tenant_id: string;
  id: string;
  provider: string;
  refresh_lease_generation: string | number;
  prior_attempt: boolean;
  next_refresh_at: Date | string | null;
}

const claimOf =
  (holder: string) =>
  (r: ClaimedRow): RefreshClaim => ({
    tenantId: r.tenant_id,
    id: r.id,
    provider: r.provider,
    holder,
    leaseGeneration: Number(r.refresh_lease_generation),
    priorAttempt: r.prior_attempt,
    dueAt: r.next_refresh_at === null ? null : new Date(r.next_refresh_at),
  });

/**
 * A claim whose holder is gone: no live heartbeat (server_instances, the owner's
 * table: only the poller, on the owner connection, takes claims over) and no
 * token call of its possibly in flight — none marked, or the mark older than
 * `attemptMs` (a call's timeout and a margin: the holder marks each call just
 * before sending it, and abandons it at its timeout).
 */
const holderGone = (now: Now, attemptMs: number) => sql<boolean>`(
  NOT EXISTS (SELECT 1 FROM server_instances s
               WHERE s.id::text = connections.refresh_holder
                 AND s.heartbeat_at > now() - ${LIVE_WINDOW_MS} * interval '1 millisecond')
  AND (refresh_attempt_at IS NULL OR refresh_attempt_at < ${now} - ${attemptMs} * interval '1 millisecond'))`;

/**
 * Claims up to `limit` due connections of every tenant (owner connection: the
 * poller works across tenants), the ones due longest first: free ones, and
 * those of a dead holder (`holderGone`); per provider no more than
 * `perProvider` less what this process has `busy` with it already. SKIP
 * LOCKED lets replicas polling at the same moment take different rows
 * instead of queueing on each other's.
 */
export async function claimDueConnections(
  tx: Tx,
  now: Now,
  holder: string,
  leaseMs: number,
  limit: number,
  o: { attemptMs: number; perProvider: number; busy: Record<string, number> },
): Promise<RefreshClaim[]> {
  // The ranking reads without locks (window functions cannot be locked); the locking select re-checks the row.
  const due = sql`next_refresh_at <= ${now}
               AND status IN ('active', 'degraded', 'stale')
               AND (refresh_lease_until IS NULL OR refresh_lease_until < ${now} OR ${holderGone(now, o.attemptMs)})`;
  const { rows } = await sql<ClaimedRow>`
    UPDATE connections c
       SET refresh_holder = ${holder},
           refresh_lease_until = ${leaseFor(now, leaseMs)},
           refresh_lease_generation = c.refresh_lease_generation + 1
      FROM (SELECT tenant_id, id FROM connections
             WHERE ${due}
               AND (tenant_id, id) IN (
                 SELECT tenant_id, id FROM (
                   SELECT tenant_id, id, provider,
                          row_number() OVER (PARTITION BY provider ORDER BY next_refresh_at) AS rank
                     FROM connections WHERE ${due}) ranked
                  WHERE rank <= ${o.perProvider} - coalesce((${JSON.stringify(o.busy)}::jsonb ->> provider)::int, 0))
             ORDER BY next_refresh_at
             LIMIT ${limit}
             FOR UPDATE SKIP LOCKED) due
     WHERE c.tenant_id = due.tenant_id AND c.id = due.id
    RETURNING c.tenant_id, c.id, c.provider, c.refresh_lease_generation, c.refresh_attempt_id IS NOT NULL AS prior_attempt,
              c.next_refresh_at`.execute(tx);
  return rows.map(claimOf(holder));
}

/**
 * Claims one connection now, whatever its schedule (a forced refresh), if
 * its lease is free and it is refreshable. With `cooldownMs`, only if no
 * forced refresh was claimed within it, and this claim starts a new cooldown.
 */
export async function claimConnection(
  tx: Tx,
  now: Now,
  tenantId: string,
  id: string,
  holder: string,
  leaseMs: number,
  cooldownMs?: number,
): Promise<RefreshClaim | undefined> {
  const cooldown =
    cooldownMs === undefined
      ? sql`true`
      : sql`(last_forced_refresh_at IS NULL OR last_forced_refresh_at <= ${now} - ${cooldownMs} * interval '1 millisecond')`;
  const forced = cooldownMs === undefined ? sql`last_forced_refresh_at` : now;
  const { rows } = await sql<ClaimedRow>`
    UPDATE connections
       SET refresh_holder = ${holder},
           refresh_lease_until = ${leaseFor(now, leaseMs)},
           refresh_lease_generation = refresh_lease_generation + 1,
           last_forced_refresh_at = ${forced}
     WHERE tenant_id = ${tenantId} AND id = ${id}
       AND status IN ('active', 'degraded', 'stale')
       AND sealed_tokens IS NOT NULL
       AND (refresh_lease_until IS NULL OR refresh_lease_until < ${now})
       AND ${cooldown}
    RETURNING tenant_id, id, provider, refresh_lease_generation, refresh_attempt_id IS NOT NULL AS prior_attempt, next_refresh_at`.execute(
    tx,
  );
  return rows.map(claimOf(holder))[0];
}

/** The claimed connection, locked, while the claim is still the current one (the fence); else undefined. */
export async function lockClaimedConnection(tx: Tx, claim: RefreshClaim): Promise<ConnectionRow | undefined> {
  return tx
    .selectFrom("connections")
    .selectAll()
    .where("tenant_id", "=", claim.tenantId)
    .where("id", "=", claim.id)
    .where("refresh_lease_generation", "=", claim.leaseGeneration)
    .forUpdate()
    .executeTakeFirst();
}

/** Marks the token request about to be sent (each one, the retry too), so a successor knows its outcome may be unknown. */
export async function markRefreshAttempt(tx: Tx, now: Now, claim: RefreshClaim, attemptId: string): Promise<void> {
  await updateClaimed(tx, claim, { refresh_attempt_id: attemptId, refresh_attempt_at: now }).execute();
}

/** What a successful refresh writes; times are from now on the database's clock. */
export interface RefreshedTokens {
  sealedTokens: Uint8Array;
  generation: number;
  /** The access token's time left from this statement's now: its expiry, as the engine reckons it conservatively. */
  expiresInMs: number;
  nextRefreshInMs: number | null;
  scopes?: string[];
  metadata: Record<string, string>;
  actor: string;
}

const releasedAt = (now: Now) => ({
  refresh_holder: null,
  refresh_lease_until: now,
  refresh_attempt_id: null,
  refresh_attempt_at: null,
});

/** DEGRADED while the access token is still valid, STALE once it has expired (database clock). */
const degradedOrStale = (now: Now) =>
  sql<ConnectionStatusColumn>`CASE WHEN access_expires_at > ${now} THEN 'degraded' ELSE 'stale' END`;

/** The claimed row only while the claim is current (the fence); a write outside the claim fails the transaction. */
function updateClaimed(tx: Tx, claim: RefreshClaim, values: UpdateObject<Database, "connections">) {
  return tx
    .updateTable("connections")
    .set(values)
    .where("tenant_id", "=", claim.tenantId)
    .where("id", "=", claim.id)
    .where("refresh_lease_generation", "=", claim.leaseGeneration);
}

/** The new token set, committed under the claim (call lockClaimedConnection first); releases the lease. */
export async function writeRefreshedTokens(tx: Tx, now: Now, claim: RefreshClaim, w: RefreshedTokens): Promise<ConnectionRow> {
  return updateClaimed(tx, claim, {
    ...releasedAt(now),
    status: "active",
    status_reason: "",
    status_description: "",
    sealed_tokens: w.sealedTokens,
    generation: w.generation,
    access_expires_at: fromNow(now, w.expiresInMs),
    last_refresh_at: now,
    next_refresh_at: w.nextRefreshInMs === null ? null : fromNow(now, w.nextRefreshInMs),
    metadata: JSON.stringify(w.metadata),
    ...(w.scopes ? { scopes: w.scopes } : {}),
    refresh_failures: 0,
    updated_at: sql`now()`,
    updated_by: w.actor,
  })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * A refresh that failed for now (429, 5xx, network, a rejected app): DEGRADED
 * while the access token is still valid, STALE once it has expired; the next
 * attempt after `retryInMs`, but no later than the expiry (so the status turns
 * STALE on time) unless the provider asked for the wait (Retry-After).
 */
export async function writeRefreshDeferred(
  tx: Tx,
  now: Now,
  claim: RefreshClaim,
  w: { reason: string; description: string; retryInMs: number; providerAskedWait: boolean; actor: string },
): Promise<ConnectionRow> {
  const next = w.providerAskedWait
    ? fromNow(now, w.retryInMs)
    : sql<Date>`least(${fromNow(now, w.retryInMs)}, greatest(access_expires_at, ${now}))`;
  return updateClaimed(tx, claim, {
    ...releasedAt(now),
    status: degradedOrStale(now),
    status_reason: w.reason,
    status_description: w.description,
    next_refresh_at: next,
    refresh_failures: sql`refresh_failures + 1`,
    updated_at: sql`now()`,
    updated_by: w.actor,
  })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The grant is gone: NEEDS_REAUTH, nothing scheduled, the sealed tokens kept for diagnosis. */
export async function writeNeedsReauth(
  tx: Tx,
  now: Now,
  claim: RefreshClaim,
  w: { reason: string; description: string; actor: string },
): Promise<ConnectionRow> {
  return updateClaimed(tx, claim, {
    ...releasedAt(now),
    status: "needs_reauth",
    status_reason: w.reason,
    status_description: w.description,
    next_refresh_at: null,
    updated_at: sql`now()`,
    updated_by: w.actor,
  })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Gives the claim up with nothing changed (a lost race: someone else's newer tokens stand). */
export async function releaseRefreshClaim(tx: Tx, now: Now, claim: RefreshClaim): Promise<void> {
  await updateClaimed(tx, claim, releasedAt(now)).execute();
}

/**
 * The provider rejected the app itself: every other live connection of the
 * tenant made with the same app turns DEGRADED (STALE if expired) with the
 * reason; their schedules stand, so they recover on their own once the app
 * is fixed (sooner: setting the app makes them due, retryConnectionsOfApp).
 * A shared app's connections in other tenants: once per tenant
 * (tenantsOnSharedApp). The ones that changed are returned.
 */
export async function degradeConnectionsOfApp(
  tx: Tx,
  now: Now,
  tenantId: string,
  app: { provider: string; sharedApp: boolean; except?: string },
  w: { reason: string; description: string; actor: string },
): Promise<ConnectionRow[]> {
  let q = tx
    .updateTable("connections")
    .set({
      status: degradedOrStale(now),
      status_reason: w.reason,
      status_description: w.description,
      updated_at: sql`now()`,
      updated_by: w.actor,
    })
    .where("tenant_id", "=", tenantId)
    .where("provider", "=", app.provider)
    .where("shared_app", "=", app.sharedApp)
    .where("status", "in", REFRESHABLE)
    .where((eb) => eb.or([eb("status_reason", "<>", w.reason), eb("status", "=", "active")]));
  if (app.except !== undefined) q = q.where("id", "<>", app.except);
  return q.returningAll().execute();
}

/**
 * The tenants with live connections made with the platform's shared app for
 * `provider` (owner connection: a shared app's connections are in every
 * tenant that uses it).
 */
export async function tenantsOnSharedApp(tx: Tx, provider: string, exceptTenant: string): Promise<string[]> {
  const rows = await tx
    .selectFrom("connections")
    .select("tenant_id")
    .distinct()
    .where("provider", "=", provider)
    .where("shared_app", "=", true)
    .where("tenant_id", "<>", exceptTenant)
    .where("status", "in", REFRESHABLE)
    .execute();
  return rows.map((r) => r.tenant_id);
}

/** The reasons a provider gives for refusing the app itself (RFC 6749 §5.2): the app, not the grant, is at fault. */
export const APP_REJECTED_REASONS = ["invalid_client", "unauthorized_client"] as const;

/**
 * An app was set again (a new secret, a fixed client id): its connections the
 * provider had refused for the app's sake are due now, so they come back as
 * soon as the engine polls rather than at their old schedule. `tenantId`
 * confines it to one tenant's own app; without it (owner connection), every
 * tenant's connections made with the platform's shared app.
 */
export async function retryConnectionsOfApp(
  tx: Tx,
  app: { tenantId?: string; provider: string; sharedApp: boolean },
): Promise<number> {
  let q = tx
    .updateTable("connections")
    .set({ next_refresh_at: sql`now()` })
    .where("provider", "=", app.provider)
    .where("shared_app", "=", app.sharedApp)
    .where("status", "in", ["degraded", "stale"])
    .where("status_reason", "in", APP_REJECTED_REASONS);
  if (app.tenantId !== undefined) q = q.where("tenant_id", "=", app.tenantId);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Removes connect flows past their expiry by more than `retentionMs`, finished or not (owner connection, every tenant). */
export async function purgeExpiredOAuthFlows(tx: Tx, retentionMs: number, limit: number): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    WITH gone AS (
      DELETE FROM oauth_flows f USING (
        SELECT tenant_id, id FROM oauth_flows
         WHERE expires_at < now() - ${retentionMs} * interval '1 millisecond'
         ORDER BY expires_at LIMIT ${limit}) old
       WHERE f.tenant_id = old.tenant_id AND f.id = old.id
      RETURNING 1)
    SELECT count(*) AS n FROM gone`.execute(tx);
  return Number(rows[0]?.n ?? 0);
}
