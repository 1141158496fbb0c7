import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { DomainError } from "../errors/domain-error.js";
import type { Logger } from "../log.js";
import { createAuditBatches } from "../store/audit-batches.js";
import type { Actor, RequestMeta } from "../store/actor.js";
import type { Database } from "../store/schema.js";
import type { CatchUp } from "./catch-up.js";
import type { SyncView } from "./sync-events.js";

/** The one action every Watch delivery event records (the proto's audit declaration of SyncService/Watch). */
export const DELIVER_ACTION = "sync.deliver";

/** A Watch stream as its delivery audit sees it (both paths' watchers are one). */
export interface AuditedStream {
  readonly tenantId: string;
  readonly project: string;
  readonly view: SyncView;
  /** The revision every event the stream has sent brings its runtime to. */
  readonly deliveredRevision: number;
  terminate(err: DomainError): void;
}

/** Who opened the stream, through which request: what each of its events names. */
export interface StreamOrigin {
  actor: Actor;
  request: RequestMeta;
}

export interface DeliveryAudit {
  /** Starts the stream's ledger; nothing is recorded until its first catch-up. */
  track(stream: AuditedStream, origin: StreamOrigin): void;
  /**
   * Records the stream's open, with its first catch-up as one range: resolves
   * once the event committed, so the caller sends the catch-up only then;
   * rejects with the audit writer's error, and the stream must fail with it
   * having sent nothing. Later catch-ups (after a slow reader fell behind) are
   * part of the ranges recorded at the next beat.
   */
  caughtUp(stream: AuditedStream, since: number, result: CatchUp): Promise<void>;
  /** Records the range delivered since the last event, if the stream opened; the write is not awaited. */
  untrack(stream: AuditedStream): void;
  /** Stops the beats and waits for the events already queued. */
  close(): Promise<void>;
}

interface Ledger {
  id: string;
  origin: StreamOrigin;
  /** The stream's open event committed: it has delivered. */
  opened: boolean;
  /** Every revision up to here is covered by a committed event of the stream. */
  recorded: number;
  /** A beat's event is being written: the next beat waits for it. */
  writing: boolean;
}

/**
 * The audit of what Watch streams deliver (issue 13 §1): not an event per
 * change per stream but revision ranges per stream, in the chain of its
 * tenant, all `sync.deliver` by the stream's caller, with the stream's id to
 * join them:
 *
 * - open: before the first catch-up is sent (from the revision the runtime
 *   asked for to the one the catch-up brings it to, the reset if any), fail
 *   closed — the stream ends with the writer's error and sends nothing;
 * - beat: every `beatMs` (the heartbeat interval), for each stream whose
 *   delivered revision moved since its last event, the range since then; if it
 *   cannot be written the stream ends with that error;
 * - close: the last range, when the stream ends (not awaited; a failure is
 *   logged).
 *
 * Events are batched per tenant (store/audit-batches.ts): the beat of 5,000
 * streams is a few transactions. What a failed beat leaves uncovered is said
 * exactly in docs/SECURITY.md (The audit log, Watch deliveries).
 */
export function createDeliveryAudit(deps: {
  db: Kysely<Database>;
  log: Logger;
  beatMs: number;
  /** false: the audit log is switched off (a benchmark's configuration), and so are these events. */
  enabled: boolean;
}): DeliveryAudit {
  const ledgers = new Map<AuditedStream, Ledger>();
  const batches = createAuditBatches(deps.db, "system:sync");

  const record = (stream: AuditedStream, ledger: Ledger, phase: "open" | "beat" | "close", to: number, extra = {}) =>
    batches.record(stream.tenantId, {
      action: DELIVER_ACTION,
      target: `project:${stream.project}`,
      actor: ledger.origin.actor,
      request: ledger.origin.request,
      detail: {
        stream: ledger.id,
        phase,
        kinds: stream.view.key,
        from_revision: ledger.recorded,
        to_revision: to,
        ...extra,
      },
    });

  const beat = setInterval(() => {
    for (const [stream, ledger] of ledgers) {
      const to = stream.deliveredRevision;
      if (!ledger.opened || ledger.writing || to === ledger.recorded) continue;
      ledger.writing = true;
      record(stream, ledger, "beat", to).then(
        () => {
          ledger.recorded = to;
          ledger.writing = false;
        },
        (err: DomainError) => {
          ledger.writing = false;
          deps.log.error("a Watch delivery could not be audited; the stream ends", {
            tenant: stream.tenantId,
            stream: ledger.id,
          });
          stream.terminate(err);
        },
      );
    }
  }, deps.beatMs);
  beat.unref();

  return {
    track(stream, origin) {
      if (deps.enabled) ledgers.set(stream, { id: randomUUID(), origin, opened: false, recorded: 0, writing: false });
    },
    async caughtUp(stream, since, result) {
      const ledger = ledgers.get(stream);
      if (!ledger || ledger.opened) return;
      ledger.recorded = since;
      const snapshot = result.events[0]?.isReset === true;
      await record(stream, ledger, "open", result.revision, { changes: result.events.length - (snapshot ? 1 : 0), snapshot });
      ledger.opened = true;
      ledger.recorded = result.revision;
    },
    untrack(stream) {
      const ledger = ledgers.get(stream);
      ledgers.delete(stream);
      if (!ledger?.opened) return;
      record(stream, ledger, "close", stream.deliveredRevision).catch((err) =>
        deps.log.error("the end of a Watch stream could not be audited", {
          tenant: stream.tenantId,
          stream: ledger.id,
          err: String(err),
        }),
      );
    },
    async close() {
      clearInterval(beat);
      await batches.drain();
    },
  };
}
