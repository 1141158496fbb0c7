import type { WatchResponse } from "@engine-cloud/api";
import type { DomainError } from "../errors/domain-error.js";
import type { CatchUp } from "./catch-up.js";
import type { WatchTarget } from "./open-watch.js";
import type { SyncEvent, SyncView } from "./sync-events.js";
import type { SyncWatcher } from "./sync-hub.js";
import { WatchCursor } from "./watch-cursor.js";

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
  readonly view: SyncView;
  readonly principalId: string;
  readonly bearer: string;
  readonly #cursor: WatchCursor;
  #queue: SyncEvent[] = [];
  #failure?: DomainError;
  #wake?: () => void;
  readonly #maxQueue: number;

  /** `maxQueue`: events held for a slow reader before it is switched to a database catch-up. */
  constructor(target: WatchTarget, maxQueue: number) {
    this.tenantId = target.tenantId;
    this.project = target.project;
    this.view = target.view;
    this.principalId = target.principalId;
    this.bearer = target.bearer;
    this.#cursor = new WatchCursor(target.since);
    this.#maxQueue = maxQueue;
  }

  /** The revision the events yielded so far bring the runtime to (presence's "revision delivered"). */
  get deliveredRevision(): number {
    return this.#cursor.position;
  }

  offer(event: SyncEvent): void {
    if (this.#cursor.needsCatchUp) return; // the pending catch-up reads it from the database
    if (this.#queue.length >= this.#maxQueue) {
      this.#queue = [];
      this.#cursor.needsCatchUp = true;
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
        if (this.#cursor.needsCatchUp) {
          // Offers made from here on queue up; those the read also returns are skipped by the cursor.
          const result = await catchUp(this.#cursor.beginCatchUp());
          for (const e of this.#cursor.finishCatchUp(result)) yield e.messageFor(this.view.shape);
          continue;
        }
        const next = this.#queue.shift();
        if (next) {
          const send = this.#cursor.next(next);
          if (send) yield send.messageFor(this.view.shape);
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
