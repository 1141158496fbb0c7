import { setMaxListeners } from "node:events";
import { TokenKind } from "@engine-cloud/api";
import { errorReason, type CloudClient } from "@engine-cloud/sdk";
import { asBearer, benchClient, type BenchProtocol } from "./auth-bench.js";
import { percentile } from "./load.js";

/** A trial gives up on a process that still accepts the token this long after the revocation. */
const TRIAL_TIMEOUT_MS = 2_000;
/** And never sends more polls than this, whatever the time bound. */
const MAX_POLLS_PER_TRIAL = 50_000;
/** A poll still unanswered this long after the trial's time bound is aborted. */
const CALL_GRACE_MS = 5_000;

export interface RevocationResult {
  trials: number;
  /**
   * Per process: ms from the RevokeToken response to the answer of the first
   * refused call there (an upper bound: the refusal was visible by then).
   */
  latencyMs: { committer: number[]; other: number[]; every: number[] };
  /**
   * Per process: ms from the RevokeToken response to the sending of the last
   * call that was still accepted (a lower bound: the refusal was not visible
   * before that call was sent). Negative when every acceptance preceded the response.
   */
  lowerBoundMs: { committer: number[]; other: number[]; every: number[] };
  /** How long each RevokeToken call took: the commit happened somewhere inside it. */
  revokeCallMs: number[];
  /** Mean time between consecutive poll answers from one process: the resolution of the figures. */
  granularityMs: number;
  /** Trials in which a process still accepted the token TRIAL_TIMEOUT_MS after the revocation. */
  timeouts: number;
}

interface Poller {
  /** When the first refusal arrived (performance.now()), if one did. */
  refusedAt?: number;
  /** When the latest call that was accepted had been sent. */
  lastAcceptedSentAt: number;
  answers: number;
  firstAnswerAt?: number;
  lastAnswerAt?: number;
  done: Promise<void>;
}

/**
 * Keeps `inFlight` WhoAmI calls with `token` going to one server until one is
 * refused as revoked (bounded by time and count). Any other failure aborts the run.
 */
function pollUntilRefused(client: CloudClient, token: string, inFlight: number, deadline: number): Poller {
  const signal = AbortSignal.timeout(Math.ceil(deadline - performance.now() + CALL_GRACE_MS));
  setMaxListeners(inFlight + 10, signal);
  const auth = asBearer(token, signal);
  const p: Poller = { answers: 0, lastAcceptedSentAt: -Infinity, done: Promise.resolve() };
  let sent = 0;
  const worker = async () => {
    while (p.refusedAt === undefined && performance.now() < deadline && sent < MAX_POLLS_PER_TRIAL) {
      sent++;
      const sentAt = performance.now();
      let refused = false;
      try {
        await client.auth.whoAmI({}, auth);
      } catch (err) {
        if (errorReason(err) !== "TOKEN_REVOKED") throw err;
        refused = true;
      }
      const now = performance.now();
      p.answers++;
      p.firstAnswerAt ??= now;
      p.lastAnswerAt = now;
      if (refused) p.refusedAt = Math.min(p.refusedAt ?? now, now);
      else p.lastAcceptedSentAt = Math.max(p.lastAcceptedSentAt, sentAt);
    }
  };
  p.done = Promise.all(Array.from({ length: inFlight }, worker)).then(() => {});
  return p;
}

/**
 * Two server processes on one PostgreSQL database. Per trial: a fresh token
 * is created and used on both processes (so both have it cached), both are
 * polled continuously, and the token is revoked through the first (the
 * committer). The figure is the time from the RevokeToken response — the
 * commit has happened by then — to the first refused call on each process.
 * Because a poll is answered only every `granularityMs`, each figure
 * overstates the true delay by up to about that much (plus one round trip).
 */
export async function benchRevocationLatency(opts: {
  committerUrl: string;
  otherUrl: string;
  adminToken: string;
  protocol: BenchProtocol;
  trials: number;
  pollsInFlight: number;
}): Promise<RevocationResult> {
  const committer = benchClient(opts.committerUrl, opts.protocol);
  const other = benchClient(opts.otherUrl, opts.protocol);
  const admin = asBearer(opts.adminToken);
  const result: RevocationResult = {
    trials: 0,
    latencyMs: { committer: [], other: [], every: [] },
    lowerBoundMs: { committer: [], other: [], every: [] },
    revokeCallMs: [],
    granularityMs: NaN,
    timeouts: 0,
  };
  let answerSpanMs = 0;
  let answerGaps = 0;

  for (let trial = 0; trial < opts.trials; trial++) {
    const { secret, token } = await committer.tokens.createToken({ label: `revoke-${trial}`, kind: TokenKind.SERVICE }, admin);
    await committer.auth.whoAmI({}, asBearer(secret));
    await other.auth.whoAmI({}, asBearer(secret));

    const deadline = performance.now() + TRIAL_TIMEOUT_MS;
    const pollers = [committer, other].map((c) => pollUntilRefused(c, secret, opts.pollsInFlight, deadline));
    // A random phase, so the revocation does not always land at the same point of a poll.
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 3));
    const revokeSentAt = performance.now();
    await committer.tokens.revokeToken({ id: token!.id }, admin);
    const committedAt = performance.now();
    result.revokeCallMs.push(committedAt - revokeSentAt);
    await Promise.all(pollers.map((p) => p.done));

    result.trials++;
    const [a, b] = pollers.map((p) => (p.refusedAt === undefined ? Infinity : p.refusedAt - committedAt));
    if (!Number.isFinite(a) || !Number.isFinite(b)) result.timeouts++;
    result.latencyMs.committer.push(a);
    result.latencyMs.other.push(b);
    result.latencyMs.every.push(Math.max(a, b));
    const [la, lb] = pollers.map((p) => p.lastAcceptedSentAt - committedAt);
    result.lowerBoundMs.committer.push(la);
    result.lowerBoundMs.other.push(lb);
    result.lowerBoundMs.every.push(Math.max(la, lb));
    for (const p of pollers) {
      if (p.answers > 1) {
        answerSpanMs += p.lastAnswerAt! - p.firstAnswerAt!;
        answerGaps += p.answers - 1;
      }
    }
  }
  result.granularityMs = answerSpanMs / answerGaps;
  return result;
}

export function summarizeLatencies(values: number[]): { p50: number; p99: number; max: number; min: number } {
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1], min: sorted[0] };
}
