import { availableParallelism } from "node:os";

/**
 * Password hashes are the one deliberately expensive thing the server does
 * (scrypt at OWASP cost: 128 MiB and ~0.3 s of a core each). Left unbounded,
 * a burst of sign-ins takes every libuv thread and every core, and everything
 * else (file I/O, TLS, other tenants' reads) waits behind it. The gate runs a
 * few at once, queues a bounded number more, and refuses the rest at once, so
 * a flood costs the attacker a refusal, not everyone else a wait.
 *
 * The queue is fair between keys (source addresses): a free slot goes to each
 * waiting key in turn, so one address with many attempts queued delays another
 * address's sign-in by at most one hash per address ahead of it, not by its
 * whole backlog.
 */
export class HashGate {
  #running = 0;
  #queued = 0;
  /** Waiters by key; the map's order is the turn order. */
  readonly #queues = new Map<string, Array<() => void>>();

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  /** Runs `task` when a slot is free and it is `key`'s turn; returns undefined, without running it, if the queue is full. */
  async run<T>(key: string, task: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#running < this.concurrency) {
      this.#running++;
    } else {
      if (this.#queued >= this.maxQueued) return undefined;
      this.#queued++;
      await new Promise<void>((resolve) => {
        const queue = this.#queues.get(key);
        if (queue) queue.push(resolve);
        else this.#queues.set(key, [resolve]);
      });
    }
    try {
      return { value: await task() };
    } finally {
      this.#handOn();
    }
  }

  get queued(): number {
    return this.#queued;
  }

  /** The slot passes straight to the next key in turn, so a newcomer cannot jump the queue. */
  #handOn(): void {
    const next = this.#queues.entries().next();
    if (next.done) {
      this.#running--;
      return;
    }
    const [key, queue] = next.value;
    this.#queues.delete(key);
    if (queue.length > 1) this.#queues.set(key, queue); // to the back of the turn order
    this.#queued--;
    queue.shift()!();
  }
}

/**
 * One hash per core, leaving a core for the event loop on small machines and
 * one libuv thread (4 by default) for file and DNS work on large ones.
 */
export function defaultHashConcurrency(uvThreadpoolSize: string | undefined): number {
  const libuvThreads = Number(uvThreadpoolSize) || 4;
  return Math.max(1, Math.min(availableParallelism() - 1, libuvThreads - 1));
}
