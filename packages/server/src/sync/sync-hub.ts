import type { Kysely } from "kysely";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import type { ServerMetrics } from "../metrics/server-metrics.js";
import type { Database } from "../store/schema.js";
import { systemScope, withTenant } from "../store/with-tenant.js";
import { currentRevisions } from "../store/tenant-revisions.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import type { CredentialVault } from "../vault/credentials.js";
import { changesSince } from "./resource-changes.js";
import { changeEvent, markerEvent, type SyncEvent, type SyncView } from "./sync-events.js";

/** One open Watch stream, as the hub sees it. */
export interface SyncWatcher {
  readonly tenantId: string;
  readonly project: string;
  /** What the stream sees: its project, kinds and wire shape. */
  readonly view: SyncView;
  /** The token (or session) behind the stream: its revocation ends the stream. */
  readonly principalId: string;
  /** The bearer credential, kept in memory to re-verify it when something changes. */
  readonly bearer: string;
  /**
   * Offered every change visible to its view, in revision order, plus
   * heartbeats. Must not block or buffer without bound: a watcher that
   * cannot keep up drops what it holds and catches up from the database.
   */
  offer(event: SyncEvent): void;
  /** Ends the stream with this error. */
  terminate(err: DomainError): void;
}

/** Decides whether a watcher may go on; returns the error to end it with, if not. */
export type Reauthorize = (watchers: SyncWatcher[]) => Promise<Map<SyncWatcher, DomainError>>;

export interface SyncHubOptions {
  db: Kysely<Database>;
  /** Opens the credentials the fan-out reads (vault/credentials.ts). */
  vault: Pick<CredentialVault, "changed">;
  feed: ChangeFeed;
  log: Logger;
  reauthorize: Reauthorize;
  heartbeatMs: number;
  /** How often to look for changes whose notification was lost. */
  healMs: number;
  /** Where each batch's fan-out time is reported; absent: not reported. */
  metrics?: Pick<ServerMetrics, "fanoutDuration">;
}

export interface SyncHub {
  /** Starts delivering a tenant's changes to the watcher; resolves once the tenant's feed is primed. */
  add(watcher: SyncWatcher): Promise<void>;
  remove(watcher: SyncWatcher): void;
  readonly watcherCount: number;
  /**
   * Ends every stream with UNAVAILABLE / SERVER_SHUTTING_DOWN, so runtimes reconnect to another
   * server at once instead of being cut at the end of the shutdown grace period, and ends every
   * stream added later the same way. Idempotent.
   */
  close(): void;
}

interface TenantChannel {
  watchers: Set<SyncWatcher>;
  /** Every change up to here has been offered. */
  revision: number;
  ready: Promise<void>;
  fetching?: Promise<void>;
  /** A newer revision was announced while fetching. */
  again: boolean;
}

const FETCH_BATCH = 500;

/**
 * Fans committed changes (of every kind in the change log) out to every
 * Watch stream of this process. Per change and process: one range query, one
 * decryption, one encoding per wire shape (SyncEvent caches its frames),
 * whatever the number of streams. Correctness
 * does not depend on notifications: the channel always reads "everything
 * after the last revision offered", and a periodic check of the tenants'
 * revisions picks up any notification that was lost.
 */
