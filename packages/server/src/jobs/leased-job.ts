import type { Kysely, Transaction } from "kysely";
import type { Logger } from "../log.js";
import { claimLease, commitUnderLease, LeaseLostError, releaseLease, renewLease, type LeaseClaim } from "../store/leases.js";
import type { Database } from "../store/schema.js";

/** What one run of a leased job is given. */
export interface LeasedJobContext {
  /** The fencing generation this run holds the lease under. */
  readonly generation: number;
  /** Aborted once the lease is lost or the job is closing: stop at the next step. */
  readonly signal: AbortSignal;
  /**
   * A transaction that commits only while this run's claim is current; when
   * it is not, it rolls back with LeaseLostError (and the run ends). Every
   * write of the job goes through here.
   */
  commitUnderLease<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T>;
}

export interface LeasedJobOptions<T> {
  db: Kysely<Database>;
  /** The job's lease is `("job", name)`; also its name in log lines. */
  name: string;
  /** This process, as the lease row names its holder (the server instance id). */
  holder: string;
  /** How often the holder runs the work (each wait jittered by ±20 %). */
  intervalMs: number;
  /** How long a claim lasts unless renewed; the holder renews every third of it. */
  leaseMs: number;
  log: Logger;
  run(ctx: LeasedJobContext): Promise<T>;
}

export interface LeasedJob<T> {
  /**
   * One run now if this process holds the lease or can claim it, after any
   * run in progress; undefined if another process holds it or the run failed.
   */
  runNow(): Promise<T | undefined>;
  /** Stops the timers, waits for a run in progress (told to stop), and releases the lease. */
  close(): Promise<void>;
}

interface Held {
  claim: LeaseClaim;
  /** Aborted when this claim is lost or the job closes. */
  stop: AbortController;
}

// Processes started together would otherwise claim and run in lockstep.
const jittered = (ms: number) => ms * (0.8 + 0.4 * Math.random());

/**
 * Background work that runs on one process at a time across every server on
 * the database. Each process keeps trying to claim the job's lease (every
 * `leaseMs`); the one that holds it renews it, runs the work every
 * `intervalMs`, and at once after it claims (the previous holder may have died
 * mid-run). A holder that dies stops renewing, and another process takes
 * over once the claim has expired; one that stalls past its expiry finds its
 * commits refused (fencing, store/leases.ts). Errors are logged, never thrown:
 * the next run tries again.
 */
export function startLeasedJob<T>(opts: LeasedJobOptions<T>): LeasedJob<T> {
  const { db, name, holder, leaseMs, log } = opts;
  const lease = { kind: "job", key: name };
  let held: Held | undefined;
  let closed = false;
  let claiming: Promise<Held | undefined> | undefined;
  let leaseCheck: Promise<void> = Promise.resolve();
  // Runs one after another: a run never overlaps the previous one in this process.
  let runs: Promise<unknown> = Promise.resolve();
  let running = false;

  const lose = (h: Held, why: string) => {
    if (held !== h) return;
    held = undefined;
    h.stop.abort();
    log.warn("lost the job lease", { job: name, generation: h.claim.generation, holder, why });
  };

  // Single-flight, so a run asked for while the timer claims does not race it.
  const claim = () =>
    (claiming ??= (async () => {
      if (held || closed) return held;
      const c = await claimLease(db, lease, holder, leaseMs);
      if (!c) return undefined;
      held = { claim: c, stop: new AbortController() };
      log.info("took the job lease", { job: name, generation: c.generation, holder });
      return held;
    })().finally(() => (claiming = undefined)));

  const runOnce = async (): Promise<T | undefined> => {
    running = true;
    let h: Held | undefined;
    try {
      h = held ?? (await claim());
      if (!h || closed) return undefined;
      const claimed = h.claim;
      return await opts.run({
        generation: claimed.generation,
        signal: h.stop.signal,
        commitUnderLease: (fn) => commitUnderLease(db, claimed, fn),
      });
    } catch (err) {
      if (h && err instanceof LeaseLostError) lose(h, "a commit found the claim expired or taken");
      else log.warn("background job failed; will retry", { job: name, err: String(err) });
      return undefined;
    } finally {
      running = false;
    }
  };

  const runNow = (): Promise<T | undefined> => {
    if (closed) return Promise.resolve(undefined);
    const run = runs.then(runOnce);
    runs = run;
    return run;
  };

  // Renews while held, claims while not; never waits for a run, so a long run keeps its lease.
  const checkLease = async () => {
    try {
      const h = held;
      if (h && !(await renewLease(db, h.claim, leaseMs))) lose(h, "renewal found the claim expired or taken");
      if (!held && (await claim())) void runNow();
    } catch (err) {
      log.warn("could not renew or claim the job lease; will retry", { job: name, err: String(err) });
    }
  };

  let leaseTimer: NodeJS.Timeout | undefined;
  const scheduleLeaseCheck = (ms: number) => {
    if (closed) return;
    leaseTimer = setTimeout(() => {
      leaseCheck = checkLease().finally(() => scheduleLeaseCheck(held ? leaseMs / 3 : leaseMs));
    }, jittered(ms));
    leaseTimer.unref();
  };
  let workTimer: NodeJS.Timeout | undefined;
  const scheduleWork = () => {
    if (closed) return;
    workTimer = setTimeout(() => {
      if (held && !running) void runNow();
      scheduleWork();
    }, jittered(opts.intervalMs));
    workTimer.unref();
  };
  scheduleLeaseCheck(0);
  scheduleWork();

  return {
    runNow,
    async close() {
      closed = true;
      clearTimeout(leaseTimer);
      clearTimeout(workTimer);
      held?.stop.abort();
      await leaseCheck;
      await runs;
      const h = held;
      held = undefined;
      if (!h) return;
      try {
        await releaseLease(db, h.claim);
        log.info("released the job lease", { job: name, generation: h.claim.generation, holder });
      } catch (err) {
        log.warn("could not release the job lease; it expires by itself", { job: name, err: String(err) });
      }
    },
  };
}
