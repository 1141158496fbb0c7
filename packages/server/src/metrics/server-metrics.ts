import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { SERVER_VERSION } from "../version.js";

/**
 * The server's Prometheus metrics, one registry per app (no module-level
 * state: tests run several servers in one process). Every metric is declared
 * here, so the full list is one file; a module that counts something takes the
 * metric it needs from `ServerMetrics` and adds one line where it happens.
 *
 * Labels are bounded sets only: service and method names from the proto, gRPC
 * codes, protocols, outcomes and reasons from enums. Never a tenant id, token
 * id, path or anything else a caller chooses.
 */
export interface ServerMetrics {
  readonly registry: Registry;
  /** Every call (RPC or plain HTTP route) by service, method and final code. */
  readonly rpcRequests: Counter<"service" | "method" | "code">;
  /** Unary calls' time from arrival to answer; streams are counted above, their lifetime is not a latency. */
  readonly rpcDuration: Histogram<"service" | "method" | "code">;
  /** Server streams (Watch) open now, by wire protocol. */
  readonly openStreams: Gauge<"protocol">;
  /** Reading a batch of committed changes and offering it to every Watch of this process. */
  readonly fanoutDuration: Histogram;
  /** From a peer's NOTIFY to this process receiving it (the cross-replica part of fan-out). */
  readonly changeFeedLag: Histogram;
  /** Times the change feed's LISTEN connection came back after it was lost. */
  readonly changeFeedReconnects: Counter;
  /** 1 while the change feed's LISTEN connection is up. */
  readonly changeFeedConnected: Gauge;
  /** Sign-ins and invitation codes refused by a throttle or lockout, by reason. */
  readonly loginThrottled: Counter<"reason">;
  /** Calls refused by a tenant or credential limit, by reason. */
  readonly limited: Counter<"reason">;
  /**
   * Seam for the OAuth hub's refresh engine: one `hubRefreshes.inc({ outcome })` per refresh attempt,
   * outcome one of "refreshed", "failed", "revoked", "skipped".
   */
  readonly hubRefreshes: Counter<"outcome">;
  /** Seam for the audit log: one `auditWrites.inc({ outcome })` per event, outcome "written" or "failed". */
  readonly auditWrites: Counter<"outcome">;
  /** Reports the database's use at scrape time (store/open-database.ts `poolStats`, `statements`). */
  watchPool(stats: () => PoolStats | undefined, statements?: () => number): void;
}

export interface PoolStats {
  /** Connections open, busy or idle. */
  total: number;
  idle: number;
  /** Queries queued for a free connection. */
  waiting: number;
}

/** Reasons that mean a sign-in or invitation throttle said no (auth/login-throttle.ts). */
const LOGIN_THROTTLE_REASONS = new Set(["LOGIN_THROTTLED", "INVITATION_THROTTLED"]);
/** Reasons that mean a tenant or credential limit said no (limits/). */
const LIMIT_REASONS = new Set(["RATE_LIMITED", "STREAM_LIMIT", "CREDENTIAL_QUOTA"]);

// Calls are a few ms on loopback and bounded by the database timeouts (10 s) at worst.
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Fan-out and feed lag sit around a millisecond on one host (docs/BENCHMARKS.md) and matter past ~100 ms.
const FANOUT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  // process_* and nodejs_* (CPU, RSS, heap, event loop lag, handles, GC), under their standard names.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "engine_cloud_build_info",
    help: "Always 1; the server's version as a label.",
    labelNames: ["version"],
    registers,
  }).set({ version: SERVER_VERSION }, 1);

  let poolStats: () => PoolStats | undefined = () => undefined;
  let statements: () => number = () => 0;
  let statementsSeen = 0;
  new Counter({
    name: "engine_cloud_db_statements_total",
    help: "Statements sent to the database (transaction control included), counted where they are sent.",
    registers,
    collect() {
      const n = statements();
      this.inc(Math.max(0, n - statementsSeen));
      statementsSeen = n;
    },
  });
  new Gauge({
    name: "engine_cloud_db_pool_connections",
    help: "PostgreSQL pool connections by state (in_use, idle); absent on the embedded database.",
    labelNames: ["state"],
    registers,
    collect() {
      const s = poolStats();
      if (!s) return;
      this.set({ state: "in_use" }, s.total - s.idle);
      this.set({ state: "idle" }, s.idle);
    },
  });
  new Gauge({
    name: "engine_cloud_db_pool_waiting",
    help: "Queries waiting for a free PostgreSQL pool connection.",
    registers,
    collect() {
      const s = poolStats();
      if (s) this.set(s.waiting);
    },
  });

  return {
    registry,
    rpcRequests: new Counter({
      name: "engine_cloud_rpc_requests_total",
      help: "Calls answered, by service, method and final code (plain HTTP routes under service http).",
      labelNames: ["service", "method", "code"],
      registers,
    }),
    rpcDuration: new Histogram({
      name: "engine_cloud_rpc_duration_seconds",
      help: "Time from a unary call's arrival to its answer.",
      labelNames: ["service", "method", "code"],
      buckets: RPC_BUCKETS,
      registers,
    }),
    openStreams: new Gauge({
      name: "engine_cloud_open_streams",
      help: "Server streams (Watch) open now, by protocol.",
      labelNames: ["protocol"],
      registers,
    }),
    fanoutDuration: new Histogram({
      name: "engine_cloud_fanout_seconds",
      help: "Reading a batch of committed changes and offering it to every Watch stream of this process.",
      buckets: FANOUT_BUCKETS,
      registers,
    }),
    changeFeedLag: new Histogram({
      name: "engine_cloud_change_feed_lag_seconds",
      help: "From a peer sending a change notification to this process receiving it (wall clocks of both).",
      buckets: FANOUT_BUCKETS,
      registers,
    }),
    changeFeedReconnects: new Counter({
      name: "engine_cloud_change_feed_reconnects_total",
      help: "Times the change feed's LISTEN connection came back after being lost.",
      registers,
    }),
    changeFeedConnected: new Gauge({
      name: "engine_cloud_change_feed_connected",
      help: "1 while the change feed's LISTEN connection is up.",
      registers,
    }),
    loginThrottled: new Counter({
      name: "engine_cloud_login_throttled_total",
      help: "Sign-ins and invitation codes refused by a throttle or lockout, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    limited: new Counter({
      name: "engine_cloud_limited_total",
      help: "Calls refused by a tenant or credential limit, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    hubRefreshes: new Counter({
      name: "engine_cloud_hub_refreshes_total",
      help: "OAuth connection token refreshes by outcome.",
      labelNames: ["outcome"],
      registers,
    }),
    auditWrites: new Counter({
      name: "engine_cloud_audit_writes_total",
      help: "Audit events by outcome (written, failed).",
      labelNames: ["outcome"],
      registers,
    }),
    watchPool(stats, sent) {
      poolStats = stats;
      if (sent) statements = sent;
    },
  };
}

/** What one finished call adds to the metrics: its count, its latency if unary, and a refusal by reason. */
export function recordCall(
  metrics: ServerMetrics,
  call: { service: string; method: string; code: string; reason?: string; seconds: number; stream: boolean },
): void {
  const labels = { service: call.service, method: call.method, code: call.code };
  metrics.rpcRequests.inc(labels);
  if (!call.stream) metrics.rpcDuration.observe(labels, call.seconds);
  if (!call.reason) return;
  if (LOGIN_THROTTLE_REASONS.has(call.reason)) metrics.loginThrottled.inc({ reason: call.reason });
  else if (LIMIT_REASONS.has(call.reason)) metrics.limited.inc({ reason: call.reason });
}
