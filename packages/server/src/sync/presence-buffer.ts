import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { writePresence, type PresenceWrite } from "../store/runtime-presence.js";
import type { Database } from "../store/schema.js";
import type { WatchTarget } from "./open-watch.js";

/** A stream whose presence is recorded: the revision it has delivered is read at each flush. */
export interface PresentStream {
  /** The revision every event the stream has sent brings its runtime to. */
  readonly deliveredRevision: number;
}

/**
 * A row stays "connected" for this many flush intervals after its last write:
 * two missed flushes (a slow database, a long pause) are forgiven, a third
 * means the process holding the stream is gone.
 */
export const STALE_AFTER_FLUSHES = 3;

/** Between a stream's end and the flush that marks it offline, at most this long (ends close together share one). */
const END_FLUSH_DELAY_MS = 100;

export interface PresenceStats {
  flushes: number;
  statements: number;
  rows: number;
}

/**
 * The presence of this process's Watch streams (RuntimeService.ListRuntimes),
 * kept in memory and written in batches: every `flushMs`, one multi-row
 * upsert (per thousand streams) refreshes every open stream's last_seen,
 * stale_at and delivered revision, so 5,000 connected runtimes cost one
 * statement every few seconds rather than a write per heartbeat. A stream's
 * end is written shortly after it (ends close together share the write).
 * Nothing here is on a request's path: a failed flush is logged and retried
 * at the next one, and listings read the rows as they were.
 */
export interface PresenceBuffer {
  /** Records an opened stream; its row is written at the next flush. */
  opened(stream: PresentStream, target: WatchTarget): void;
  /** Records its end: the row is marked offline at a flush soon after. Safe to call twice or for a stream never opened. */
  ended(stream: PresentStream): void;
  /** Writes now (tests, shutdown). */
  flush(): Promise<void>;
  readonly stats: PresenceStats;
  /** Writes what is pending (every stream still open is written as is) and stops. */
  close(): Promise<void>;
}

export function createPresenceBuffer(opts: {
  db: Kysely<Database>;
  log: Logger;
  /** This process, as listed in Runtime.server_instance (the change feed's instance id). */
  instanceId: string;
  flushMs: number;
}): PresenceBuffer {
  const open = new Map<PresentStream, Omit<PresenceWrite, "revisionDelivered" | "ended">>();
  let endedRows: PresenceWrite[] = [];
  const stats: PresenceStats = { flushes: 0, statements: 0, rows: 0 };
  let running: Promise<void> | undefined;
  let again = false;
  let endTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const writeOnce = async () => {
    const ended = endedRows;
    endedRows = [];
    const rows: PresenceWrite[] = [...ended];
    for (const [stream, row] of open) rows.push({ ...row, revisionDelivered: stream.deliveredRevision, ended: false });
    if (rows.length === 0) return;
    try {
      stats.statements += await writePresence(opts.db, rows, STALE_AFTER_FLUSHES * opts.flushMs);
      stats.rows += rows.length;
      stats.flushes++;
    } catch (err) {
      // The ends are written at the next flush; the open streams are written then anyway.
      endedRows = [...ended, ...endedRows];
      opts.log.warn("runtime presence flush failed; retrying at the next one", { rows: rows.length, err: String(err) });
    }
  };

  const flush = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await writeOnce();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void flush(), opts.flushMs);
  timer.unref();

  return {
    stats,
    opened(stream, t) {
      if (closed) return;
      open.set(stream, {
        tenantId: t.tenantId,
        streamId: randomUUID(),
        principalKind: t.principalKind,
        principalId: t.principalId,
        principalLabel: t.principalLabel,
        project: t.project,
        runtimeId: t.runtimeId,
        info: t.runtimeInfo,
        serverInstance: opts.instanceId,
        connectedAt: new Date(),
      });
    },
    ended(stream) {
      const row = open.get(stream);
      if (!row) return;
      open.delete(stream);
      endedRows.push({ ...row, revisionDelivered: stream.deliveredRevision, ended: true });
      if (closed || endTimer) return;
      endTimer = setTimeout(
        () => {
          endTimer = undefined;
          void flush();
        },
        Math.min(END_FLUSH_DELAY_MS, opts.flushMs),
      );
      endTimer.unref();
    },
    flush,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      if (endTimer) clearTimeout(endTimer);
      await flush();
    },
  };
}
