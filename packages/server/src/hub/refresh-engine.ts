import { randomUUID } from "node:crypto";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorReason, type OAuthProvider } from "@engine-cloud/api";
import type { Kysely } from "kysely";
import { openTokenSet, sealTokenSet, type SealedTokenSet } from "../crypto/hub-secrets.js";
import type { TenantKeys } from "../crypto/tenant-keys.js";
import { DomainError } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import {
  claimConnection,
  claimDueConnections,
  degradeConnectionsOfApp,
  lockClaimedConnection,
  markRefreshAttempt,
  releaseRefreshClaim,
  tenantsOnSharedApp,
  DATABASE_CLOCK,
  nowOn,
  type RefreshClock,
  writeNeedsReauth,
  writeRefreshDeferred,
  writeRefreshedTokens,
  type RefreshClaim,
} from "../store/connection-refresh.js";
import { findConnection, type ConnectionRow } from "../store/connections.js";
import { createTenantBatches } from "../store/tenant-batches.js";
import type { Database } from "../store/schema.js";
import { systemScope, withPlatform, withTenant, type TenantTx } from "../store/with-tenant.js";
import type { CredentialVault } from "../vault/credentials.js";
import { publishConnectionCredential, reauthorizeUrlOf } from "./connection-credential.js";
import { ownOAuthApp, providerFor, sharedOAuthApp } from "./oauth-apps.js";
import type { OutboundPolicy } from "./outbound-http.js";
import type { ProviderCatalog } from "./provider-catalog.js";
import { refreshInMs } from "./refresh-due.js";
import { createDueWakeups } from "./due-wakeups.js";
import { requestTokens, TokenEndpointError, tokenSetOf, type TokenAnswer } from "./token-endpoint.js";
import { fillProviderUrl } from "./url-template.js";

/** The refresh engine's settings (config.ts reads them from ENGINE_CLOUD_HUB_*). */
export interface RefreshEngineConfig {
  /** How often each process looks for due connections. */
  pollMs: number;
  /** How long a claim on one connection lasts; the token call's timeout is at most a third of it. */
  leaseMs: number;
  /** Connections claimed per poll, at most, by one process. */
  batchSize: number;
  /** Full-jitter exponential backoff after 429/5xx/network failures: base, doubling, capped. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Token calls in flight per provider per process, so a recovered provider is not stormed. */
  providerConcurrency: number;
  /** At most one runtime-reported (forced) refresh per connection within this. */
  cooldownMs: number;
  /** The longest a connection goes unrefreshed, whatever its token's lifetime (idle grants expire at some providers). */
  keepAliveMs: number;
}

export interface RefreshEngineDeps {
  db: Kysely<Database>;
  keys: TenantKeys;
  catalog: ProviderCatalog;
  vault: CredentialVault;
  log: Logger;
  outbound: OutboundPolicy;
  config: RefreshEngineConfig;
  /** This process, as the connections' lease names its holder (the server instance id). */
  holder: string;
  publicUrl(): string;
  /** The schedule's clock (default: the database's); tests move it ahead to drive days in seconds. */
  clock?: RefreshClock;
  /** Counts each refresh by its outcome (metrics/server-metrics.ts). */
  metrics?: Pick<ServerMetrics, "hubRefreshes">;
}

/** A refresh's result: the connection as it left it, and whether it holds a new token set. */
export interface RefreshOutcome {
  row: ConnectionRow;
  refreshed: boolean;
  /** The provider was asked and the refresh failed (the row's status and reason say how). */
  failed?: true;
}

const JOB = "system:oauth-refresh" as const;

export const connectionNeedsReauth = (row: ConnectionRow, publicUrl: string) =>
  new DomainError(
    "failed_precondition",
    ErrorReason.CONNECTION_NEEDS_REAUTH,
    `connection ${row.id} needs a person to connect the account again (${row.status_reason}${row.status_description ? `: ${row.status_description}` : ""})`,
    { connection_id: row.id, reauthorize_url: reauthorizeUrlOf(publicUrl, row.id) },
  );

