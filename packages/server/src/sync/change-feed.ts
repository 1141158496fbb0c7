import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Logger } from "../log.js";
import type { Storage, Subscription } from "../store/open-database.js";

/**
 * What changed, by id only: a notification never carries a secret, and a
 * listener always reads the current row back from the database.
 */
export type ChangeEvent =
  | { type: "token"; tenantId: string; tokenId: string }
  | { type: "tenant"; tenantId: string }
  | { type: "project"; tenantId: string; name: string }
  /** A person's session ended. */
  | { type: "session"; tenantId: string; sessionId: string }
  /** A person's account changed (disabled, password changed): all their sessions are rechecked. */
  | { type: "user"; userId: string }
  /** A person's membership in a tenant changed or ended. */
  | { type: "membership"; tenantId: string; userId: string }
  /** A credential change committed at this tenant revision. */
  | { type: "credential"; tenantId: string; revision: number }
  /**
   * The feed lost (connected=false) or regained (true) its listen connection:
   * events may have been missed, so drop anything cached, and cache nothing
   * while disconnected.
   */
  | { type: "reset"; connected: boolean };

export type ChangeListener = (event: ChangeEvent) => void;

export const CHANGE_CHANNEL = "engine_changes";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7800;

export interface ChangeFeed {
  /** Announce committed changes: to this process at once, to the others by NOTIFY. */
  publish(...events: ChangeEvent[]): void;
  subscribe(listener: ChangeListener): () => void;
  close(): Promise<void>;
}

/**
 * The one change feed. Writers publish after their commit; the notification is
 * sent outside the writer's transaction and batched, because NOTIFY inside a
 * transaction takes a database-wide lock at commit and serialises all writers.
 * A notification lost with a crash between commit and send is healed by the
 * readers (revision catch-up, bounded cache lifetimes).
 */
export async function createChangeFeed(storage: Storage, log: Logger): Promise<ChangeFeed> {
  const origin = randomUUID();
  const listeners = new Set<ChangeListener>();
  let pending: ChangeEvent[] = [];
  let flushScheduled = false;
  let flushing: Promise<void> = Promise.resolve();

  const dispatch = (event: ChangeEvent) => {
    for (const l of listeners) {
      try {
        l(event);
      } catch (err) {
        log.error("change listener failed", { err: String(err) });
      }
    }
  };

  const send = async (batch: ChangeEvent[]) => {
    for (const payload of encodeBatches(origin, batch)) {
      await sql`SELECT pg_notify(${CHANGE_CHANNEL}, ${payload})`.execute(storage.db);
    }
  };

  const flush = () => {
    flushScheduled = false;
    const batch = pending;
    pending = [];
    flushing = flushing
      .then(() => send(batch))
      .catch((err) => log.error("change notification failed; other servers heal by catch-up", { err: String(err) }));
  };

  let subscription: Subscription | undefined = await storage.subscribe(CHANGE_CHANNEL, {
    onPayload(payload) {
      const decoded = decodeBatch(payload);
      if (!decoded || decoded.o === origin) return;
      for (const e of decoded.e) dispatch(e);
    },
    onConnected(connected) {
      // Both edges: on loss, caches stop trusting; on return, whatever was missed meanwhile is refetched.
      dispatch({ type: "reset", connected });
      if (connected) log.info("change feed connected");
      else log.warn("change feed disconnected; caches off until it is back");
    },
  });

  return {
    publish(...events) {
      for (const e of events) dispatch(e);
      pending.push(...events);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (flushScheduled) flush();
      await flushing;
      await subscription?.close();
      subscription = undefined;
      listeners.clear();
    },
  };
}

function encodeBatches(origin: string, events: ChangeEvent[]): string[] {
  const head = `{"o":${JSON.stringify(origin)},"e":[`;
  const out: string[] = [];
  let parts: string[] = [];
  let size = head.length + 2;
  for (const event of events) {
    const part = JSON.stringify(event);
    if (parts.length > 0 && size + part.length + 1 > MAX_PAYLOAD_BYTES) {
      out.push(`${head}${parts.join(",")}]}`);
      parts = [];
      size = head.length + 2;
    }
    parts.push(part);
    size += part.length + 1;
  }
  if (parts.length > 0) out.push(`${head}${parts.join(",")}]}`);
  return out;
}

function decodeBatch(payload: string): { o: string; e: ChangeEvent[] } | undefined {
  try {
    const v = JSON.parse(payload);
    return typeof v?.o === "string" && Array.isArray(v.e) ? v : undefined;
  } catch {
    return undefined;
  }
}
