/**
 * Wake-ups at the due times this process knows of: a replica that commits a
 * refresh knows exactly when the connection is due next, so it polls then
 * instead of up to a poll interval late (the interval stays the net for what
 * other replicas scheduled). One timer, for the earliest; at most `max` due
 * times are held, the latest dropped first (the poll still finds them).
 */
export interface DueWakeups {
  /** Wake once `ms` from now. */
  at(ms: number): void;
  close(): void;
}

/** Past the due time, so the database's clock has reached it too when the poll claims. */
const SLACK_MS = 5;
/** Due times this close after the one that fired are served by the same poll (one wake for a batch committed together). */
const COALESCE_MS = 2;

export function createDueWakeups(wake: () => void, { max = 1024 }: { max?: number } = {}): DueWakeups {
  /** Due times on performance.now(), ascending. */
  const due: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  let armedFor = Infinity;
  let closed = false;

  const arm = () => {
    if (closed || due.length === 0 || due[0] >= armedFor) return;
    if (timer) clearTimeout(timer);
    armedFor = due[0];
    timer = setTimeout(fire, Math.max(0, armedFor - performance.now()));
    timer.unref();
  };
  const fire = () => {
    timer = undefined;
    armedFor = Infinity;
    const now = performance.now() + COALESCE_MS;
    let n = 0;
    while (n < due.length && due[n] <= now) n++;
    due.splice(0, n);
    if (n > 0 && !closed) wake();
    arm();
  };

  return {
    at(ms) {
      if (closed) return;
      const when = performance.now() + ms + SLACK_MS;
      // Binary search for the first later one, keeping the list ascending.
      let lo = 0;
      let hi = due.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (due[mid] <= when) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= max) return;
      due.splice(lo, 0, when);
      if (due.length > max) due.pop();
      arm();
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      due.length = 0;
    },
  };
}