export const connectionDisconnected = (id: string) =>
  new DomainError(
    "failed_precondition",
    ErrorReason.CONNECTION_DISCONNECTED,
    `connection ${id} is disconnected and holds no tokens; connect the account again`,
    { connection_id: id },
  );

const leaseHeldElsewhere = (id: string) =>
  new DomainError(
    "unavailable",
    ErrorReason.PROVIDER_UNAVAILABLE,
    `connection ${id} is being refreshed by another server; try again shortly`,
    {
      connection_id: id,
      retry_after_ms: "1000",
    },
  );

/** A counting gate per provider: at most `limit` token calls at once. */
function createProviderGates(limit: number) {
  const gates = new Map<string, { active: number; waiting: Array<() => void> }>();
  return async function gated<T>(provider: string, fn: () => Promise<T>): Promise<T> {
    let gate = gates.get(provider);
    if (!gate) gates.set(provider, (gate = { active: 0, waiting: [] }));
    const g = gate;
    if (g.active >= limit) await new Promise<void>((resolve) => g.waiting.push(resolve));
    g.active++;
    try {
      return await fn();
    } finally {
      g.active--;
      g.waiting.shift()?.();
      if (g.active === 0 && g.waiting.length === 0) gates.delete(provider);
    }
  };
}

/**
 * Claims a process works at once per provider, at most: twice the gate, so
 * one claim can be in its transactions while another is at the provider, but
 * no queue of claims another replica could be working (a replica just
 * started, still slow, would otherwise hoard a whole batch).
 */
const CLAIM_DEPTH = 2;

/**
 * A marker older than this when its call is let through the gate is renewed
 * first: a successor takes a dead holder's claim over a token timeout and a
 * second after the marker, so a call may not start much after it.
 */
const MARK_FRESH_MS = 500;

/** Commits of an answered refresh tried, 200 ms apart doubling: about 3 s, well inside any lease. */
const COMMIT_ATTEMPTS = 5;
const COMMIT_RETRY_BASE_MS = 200;

/** The claim was overtaken between the marker and the call: nothing was sent. */
class Overtaken extends Error {}

/**
 * The hub's refresh engine: keeps every connection's access token fresh
 * ahead of its expiry, exactly once across every server on the database.
 *
 * - Each process polls for due connections and claims a batch by a
 *   conditional UPDATE on the rows themselves (per-connection leases, not one
 *   global leased job: replicas share the load row by row, and one slow
 *   provider holds only its own connections). Forced refreshes (a person's,
 *   or a runtime's after a rejected token) claim the same lease.
 * - A per-process single-flight map in front of the lease: the poller and
 *   the forced refreshes of one connection share one refresh.
 * - Before each token call (the retry too), an attempt marker is committed
 *   under the claim; the call runs outside any transaction, under a timeout
 *   below a third of the lease; its result commits only if the claim's lease generation is
 *   still the connection's (the fence), the new token set first, in the same
 *   transaction as the credential runtimes receive (fan-out after commit).
 * - A holder that dies frees its claims once its heartbeat lapses and no
 *   call of its can be in flight (store/connection-refresh.ts), not at the
 *   end of the lease: with 3-second tokens a 30-s lease would leave them
 *   expired for ten lifetimes.
 * - Outcome unknown (no answer after sending, or a dead holder's marker):
 *   one retry with the same refresh token, then classify; invalid_grant then
 *   means the rotation was lost (NEEDS_REAUTH, `rotation_lost`). Never a loop.
 * - invalid_grant: re-read first (a newer generation or refresh token means a
 *   lost race, not a failure), else NEEDS_REAUTH at once, nothing scheduled.
 *   invalid_client: the app is misconfigured, its connections DEGRADED.
 * - 429/5xx/network: full-jitter exponential backoff honouring Retry-After;
 *   DEGRADED while the token is valid, STALE once it expired, ACTIVE again on
 *   success; never NEEDS_REAUTH.
 */
