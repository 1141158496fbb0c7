/**
 * A closed-loop load generator: `concurrency` workers each keep one call in
 * flight and start the next as soon as it returns. Every loop is bounded twice,
 * by a request count and by wall time, so a stalled server cannot hang a run.
 */
import { setMaxListeners } from "node:events";

export interface LoadBounds {
  concurrency: number;
  /** The loop stops after this many calls have been started… */
  maxRequests: number;
  /** …or once this much time has passed, whichever comes first. */
  maxDurationMs: number;
}

/** One measured run: raw latencies, so runs of the same scenario can be merged. */
export interface LoadRun {
  /** Calls completed inside the measuring window (see `windowMs`). */
  requests: number;
  errors: number;
  /**
   * The window throughput is measured over: the time bound, or less when the
   * count bound ended the run first. Calls still in flight when the time bound
   * passes are not counted, so slow tails do not stretch the window.
   */
  windowMs: number;
  /** Latency of every call, including those that finished after the window. */
  latenciesMs: number[];
  firstError?: unknown;
  /** CPU time the server process used during the run, when it was measured. */
  serverCpuMs?: number;
}

/** A call still running this long after the time bound is aborted, so no loop can hang. */
const CALL_GRACE_MS = 10_000;

/**
 * `call(i, signal)` receives the call's index, 0…maxRequests-1 (e.g. to pick a
 * token per call) and a signal to pass on, aborted CALL_GRACE_MS after the
 * time bound. (A per-call timeout would also bound it, but would send a
 * timeout header that makes the server arm a timer per call.)
 */
export async function runClosedLoop(
  bounds: LoadBounds,
  call: (i: number, signal: AbortSignal) => Promise<unknown>,
): Promise<LoadRun> {
  const run: LoadRun = { requests: 0, errors: 0, windowMs: 0, latenciesMs: [] };
  const signal = AbortSignal.timeout(Math.ceil(bounds.maxDurationMs + CALL_GRACE_MS));
  // Every call in flight listens on it; that is expected, not a leak.
  setMaxListeners(bounds.concurrency + 10, signal);
  const started = performance.now();
  const deadline = started + bounds.maxDurationMs;
  let issued = 0;
  let lastInWindow = started;
  const worker = async () => {
    while (issued < bounds.maxRequests && performance.now() < deadline) {
      const i = issued++;
      const t0 = performance.now();
      try {
        await call(i, signal);
      } catch (err) {
        run.errors++;
        run.firstError ??= err;
      }
      const t1 = performance.now();
      run.latenciesMs.push(t1 - t0);
      if (t1 <= deadline) {
        run.requests++;
        lastInWindow = t1;
      }
    }
  };
  await Promise.all(Array.from({ length: bounds.concurrency }, worker));
  run.windowMs = issued >= bounds.maxRequests && lastInWindow < deadline ? lastInWindow - started : bounds.maxDurationMs;
  return run;
}

export interface LoadSummary {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  /** Server CPU time per call (µs); NaN when not measured. */
  serverCpuUsPerCall: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Merges interleaved rounds of one scenario: throughput over their summed time, percentiles over all calls. */
export function summarize(runs: LoadRun[]): LoadSummary {
  const latencies = Float64Array.from(runs.flatMap((r) => r.latenciesMs)).sort();
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.windowMs, 0) / 1000;
  // CPU is charged to every call the run made, in or out of the window.
  const calls = latencies.length;
  const cpuMs = runs.reduce((n, r) => n + (r.serverCpuMs ?? NaN), 0);
  return {
    requests,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    seconds,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    serverCpuUsPerCall: (cpuMs * 1000) / calls,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.length ? latencies[latencies.length - 1] : NaN,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Throws with the first failure when a scenario that should succeed did not. */
export function assertNoErrors(label: string, runs: LoadRun[]): void {
  const failed = runs.find((r) => r.errors > 0);
  if (failed) {
    const total = runs.reduce((n, r) => n + r.errors, 0);
    throw new Error(`${label}: ${total} calls failed; first: ${String(failed.firstError)}`);
  }
}
