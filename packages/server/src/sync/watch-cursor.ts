import type { CatchUp } from "./catch-up.js";
import { markerEvent, type SyncEvent } from "./sync-events.js";

/**
 * Where one Watch stream stands in its tenant's revision order, and so what it
 * sends next. Both stream implementations (the generic one in
 * queued-watcher.ts and the fast path in transport/sync-fast-path.ts) drive
 * one of these, so a runtime sees the same sequence from either: a catch-up
 * (RESET and snapshot, or the changes after its revision), CAUGHT_UP (once, and after any later snapshot),
 * then each later change exactly once, in order, and heartbeats carrying the
 * revision the stream has reached.
 */
export class WatchCursor {
  /** The revision every event sent so far brings the runtime to. */
  position: number;
  /** The stream has missed live events (or never had any) and must read from the database. */
  needsCatchUp = true;
  #caughtUpOnce = false;

  constructor(since: number) {
    this.position = since;
  }

  /**
   * Starts a catch-up and returns the revision to read from. Live events
   * offered while it runs are either also in its result (and skipped by
   * `next`, being at or below the new position) or after it.
   */
  beginCatchUp(): number {
    this.needsCatchUp = false;
    return this.position;
  }

  /**
   * The events a finished catch-up sends, in order: its RESET and changes,
   * then CAUGHT_UP the first time and after every snapshot (a runtime swaps a
   * snapshot in at CAUGHT_UP, so it must come after each one).
   */
  finishCatchUp(result: CatchUp): SyncEvent[] {
    const snapshot = result.events[0]?.isReset === true;
    // A snapshot restarts the count: the server's revision may even be lower (a restored database).
    if (snapshot) this.position = result.revision;
    for (const e of result.events) this.position = Math.max(this.position, e.revision);
    this.position = Math.max(this.position, result.revision);
    if (this.#caughtUpOnce && !snapshot) return result.events;
    this.#caughtUpOnce = true;
    return [...result.events, markerEvent("caughtUp", this.position)];
  }

  /**
   * What a live event becomes on this stream: the event itself, nothing if
   * the stream already has it, or for a heartbeat, one that carries this
   * stream's revision. The hub's shared heartbeat is reused whenever it is
   * not behind the stream, so the common case encodes nothing per stream.
   */
  next(event: SyncEvent): SyncEvent | undefined {
    if (event.isHeartbeat) {
      if (event.revision >= this.position) {
        this.position = event.revision;
        return event;
      }
      return markerEvent("heartbeat", this.position);
    }
    if (event.revision <= this.position) return undefined;
    this.position = event.revision;
    return event;
  }
}