export function createRefreshEngine(deps: RefreshEngineDeps) {
  const { db, keys, vault, log, config } = deps;
  const inflight = new Map<string, Promise<RefreshOutcome>>();
  const gated = createProviderGates(config.providerConcurrency);
  const clock = deps.clock ?? DATABASE_CLOCK;
  /** Now on the engine's clock, for one statement. */
  const now = () => nowOn(clock);
  /** Claims in progress here, by provider (the poller claims around them). */
  const working = new Map<string, number>();
  /** A dead holder's claim is taken over once its marked call has surely ended: the timeout, and a second's margin. */
  const takeover = { attemptMs: deps.outbound.timeoutMs + 1000 };
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** This process polls again when a connection it refreshed is next due (hub/due-wakeups.ts). */
  const wakeups = createDueWakeups(() => void pollOnce());
  let polling = false;
  /** A refresh finished while a poll was running: poll once more after it. */
  let pollAgain = false;
  let started = false;

  const keyOf = (tenantId: string, id: string) => `${tenantId}/${id}`;

  /** Runs `work` for a connection unless a refresh of it is already in flight here, which it joins. */
  function singleFlight(tenantId: string, id: string, work: () => Promise<RefreshOutcome>): Promise<RefreshOutcome> {
    const key = keyOf(tenantId, id);
    const running = inflight.get(key);
    if (running) return running;
    const p = work()
      .then((outcome) => {
        // "refreshed", or where a refresh that brought nothing left the connection (active within a cooldown, degraded, …).
        deps.metrics?.hubRefreshes.inc({ outcome: outcome.refreshed ? "refreshed" : outcome.row.status });
        return outcome;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  /** Full jitter (AWS architecture blog): uniform in [0, min(cap, base·2^(n−1))]. */
  const backoffMs = (failures: number) =>
    Math.random() * Math.min(config.backoffCapMs, config.backoffBaseMs * 2 ** Math.max(0, failures - 1));

  const inTenant = <T>(tenantId: string, fn: (t: TenantTx) => Promise<T>) => withTenant(db, systemScope(tenantId, JOB), fn);
  /** Answered refreshes of one tenant committed together (store/tenant-batches.ts). */
  const commits = createTenantBatches(db, JOB);

  const tokensOf = async (t: TenantTx, row: ConnectionRow): Promise<SealedTokenSet | undefined> =>
    row.sealed_tokens
      ? openTokenSet(await keys.dataKey(t.tx, t.tenantId), t.tenantId, row.id, row.generation, row.sealed_tokens)
      : undefined;

  /** The credential follows every status change; an unchanged one is not rewritten (no revision for nothing). */
  async function publishIfChanged(t: TenantTx, before: ConnectionRow, after: ConnectionRow) {
    if (before.status === after.status && before.status_reason === after.status_reason) return;
    const tokens = await tokensOf(t, after);
    if (tokens) await publishConnectionCredential(vault, t, after, tokens, deps.publicUrl());
  }

  /** One refresh under a claim, counted in `working` while it runs. */
  async function refreshClaimed(claim: RefreshClaim): Promise<RefreshOutcome> {
    working.set(claim.provider, (working.get(claim.provider) ?? 0) + 1);
    try {
      return await refreshUnderClaim(claim);
    } finally {
      const n = (working.get(claim.provider) ?? 1) - 1;
      if (n > 0) working.set(claim.provider, n);
      else working.delete(claim.provider);
    }
  }

  /** Locks the claimed row and marks a call about to be sent; undefined once overtaken. */
  const markAttempt = (t: TenantTx, claim: RefreshClaim) =>
    lockClaimedConnection(t.tx, claim).then(async (row) => {
      if (row) await markRefreshAttempt(t.tx, now(), claim, randomUUID());
      return row;
    });

  /** Mark, call, classify, commit under the fence. */
  async function refreshUnderClaim(claim: RefreshClaim): Promise<RefreshOutcome> {
    // One transaction reads the row, its tokens and the tenant's own app, and marks the first call: a refresh is
    // this, the call, and the commit. The platform's shared app lives in another tenant: read after, in its own.
    const appError = (err: unknown) => (err instanceof DomainError ? err : new Error("the OAuth app could not be read"));
    const start = await inTenant(claim.tenantId, async (t) => {
      const row = await lockClaimedConnection(t.tx, claim);
      if (!row) return undefined;
      const tokens = await tokensOf(t, row);
      const own = await ownOAuthApp(t.tx, keys, deps.catalog, t.tenantId, claim.provider).catch(appError);
      // The app read names the provider (a custom one is defined by it); without one, the catalog's or none.
      const provider =
        own && !(own instanceof Error)
          ? own.provider
          : await providerFor(deps.catalog, t.tx, t.tenantId, row.provider).catch(() => undefined);
      const marked = Boolean(tokens?.refresh_token && provider && own && !(own instanceof Error));
      if (marked) await markRefreshAttempt(t.tx, now(), claim, randomUUID());
      return { row, tokens, provider, own, marked };
    });
    if (!start) return { row: await current(claim), refreshed: false };
    const { row, tokens, provider, own } = start;
    if (!tokens?.refresh_token || !provider) {
      // Nothing to refresh with (the provider sent no refresh token, or a custom provider's app is gone).
      return defer(claim, row, {
        reason: provider ? "no_refresh_token" : "provider_unknown",
        description: provider
          ? "the provider issued no refresh token; connect the account again to get one"
          : `the provider ${row.provider} is no longer defined in this tenant`,
        retryInMs: config.keepAliveMs,
        providerAskedWait: true,
      });
    }
    const app = own ?? (await sharedOAuthApp(db, keys, deps.catalog, claim.provider).catch(appError));
    if (app instanceof Error) {
      return defer(claim, row, {
        reason: "oauth_app_not_found",
        description: app.message,
        retryInMs: backoffMs(row.refresh_failures + 1),
        providerAskedWait: false,
      });
    }
    const tokenUrl = fillProviderUrl(provider.tokenUrl, provider, row.url_parameters);
    const grant = { grant_type: "refresh_token", refresh_token: tokens.refresh_token };
    // A dead holder's marker: its call may have rotated the token, so this call is already the one retry.
    let unknownOutcome = claim.priorAttempt;
    let retried = claim.priorAttempt;
    // Every call is marked first, under the fence (the first with the read above), and again if it waited at the
    // gate: overtaken, this holder sends nothing more.
    let markedAt = start.marked ? performance.now() : -Infinity;
    const remark = async () => {
      if (!(await inTenant(claim.tenantId, (t) => markAttempt(t, claim)))) throw new Overtaken();
      markedAt = performance.now();
    };
    for (;;) {
      let answer: TokenAnswer;
      try {
        answer = await gated(provider.id, async () => {
          if (performance.now() - markedAt > MARK_FRESH_MS) await remark();
          return requestTokens(tokenUrl, provider, app.client, grant, deps.outbound);
        });
      } catch (err) {
        if (err instanceof Overtaken) return inTenant(claim.tenantId, (t) => fencedOff(t, claim, row));
        if (!(err instanceof TokenEndpointError)) {
          log.warn("connection refresh failed", { tenant: claim.tenantId, connection: claim.id, cause: String(err) });
          return defer(claim, row, {
            reason: "internal",
            description: "the refresh could not be completed",
            retryInMs: backoffMs(row.refresh_failures + 1),
            providerAskedWait: false,
          });
        }
        log.info("connection refresh refused", {
          tenant: claim.tenantId,
          connection: claim.id,
          provider: row.provider,
          error: err.error,
          status: err.status ?? 0,
          outcome_unknown: unknownOutcome,
        });
        // No answer after the request went out: the provider may have rotated the refresh token. Once more, the same one.
        if (err.kind === "network" && !retried) {
          unknownOutcome = true;
          retried = true;
          await sleep(Math.min(1000, config.backoffBaseMs));
          markedAt = -Infinity;
          continue;
        }
        if (err.kind === "invalid_grant") return grantRefused(claim, row, tokens, err, unknownOutcome);
        if (err.kind === "invalid_client") return appRejected(claim, row, err);
        return defer(claim, row, {
          reason: err.error,
          description: err.description,
          retryInMs: err.retryAfterMs ?? backoffMs(row.refresh_failures + 1),
          providerAskedWait: err.retryAfterMs !== undefined,
        });
      }
      return commitAnswered(claim, row, provider, tokens, answer);
    }
  }

  /**
   * The provider answered with a new token set, and may have spent the old
   * refresh token: the set must be committed, not dropped. A commit that
   * fails (a statement timeout on a loaded database) is tried again within
   * the lease; if it never succeeds the attempt marker stays, so whoever
   * claims the connection next treats the outcome as unknown (one retry, then
   * rotation_lost) instead of a plain failure.
   */
  async function commitAnswered(
    claim: RefreshClaim,
    before: ConnectionRow,
    provider: OAuthProvider,
    previous: SealedTokenSet,
    answer: TokenAnswer,
  ): Promise<RefreshOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        // With the tenant's other answered refreshes first (one revision lock and flush for all); alone if retried.
        const work = (t: TenantTx) => commitTokens(t, claim, before, provider, previous, answer);
        return await (attempt === 1 ? commits.run(claim.tenantId, work) : commits.alone(claim.tenantId, work));
      } catch (err) {
        const cause = String(err);
        if (attempt >= COMMIT_ATTEMPTS) {
          log.error("refreshed tokens could not be stored; the next claim treats the outcome as unknown", {
            tenant: claim.tenantId,
            connection: claim.id,
            cause,
          });
          throw err;
        }
        log.warn("storing refreshed tokens failed; trying again", {
          tenant: claim.tenantId,
          connection: claim.id,
          attempt,
          cause,
        });
        await sleep(COMMIT_RETRY_BASE_MS * 2 ** (attempt - 1));
      }
    }
  }

  async function current(claim: Pick<RefreshClaim, "tenantId" | "id">): Promise<ConnectionRow> {
    const row = await inTenant(claim.tenantId, (t) => findConnection(t.tx, claim.tenantId, claim.id));
    if (!row) throw new Error(`connection ${claim.id} vanished`);
    return row;
  }

  /** Overtaken: a successor claimed the connection after this claim's lease lapsed (or a reconnect replaced the grant). Its work decides. */
  async function fencedOff(t: TenantTx, claim: RefreshClaim, before: ConnectionRow): Promise<RefreshOutcome> {
    log.warn("connection refresh fenced off", { tenant: claim.tenantId, connection: claim.id });
    return { row: (await findConnection(t.tx, claim.tenantId, claim.id)) ?? before, refreshed: false };
  }

  /** The new token set, first: committed only under the claim, with the credential runtimes receive. */
  async function commitTokens(
    t: TenantTx,
    claim: RefreshClaim,
    before: ConnectionRow,
    provider: OAuthProvider,
    previous: SealedTokenSet,
    answer: TokenAnswer,
  ): Promise<RefreshOutcome> {
    const set = tokenSetOf(provider, answer);
    const row = await lockClaimedConnection(t.tx, claim);
    if (!row) return fencedOff(t, claim, before);
    const generation = row.generation + 1;
    const sealed: SealedTokenSet = {
      access_token: set.accessToken,
      // A response without a refresh token keeps the previous one (RFC 6749 §6).
      refresh_token: set.refreshToken ?? previous.refresh_token,
      token_type: set.tokenType,
    };
    const lifetimeMs = set.lifetimeSeconds * 1000;
    // What is left of it now, this statement's now being the base of the expiry written.
    const leftMs = Math.max(0, set.expiresAt.getTime() - Date.now());
    const nextMs = refreshInMs(lifetimeMs, leftMs, config.keepAliveMs);
    const updated = await writeRefreshedTokens(t.tx, now(), claim, {
      sealedTokens: sealTokenSet(await keys.dataKey(t.tx, t.tenantId), t.tenantId, row.id, generation, sealed),
      generation,
      expiresInMs: leftMs,
      nextRefreshInMs: nextMs,
      scopes: set.scopes,
      metadata: { ...row.metadata, ...set.metadata },
      actor: JOB,
    });
    await publishConnectionCredential(vault, t, updated, sealed, deps.publicUrl());
    t.afterCommit(() => wakeups.at(nextMs));
    // How late against its schedule, and where the time went: the figures a refresh that came too late is read by.
    t.afterCommit(() =>
      log.debug("connection refreshed", {
        tenant: claim.tenantId,
        connection: claim.id,
        generation,
        due_at: claim.dueAt?.toISOString() ?? "",
        sent_at: new Date(answer.sentAtMs).toISOString(),
        answered_ms: answer.receivedAtMs - answer.sentAtMs,
        left_ms: Math.round(leftMs),
      }),
    );
    return { row: updated, refreshed: true };
  }

  /** A transient failure: back off, DEGRADED or STALE, never NEEDS_REAUTH. */
  function defer(
    claim: RefreshClaim,
    before: ConnectionRow,
    w: { reason: string; description: string; retryInMs: number; providerAskedWait: boolean },
  ): Promise<RefreshOutcome> {
    return inTenant(claim.tenantId, async (t) => {
      const row = await lockClaimedConnection(t.tx, claim);
      if (!row) return fencedOff(t, claim, before);
      const updated = await writeRefreshDeferred(t.tx, now(), claim, { ...w, actor: JOB });
      await publishIfChanged(t, row, updated);
      return { row: updated, refreshed: false, failed: true };
    });
  }

  /** invalid_grant: a lost race keeps everything; else the grant is gone, now. */
  function grantRefused(
    claim: RefreshClaim,
    before: ConnectionRow,
    used: SealedTokenSet,
    err: TokenEndpointError,
    unknownOutcome: boolean,
  ): Promise<RefreshOutcome> {
    return inTenant(claim.tenantId, async (t) => {
      const row = await lockClaimedConnection(t.tx, claim);
      if (!row) return fencedOff(t, claim, before);
      const stored = await tokensOf(t, row);
      if (row.generation !== before.generation || stored?.refresh_token !== used.refresh_token) {
        await releaseRefreshClaim(t.tx, now(), claim);
        return { row, refreshed: false };
      }
      const updated = await writeNeedsReauth(t.tx, now(), claim, {
        reason: unknownOutcome ? "rotation_lost" : err.error,
        description: err.description,
        actor: JOB,
      });
      await publishIfChanged(t, row, updated);
      log.warn("connection needs reauthorization", {
        tenant: claim.tenantId,
        connection: claim.id,
        provider: row.provider,
        reason: updated.status_reason,
      });
      return { row: updated, refreshed: false, failed: true };
    });
  }

  /**
   * invalid_client / unauthorized_client: the app, not the grant; every
   * connection of it DEGRADED — of every tenant, for the platform's shared app
   * (each tenant in a transaction of its own, after this one's).
   */
  async function appRejected(claim: RefreshClaim, before: ConnectionRow, err: TokenEndpointError): Promise<RefreshOutcome> {
    const outcome = await appRejectedHere(claim, before, err);
    if (!before.shared_app) return outcome;
    const w = { reason: err.error, description: err.description, actor: JOB };
    const tenants = await withPlatform(db, { actor: { kind: "system", job: JOB } }, ({ tx }) =>
      tenantsOnSharedApp(tx, before.provider, claim.tenantId),
    );
    for (const tenantId of tenants) {
      await inTenant(tenantId, (t) => degradeAndPublish(t, { provider: before.provider, sharedApp: true }, w)).catch(
        (cause: unknown) =>
          log.warn("degrading a shared app's connections failed", {
            tenant: tenantId,
            provider: before.provider,
            cause: String(cause),
          }),
      );
    }
    return outcome;
  }

  /** Degrades a tenant's other connections of the app and tells its runtimes. */
  async function degradeAndPublish(
    t: TenantTx,
    app: { provider: string; sharedApp: boolean; except?: string },
    w: { reason: string; description: string; actor: string },
  ) {
    for (const other of await degradeConnectionsOfApp(t.tx, now(), t.tenantId, app, w)) {
      const tokens = await tokensOf(t, other);
      if (tokens) await publishConnectionCredential(vault, t, other, tokens, deps.publicUrl());
    }
  }

  function appRejectedHere(claim: RefreshClaim, before: ConnectionRow, err: TokenEndpointError): Promise<RefreshOutcome> {
    return inTenant(claim.tenantId, async (t) => {
      const row = await lockClaimedConnection(t.tx, claim);
      if (!row) return fencedOff(t, claim, before);
      const w = { reason: err.error, description: err.description, actor: JOB };
      const updated = await writeRefreshDeferred(t.tx, now(), claim, {
        ...w,
        retryInMs: backoffMs(row.refresh_failures + 1),
        providerAskedWait: false,
      });
      await publishIfChanged(t, row, updated);
      await degradeAndPublish(t, { provider: row.provider, sharedApp: row.shared_app, except: row.id }, w);
      log.warn("oauth app rejected by the provider", { tenant: claim.tenantId, provider: row.provider, error: err.error });
      return { row: updated, refreshed: false, failed: true };
    });
  }

  /**
   * Claims what is due and refreshes each, without waiting for one before the
   * next, per provider no deeper than CLAIM_DEPTH times its gate. A poll that
   * filled its room polls again as its refreshes finish, so the pace is the
   * providers', not the poll interval's.
   */
  async function pollOnce(): Promise<number> {
    if (closed) return 0;
    if (polling) {
      pollAgain = true;
      return 0;
    }
    polling = true;
    try {
      const room = config.batchSize - inflight.size;
      if (room <= 0) return 0;
      const busy = Object.fromEntries(working);
      const depth = CLAIM_DEPTH * config.providerConcurrency;
      const claims = await withPlatform(db, { actor: { kind: "system", job: JOB } }, ({ tx }) =>
        claimDueConnections(tx, now(), deps.holder, config.leaseMs, room, {
          ...takeover,
          perProvider: depth,
          busy,
        }),
      );
      const claimed = new Map<string, number>();
      for (const c of claims) claimed.set(c.provider, (claimed.get(c.provider) ?? 0) + 1);
      const full = claims.length >= room || [...claimed].some(([provider, n]) => n >= depth - (busy[provider] ?? 0));
      for (const claim of claims) {
        singleFlight(claim.tenantId, claim.id, () => refreshClaimed(claim))
          .catch((err: unknown) =>
            log.warn("connection refresh failed", { tenant: claim.tenantId, connection: claim.id, cause: String(err) }),
          )
          .finally(() => {
            if (full) void pollOnce();
          });
      }
      return claims.length;
    } catch (err) {
      log.warn("claiming due connections failed", { cause: String(err) });
      return 0;
    } finally {
      polling = false;
      if (pollAgain && !closed) {
        pollAgain = false;
        setImmediate(() => void pollOnce());
      }
    }
  }

  /**
   * A forced refresh now. `cooldown`: the runtime path, at most one per
   * connection per cooldownMs (a call within it gets the current state,
   * refreshed = false). Throws for a connection the engine cannot refresh.
   */
  async function refreshNow(tenantId: string, id: string, opts: { cooldown: boolean }): Promise<RefreshOutcome> {
    return singleFlight(tenantId, id, async () => {
      const claim = await inTenant(tenantId, (t) =>
        claimConnection(t.tx, now(), tenantId, id, deps.holder, config.leaseMs, opts.cooldown ? config.cooldownMs : undefined),
      );
      if (claim) return refreshClaimed(claim);
      const row = await current({ tenantId, id });
      if (row.status === "disconnected") throw connectionDisconnected(id);
      if (row.status === "needs_reauth") throw connectionNeedsReauth(row, deps.publicUrl());
      const leased =
        row.refresh_holder !== null &&
        row.refresh_lease_until !== null &&
        row.refresh_lease_until.getTime() > Date.now() + clock.aheadMs();
      if (leased && !opts.cooldown) throw leaseHeldElsewhere(id);
      return { row, refreshed: false };
    });
  }

  function schedule() {
    if (closed) return;
    timer = setTimeout(() => {
      void pollOnce().finally(schedule);
    }, config.pollMs);
    timer.unref();
  }

  return {
    refreshNow,
    pollOnce,
    start() {
      if (started) return;
      started = true;
      schedule();
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      wakeups.close();
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

export type RefreshEngine = ReturnType<typeof createRefreshEngine>;
