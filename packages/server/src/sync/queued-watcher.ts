import type { WatchResponse } from "@engine-cloud/sdk";
import type { DomainError } from "../errors/domain-error.js";
import type { CatchUp } from "./catch-up.js";
import { markerEvent, type SyncEvent } from "./sync-events.js";
import type { SyncWatcher } from "./sync-hub.js";

export interface QueuedWatcherInit {
  tenantId: string;
  project: string;
  principalId: string;
  bearer: string;
  since: number;
  /** Events held for a slow reader before it is switched to a database catch-up. */
  maxQueue: number;
}

/**
 * A Watch stream for the generic (connect-node) path: offers land in a
 * bounded queue that the stream's generator drains. A reader that falls more
 * than `maxQueue` events behind loses the queue and catches up from the
 * database instead, so a slow runtime costs a range query, not memory, and
 * never slows the others.
 */
export class QueuedWatcher implements SyncWatcher {
  readonly tenantId: string;
  readonly project: string;
  readonly principalId: string;
  readonly bearer: string;
  #position: number;
  #queue: SyncEvent[] = [];
  #needsCatchUp = true;
  #caughtUpOnce = false;
  #failure?: DomainError;
  #wake?: () => void;
  readonly #maxQueue: number;

  constructor(init: QueuedWatcherInit) {
    this.tenantId = init.tenantId;
    this.project = init.project;
    this.principalId = init.principalId;
    this.bearer = init.bearer;
    this.#position = init.since;
    this.#maxQueue = init.maxQueue;
  }

  offer(event: SyncEvent): void {
    if (this.#needsCatchUp) return; // the pending catch-up reads it from the database
    if (this.#queue.length >= this.#maxQueue) {
      this.#queue = [];
      this.#needsCatchUp = true;
    } else {
      this.#queue.push(event);
    }
    this.#wakeUp();
  }

  terminate(err: DomainError): void {
    this.#failure ??= err;
    this.#wakeUp();
  }

  #wakeUp() {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The stream: catch-up, CAUGHT_UP, then live events until terminated or aborted. */
  async *stream(catchUp: (since: number) => Promise<CatchUp>, signal: AbortSignal): AsyncGenerator<WatchResponse> {
    const onAbort = () => this.#wakeUp();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        if (this.#failure) throw this.#failure;
        if (this.#needsCatchUp) {
          // Offers made from here on queue up; those the read also returns are skipped below.
          this.#needsCatchUp = false;
          const result = await catchUp(this.#position);
          for (const e of result.events) {
            this.#position = Math.max(this.#position, e.revision);
            yield e.message;
          }
          this.#position = Math.max(this.#position, result.revision);
          if (!this.#caughtUpOnce) {
            this.#caughtUpOnce = true;
            yield markerEvent("caughtUp", this.#position).message;
          }
          continue;
        }
        const next = this.#queue.shift();
        if (next) {
          const kind = next.message.event.case;
          if (kind === "heartbeat") {
            this.#position = Math.max(this.#position, next.revision);
            yield markerEvent("heartbeat", this.#position).message;
          } else if (next.revision > this.#position) {
            this.#position = next.revision;
            yield next.message;
          }
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
