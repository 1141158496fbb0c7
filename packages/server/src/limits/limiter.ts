import type { Kysely } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import type { Caller } from "../auth/caller.js";
import { retryLater } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import {
  addToCounters,
  dropIdleCounters,
  dropStreamCounts,
  othersStreamCounts,
  replaceStreamCounts,
} from "../store/limit-counters.js";
import { forgetOldFailedSignIns } from "../store/login-lockouts.js";
import type { Database } from "../store/schema.js";
import { RateBucket } from "./rate-bucket.js";
import type { LimitName, TenantLimits } from "./tenant-limits.js";

/** A bucket unused this long is full again: forgetting it loses nothing. */
const IDLE_BUCKET_MS = 10_000;
/** Shared counters untouched this long are deleted (about once a minute). */
const IDLE_COUNTER_MS = 3_600_000;
const PURGE_EVERY_FLUSHES = 60;
/** Failed sign-ins with no other for a day are forgotten (made-up emails would otherwise pile up). */
const FORGET_SIGN_IN_FAILURES_MS = 24 * 3_600_000;
/** A freed stream slot is a stream closing somewhere: a hint, not a promise. */
const STREAM_RETRY_MS = 5_000;

export interface LimiterDeps {
  db: Kysely<Database>;
  log: Logger;
  /** This process, as it heartbeats in server_instances (the change feed's instance id). */
  instanceId: string;
  flushMs: number;
  /** A tenant's effective limits; must be cheap (cached), it runs on every request. */
  limitsOf(tenantId: string): Promise<TenantLimits>;
}

/** What a credential and its tenant are using now, for TenantService.GetTenantLimits. */
export interface StreamUsage {
  tokenStreams: number;
  tenantStreams: number;
}