export function createSyncHub(opts: SyncHubOptions): SyncHub {
  const channels = new Map<string, TenantChannel>();
  let count = 0;
  let closed = false;
  const closing = new DomainError("unavailable", ErrorReason.SERVER_SHUTTING_DOWN, "the server is shutting down; reconnect");

  const fetchInto = (tenantId: string, channel: TenantChannel): Promise<void> => {
    if (channel.fetching) {
      channel.again = true;
      return channel.fetching;
    }
    let failed = false;
    channel.fetching = (async () => {
      await channel.ready;
      do {
        channel.again = false;
        const started = performance.now();
        const { events, last } = await withTenant(
          opts.db,
          systemScope(tenantId, "system:sync"),
          async (t) => {
            const read = await changesSince(t, opts.vault, channel.revision, { limit: FETCH_BATCH }, opts.log);
            if (read.read === FETCH_BATCH) channel.again = true;
            return { events: read.changes.map(changeEvent), last: read.last ?? channel.revision };
          },
          // The log and the rows it points at, as of one moment.
          { isolation: "repeatable read" },
        );
        for (const e of events) for (const w of channel.watchers) if (e.visibleTo(w.view)) w.offer(e);
        if (events.length > 0) opts.metrics?.fanoutDuration.observe((performance.now() - started) / 1000);
        channel.revision = last;
      } while (channel.again && channel.watchers.size > 0);
    })()
      .catch((err) => {
        failed = true;
        opts.log.error("sync fetch failed; retrying at the next check", { tenant: tenantId, err: String(err) });
      })
      .finally(() => {
        channel.fetching = undefined;
        // A change announced after the loop's last check but before this point would otherwise wait for the next one.
        if (channel.again && !failed && channel.watchers.size > 0) void fetchInto(tenantId, channel);
      });
    return channel.fetching;
  };

  const reauthorizeWhere = (pick: (w: SyncWatcher) => boolean) => {
    const affected: SyncWatcher[] = [];
    for (const c of channels.values()) for (const w of c.watchers) if (pick(w)) affected.push(w);
    if (affected.length === 0) return;
    // After every other listener of this event has run: the token cache must
    // have dropped the revoked token before we ask it again.
    setImmediate(() => {
      opts
        .reauthorize(affected)
        .then((verdicts) => {
          for (const [w, err] of verdicts) w.terminate(err);
        })
        .catch((err) => opts.log.error("sync reauthorization failed", { err: String(err) }));
    });
  };

  const unsubscribe = opts.feed.subscribe((e) => {
    switch (e.type) {
      case "credential": {
        const c = channels.get(e.tenantId);
        if (c && e.revision > c.revision) void fetchInto(e.tenantId, c);
        break;
      }
      case "token":
        reauthorizeWhere((w) => w.principalId === e.tokenId);
        break;
      case "session":
        // Streams know their person, not their session: recheck the tenant's, only the revoked one fails.
        reauthorizeWhere((w) => w.tenantId === e.tenantId);
        break;
      case "user":
        reauthorizeWhere((w) => w.principalId === e.userId);
        break;
      case "membership":
        reauthorizeWhere((w) => w.tenantId === e.tenantId && w.principalId === e.userId);
        break;
      case "tenant":
        reauthorizeWhere((w) => w.tenantId === e.tenantId);
        break;
      case "project": {
        reauthorizeWhere((w) => w.tenantId === e.tenantId && w.project === e.name);
        // A policy change is also an entry of the change log, for streams that watch projects.
        const c = channels.get(e.tenantId);
        if (c) void fetchInto(e.tenantId, c);
        break;
      }
      case "reset":
        if (e.connected) {
          for (const [id, c] of channels) void fetchInto(id, c);
          reauthorizeWhere(() => true);
        }
        break;
    }
  });

  const heal = setInterval(async () => {
    try {
      const revisions = await currentRevisions(opts.db, [...channels.keys()]);
      for (const [id, rev] of revisions) {
        const c = channels.get(id);
        if (c && rev > c.revision) void fetchInto(id, c);
      }
    } catch (err) {
      opts.log.warn("sync revision check failed", { err: String(err) });
    }
  }, opts.healMs);
  heal.unref();

  const heartbeat = setInterval(() => {
    for (const c of channels.values()) {
      const beat = markerEvent("heartbeat", c.revision);
      for (const w of c.watchers) w.offer(beat);
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  return {
    get watcherCount() {
      return count;
    },
    async add(w) {
      if (closed) return w.terminate(closing);
      let c = channels.get(w.tenantId);
      if (!c) {
        const channel: TenantChannel = { watchers: new Set(), revision: 0, ready: Promise.resolve(), again: false };
        // Start from the revision as of now; the watcher's own catch-up covers everything before.
        channel.ready = currentRevisions(opts.db, [w.tenantId]).then((m) => {
          channel.revision = m.get(w.tenantId) ?? 0;
        });
        channels.set(w.tenantId, channel);
        c = channel;
      }
      c.watchers.add(w);
      count++;
      await c.ready;
    },
    remove(w) {
      const c = channels.get(w.tenantId);
      if (!c?.watchers.delete(w)) return;
      count--;
      if (c.watchers.size === 0) channels.delete(w.tenantId);
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(heal);
      clearInterval(heartbeat);
      for (const c of channels.values()) for (const w of c.watchers) w.terminate(closing);
      channels.clear();
      count = 0;
    },
  };
}
