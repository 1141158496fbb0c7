import { ErrorReason, reasonOf } from "@engine-cloud/api";
import { DomainError } from "./domain-error.js";

/**
 * Reasons of the failures that are the database's, not the request's: a client
 * retries them with backoff (or, for a full disk, once an operator has acted).
 */
export const STORAGE_REASONS = {
  unavailable: ErrorReason.DATABASE_UNAVAILABLE,
  timeout: ErrorReason.DATABASE_TIMEOUT,
  diskFull: ErrorReason.DATABASE_DISK_FULL,
  exhausted: ErrorReason.DATABASE_RESOURCES_EXHAUSTED,
  conflict: ErrorReason.TRANSACTION_CONFLICT,
} as const;

const storageReasons = new Set<ErrorReason>(Object.values(STORAGE_REASONS));

/** Whether a wire reason is one of the above, so the request log can say the database failed. */
export const isStorageReason = (reason: string | undefined): boolean =>
  reason !== undefined && storageReasons.has(reasonOf(reason));

const unavailable = () =>
  new DomainError("unavailable", STORAGE_REASONS.unavailable, "the database is unreachable; retry with backoff");
const timedOut = () =>
  new DomainError("unavailable", STORAGE_REASONS.timeout, "the database did not answer in time; retry with backoff");

// Node's socket errors: the database host is down, unreachable or cut the connection.
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

// node-postgres and pg-pool report these without a code (pg 8, pg-pool 3).
const LOST_CONNECTION =
  /^(Connection terminated( unexpectedly)?|Client has encountered a connection error and is not queryable|Cannot use a pool after calling end on the pool|Client was closed and is not queryable)$/;
const CONNECT_TIMEOUT =
  /^(Connection terminated due to connection timeout|timeout exceeded when trying to connect|timeout expired|Query read timeout)$/;

/**
 * Classifies a failure of the database layer (PostgreSQL by SQLSTATE class,
 * node-postgres and the socket beneath it, PGlite) as the domain error a
 * client can act on, or undefined when it is none of these: such an error is
 * a bug and stays INTERNAL. The one place that knows these shapes; the edge
 * (errors/to-connect-error.ts) uses it for every RPC path.
 */
export function classifyStorageError(err: unknown): DomainError | undefined {
  for (const e of causesOf(err)) {
    const found = classifyOne(e);
    if (found) return found;
  }
  return undefined;
}

function classifyOne(e: { code?: unknown; message?: unknown }): DomainError | undefined {
  const code = typeof e.code === "string" ? e.code : undefined;
  if (code === "ENOSPC" || code === "EDQUOT") return diskFull();
  if (code === "ETIMEDOUT") return timedOut();
  if (code && NETWORK_CODES.has(code)) return unavailable();
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    const found = classifySqlState(code);
    if (found) return found;
  }
  const message = typeof e.message === "string" ? e.message : "";
  if (CONNECT_TIMEOUT.test(message)) return timedOut();
  if (LOST_CONNECTION.test(message) || message === "PGlite is closed") return unavailable();
  return undefined;
}

/** PostgreSQL error codes, appendix A: the class is the first two characters. */
function classifySqlState(code: string): DomainError | undefined {
  if (code === "53100") return diskFull();
  // statement_timeout, lock_timeout and a cancel: the database is slow or stuck, not the request wrong.
  if (code === "57014" || code === "55P03") return timedOut();
  // Idle-in-transaction timeout: the session was ended under the call.
  if (code === "25P03") return timedOut();
  switch (code.slice(0, 2)) {
    case "08": // connection exception
    case "57": // operator intervention: admin/crash shutdown, cannot connect now
    case "58": // system error: I/O error beneath the database
    case "3D": // the database no longer exists
      return unavailable();
    case "53": // insufficient resources: memory, connections, configuration limits
      return new DomainError(
        "resource_exhausted",
        STORAGE_REASONS.exhausted,
        "the database is out of resources (memory, connections or a configured limit); retry later",
      );
    case "40": // serialization failure, deadlock: the transaction lost a race, the call may simply be retried
      return new DomainError("aborted", STORAGE_REASONS.conflict, "the call conflicted with a concurrent change; retry it");
    default:
      return undefined;
  }
}

function diskFull(): DomainError {
  return new DomainError(
    "resource_exhausted",
    STORAGE_REASONS.diskFull,
    "the database's disk is full; writes fail until an operator frees space, then retry",
  );
}

/** The error, its causes and the members of an AggregateError (node's connect to several addresses). */
function* causesOf(err: unknown, depth = 0): Generator<{ code?: unknown; message?: unknown }> {
  if (depth > 4 || typeof err !== "object" || err === null) return;
  yield err as { code?: unknown; message?: unknown };
  if (err instanceof AggregateError) for (const inner of err.errors) yield* causesOf(inner, depth + 1);
  yield* causesOf((err as { cause?: unknown }).cause, depth + 1);
}