export interface Limiter {
  /** Admits one request by `caller` in `tenantId`, or throws RATE_LIMITED with when to retry. In memory only. */
  admitRequest(caller: Caller, tenantId: string): Promise<void>;
  /**
   * Takes a stream slot of the call's credential and tenant, or throws
   * STREAM_LIMIT; returns its release (idempotent). Called by both Watch paths
   * right after the access check.
   */
  openStream(ctx: StreamOpener): Promise<() => void>;
  streamUsage(caller: Caller, tenantId: string): StreamUsage;
  /** Pools this process's counts with the others' now (otherwise every `flushMs`). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What opening a stream needs of the call: its caller and tenant, once the access check has set them. */
export interface StreamOpener {
  caller?: Caller;
  tenant?: { id: string };
}

const tokenKey = (caller: Caller) => `token:${caller.credentialId}`;
const tenantKey = (tenantId: string) => `tenant:${tenantId}`;

/**
 * Request rates and open streams, per credential and per tenant, held across
 * every server process on the database without a database round trip per
 * request: each process decides from memory and, every `flushMs`, adds what it
 * admitted to shared totals in one statement and reads back what the others
 * did (store/limit-counters.ts).
 *
 * The bound that buys: every process's bucket is charged with all the key's
 * admissions, its own at once and the others' when it next flushes, so over
 * any span the N processes together admit at most rate × span plus
 * N × rate × (1 s + 2 × flush interval): one second's burst each, and what
 * the others admitted in the up to two flush intervals a process has not yet
 * heard of. The excess is a constant, not a rate: over a minute, 2 processes
 * flushing every second admit at most 60 + 6 seconds' worth, not 120.
 * Streams likewise: a key may pass its cap by the streams the others opened
 * since their last flush.
 */
export function createLimiter(deps: LimiterDeps): Limiter {
  const { db, log, instanceId } = deps;
  const buckets = new Map<string, RateBucket>();
  const localStreams = new Map<string, number>();
  let othersStreams = new Map<string, number>();
  let streamsChanged = true;
  let flushes = 0;
  let flushing: Promise<void> | undefined;
  let closed = false;
  /** Warned of a failing flush, so a database outage is one log line, not one a second. */
  let warned = false;
  const flushed = (err?: unknown) => {
    if (err && !warned)
      log.warn("could not pool limit counts with the other servers; each limits on its own meanwhile", { err: String(err) });
    else if (!err && warned) log.info("pooling limit counts with the other servers again");
    warned = Boolean(err);
  };

  const bucketOf = (key: string, rate: number, now: number) => {
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = new RateBucket(rate, now)));
    return b;
  };
  const streamsOf = (key: string) => (localStreams.get(key) ?? 0) + (othersStreams.get(key) ?? 0);
  const addStreams = (key: string, n: number) => {
    const left = (localStreams.get(key) ?? 0) + n;
    if (left > 0) localStreams.set(key, left);
    else localStreams.delete(key);
    streamsChanged = true;
  };
  const limitsOfCall = async (caller: Caller, tenantId: string) => {
    const own = await deps.limitsOf(caller.homeTenantId);
    return { own, tenant: tenantId === caller.homeTenantId ? own : await deps.limitsOf(tenantId) };
  };

  async function flushNow(): Promise<void> {
    const cycle = ++flushes;
    const now = performance.now();
    const sent = new Map<string, number>();
    for (const [key, b] of buckets) {
      if (b.unflushed === 0 && now - b.lastUsed > IDLE_BUCKET_MS) {
        buckets.delete(key);
        continue;
      }
      sent.set(key, b.unflushed);
      b.unflushed = 0;
    }
    let failure: unknown;
    try {
      const totals = await addToCounters(db, sent);
      for (const [key, total] of totals) {
        const b = buckets.get(key);
        if (!b) continue;
        // A total seen at the previous flush is a baseline; an older one is not (what came between is unknown).
        if (b.seenTotal !== undefined && b.seenAtFlush === cycle - 1) b.charge(total - b.seenTotal - (sent.get(key) ?? 0));
        b.seenTotal = total;
        b.seenAtFlush = cycle;
      }
    } catch (err) {
      // Keep the counts for the next flush; meanwhile each process limits on its own.
      for (const [key, n] of sent) if (buckets.has(key)) buckets.get(key)!.unflushed += n;
      failure = err;
    }
    try {
      if (streamsChanged) {
        streamsChanged = false;
        await replaceStreamCounts(db, instanceId, new Map(localStreams));
      }
      othersStreams = await othersStreamCounts(db, instanceId);
      if (cycle % PURGE_EVERY_FLUSHES === 0) {
        await dropIdleCounters(db, IDLE_COUNTER_MS);
        await forgetOldFailedSignIns(db, FORGET_SIGN_IN_FAILURES_MS);
      }
    } catch (err) {
      streamsChanged = true;
      failure ??= err;
    }
    flushed(failure);
  }

  const flush = () => {
    flushing ??= flushNow().finally(() => (flushing = undefined));
    return flushing;
  };
  const timer = setInterval(() => {
    if (!flushing && !closed) void flush();
  }, deps.flushMs);
  timer.unref();

  return {
    async admitRequest(caller, tenantId) {
      const { own, tenant } = await limitsOfCall(caller, tenantId);
      const now = performance.now();
      const byToken = bucketOf(tokenKey(caller), own.token_requests_per_second, now);
      const byTenant = bucketOf(tenantKey(tenantId), tenant.tenant_requests_per_second, now);
      const tokenWait = byToken.waitMs(own.token_requests_per_second, now);
      const tenantWait = byTenant.waitMs(tenant.tenant_requests_per_second, now);
      if (tokenWait > 0 || tenantWait > 0) {
        const held = await holdRefusal();
        if (tokenWait > 0) throw rateLimited("this credential", "token_requests_per_second", own, tokenWait - held);
        throw rateLimited("this tenant", "tenant_requests_per_second", tenant, tenantWait - held);
      }
      byToken.take();
      byTenant.take();
    },

    async openStream(ctx) {
      const { caller } = ctx;
      if (!caller) return () => {};
      const tenantId = ctx.tenant?.id ?? caller.homeTenantId;
      const { own, tenant } = await limitsOfCall(caller, tenantId);
      const keys = [tokenKey(caller), tenantKey(tenantId)];
      if (streamsOf(keys[0]!) >= own.token_streams) throw streamLimit("this credential", "token_streams", own);
      if (streamsOf(keys[1]!) >= tenant.tenant_streams) throw streamLimit("this tenant", "tenant_streams", tenant);
      for (const k of keys) addStreams(k, 1);
      let held = true;
      return () => {
        if (!held) return;
        held = false;
        for (const k of keys) addStreams(k, -1);
      };
    },

    streamUsage(caller, tenantId) {
      return { tokenStreams: streamsOf(tokenKey(caller)), tenantStreams: streamsOf(tenantKey(tenantId)) };
    },

    flush,

    async close() {
      closed = true;
      clearInterval(timer);
      await flushing;
      await dropStreamCounts(db, instanceId).catch(() => {});
    },
  };
}

/**
 * A refusal is answered only after REFUSAL_HOLD_MS: a client that ignores retry hints then gets no more refusals
 * per second than it has calls in flight, instead of as many as the server can turn away. A pending timer costs the
 * server nothing, where a refusal answered at once costs about what a cheap call does: with it a flood ignoring
 * its hints moved another tenant's p99 by +8 % on PostgreSQL, against +28 % with a 250 ms pause and +363 % without
 * (docs/BENCHMARKS.md, "Limits: a noisy tenant"). The hint then says what is left of the wait. Returns the pause.
 */
async function holdRefusal(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, REFUSAL_HOLD_MS));
  return REFUSAL_HOLD_MS;
}

const REFUSAL_HOLD_MS = 1000;

function rateLimited(who: string, limit: LimitName, limits: TenantLimits, waitMs: number) {
  return retryLater(ErrorReason.RATE_LIMITED, `${who} may make ${limits[limit]} requests per second (${limit})`, waitMs, {
    limit,
    value: String(limits[limit]),
  });
}

function streamLimit(who: string, limit: LimitName, limits: TenantLimits) {
  return retryLater(
    ErrorReason.STREAM_LIMIT,
    `${who} may hold ${limits[limit]} open streams (${limit}); close one, or ask a platform administrator for more`,
    STREAM_RETRY_MS,
    { limit, value: String(limits[limit]) },
  );
}
