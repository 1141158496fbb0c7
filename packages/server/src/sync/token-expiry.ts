import { ErrorReason } from "@engine-cloud/api";
import { unauthenticated } from "../errors/domain-error.js";
import type { SyncWatcher } from "./sync-hub.js";

/** Ends Watch streams at the moment their token expires. */
export interface TokenExpiry {
  track(watcher: SyncWatcher, expiresAt: Date): void;
  untrack(watcher: SyncWatcher): void;
  readonly size: number;
}

interface Entry {
  at: number;
  watcher: SyncWatcher;
  /** Position in the heap, kept current so an entry is removed in O(log n). */
  index: number;
}

// setTimeout fires at once for longer delays (they overflow a 32-bit int), so a
// token expiring months from now would end its stream immediately.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One timer for every stream of a process, armed for the earliest expiry
 * (a min-heap by expiry time), instead of a timer per stream: thousands of
 * idle streams then cost a heap entry each, not a timer object and closure.
 */
export function createTokenExpiry(): TokenExpiry {
  const heap: Entry[] = [];
  const entries = new Map<SyncWatcher, Entry>();
  let timer: NodeJS.Timeout | undefined;
  let armedFor = Infinity;

  const swap = (i: number, j: number) => {
    [heap[i], heap[j]] = [heap[j], heap[i]];
    heap[i].index = i;
    heap[j].index = j;
  };
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].at <= heap[i].at) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < heap.length && heap[l].at < heap[least].at) least = l;
      if (r < heap.length && heap[r].at < heap[least].at) least = r;
      if (least === i) return;
      swap(i, least);
      i = least;
    }
  };
  const removeAt = (i: number) => {
    const last = heap.pop()!;
    if (i < heap.length) {
      heap[i] = last;
      last.index = i;
      up(i);
      down(last.index);
    }
  };

  const arm = () => {
    const first = heap[0];
    if (!first) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      armedFor = Infinity;
      return;
    }
    // An earlier timer already covers it; it re-arms for the rest when it fires.
    if (timer && armedFor <= first.at) return;
    if (timer) clearTimeout(timer);
    armedFor = first.at;
    timer = setTimeout(fire, Math.min(MAX_TIMER_MS, Math.max(0, first.at - Date.now())));
    timer.unref();
  };
  const fire = () => {
    timer = undefined;
    armedFor = Infinity;
    const now = Date.now();
    const expired: SyncWatcher[] = [];
    while (heap.length > 0 && heap[0].at <= now) {
      const entry = heap[0];
      removeAt(0);
      entries.delete(entry.watcher);
      expired.push(entry.watcher);
    }
    arm();
    for (const w of expired)
      w.terminate(unauthenticated(ErrorReason.TOKEN_EXPIRED, "the token has expired; ask an administrator for a new one"));
  };

  return {
    get size() {
      return entries.size;
    },
    track(watcher, expiresAt) {
      if (entries.has(watcher)) return;
      const entry: Entry = { at: expiresAt.getTime(), watcher, index: heap.length };
      heap.push(entry);
      entries.set(watcher, entry);
      up(entry.index);
      arm();
    },
    untrack(watcher) {
      const entry = entries.get(watcher);
      if (!entry) return;
      entries.delete(watcher);
      removeAt(entry.index);
      if (heap.length === 0) arm();
    },
  };
}
