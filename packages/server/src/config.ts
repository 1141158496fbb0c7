import { parseArgs } from "node:util";
import path from "node:path";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { LogFormat, LogLevel } from "./log.js";
import type { DatabaseTimeouts, EmbeddedConfig } from "./store/open-database.js";
import type { TransportLimits } from "./transport/http-server.js";
import { defaultHashConcurrency } from "./auth/hash-gate.js";
import { tokenShapeProblem } from "./auth/token-format.js";
import { parseRootKey, type RootKeySource } from "./crypto/root-keys.js";
import { CONNECT_FLOW_TTL_MS, type HubConfig } from "./hub/connect-flow.js";
import { DEFAULT_LIMITS, isLimitValue, LIMIT_NAMES, MAX_LIMIT, type TenantLimits } from "./limits/tenant-limits.js";

/** Everything the server reads from its environment, parsed and validated once. */
export interface Config {
  listen: { host: string; port: number };
  tls?: { certFile: string; keyFile: string };
  /** PostgreSQL URL; absent means the embedded PGlite database in dataDir. */
  databaseUrl?: string;
  dataDir: string;
  embedded: EmbeddedConfig;
  /** Seeds the first platform admin token on a database that has none. */
  bootstrapToken?: string;
  /** Seeds the default tenant's project policy when it has no rows. */
  bootstrapProjects?: string[];
  logLevel: LogLevel;
  /** "json" (one object a line, the default off a terminal) or "pretty" (for people; the default on a terminal). */
  logFormat: LogFormat;
  /**
   * GET /metrics (Prometheus text). Off unless configured: on an address of its own
   * (ENGINE_CLOUD_METRICS_ADDR), and/or on the public port for requests bearing
   * ENGINE_CLOUD_METRICS_TOKEN (which the metrics address then requires too).
   */
  metrics: { listen?: { host: string; port: number }; token?: string };
  /** How long in-flight calls may run after SIGTERM before they are cut. */
  shutdownGraceMs: number;
  /**
   * On SIGTERM, how long the server keeps serving everything while reporting not ready (/readyz 503, gRPC
   * health NOT_SERVING) before it drains: the time a balancer or Kubernetes needs to take it out of rotation,
   * so no new request is sent to a port that has stopped listening. 0 (the default) drains at once.
   */
  drainDelayMs: number;
  /**
   * Upper bound on how long a cached token verdict is trusted without a
   * change notification; a safety net for a notification lost with a crash.
   */
  tokenCacheTtlMs: number;
  /** The root key (ENGINE_CLOUD_MASTER_KEY) or, absent, the file holding it. */
  masterKey: RootKeySource;
  /** Retired root keys still needed to unwrap until `engine-cloud keys rotate-root` has run. */
  previousMasterKeys: Buffer[];
  /** A person's session ends after this long unused... */
  sessionIdleMs: number;
  /** ...and after this long in any case. */
  sessionMaxMs: number;
  /** log2 of scrypt's N for new password hashes (OWASP: 17). */
  passwordHashLogN: number;
  /** Password hashes computed at once; each takes 2^N × 1 KiB of memory (128 MiB at N=17). */
  loginConcurrency: number;
  /** Sync streams get a heartbeat this often. */
  syncHeartbeatMs: number;
  /**
   * A Watch whose request message has not fully arrived this long after its
   * headers ends with DEADLINE_EXCEEDED: a request held open with headers only
   * would otherwise pin a stream (and its verified credential) indefinitely.
   */
  watchBodyTimeoutMs: number;
  /** Tombstones of deleted credentials are kept this long; runtimes away for longer resume with a RESET. */
  tombstoneRetentionMs: number;
  /** The audit log (store/audit-log.ts). */
  audit: {
    /** A chain gets a signed checkpoint at least every this many events… */
    checkpointEvery: number;
    /** …and, when it moved, at its first event after this long. */
    checkpointMs: number;
    /** Events older than this are purged, each chain cut at a checkpoint; 0 keeps everything. */
    retentionMs: number;
    /**
     * For bench/audit.bench.ts only: false discards every event, so a benchmark
     * can compare audited reads with unaudited ones in one run. No flag or
     * environment variable sets it (loadConfig always says true), so no
     * deployment can switch auditing off; a program must build its Config by hand.
     */
    enabled: boolean;
  };
  /**
   * A background job's lease (jobs/leased-job.ts) lasts this long unless its
   * holder renews it: after a holder dies, another process takes the job over
   * within about this long.
   */
  jobLeaseMs: number;
  /** Bounds on PostgreSQL work, so a stuck or unreachable database fails calls instead of holding them. */
  databaseTimeouts: DatabaseTimeouts;
  /** Every tenant's limits unless a platform administrator overrides them (ENGINE_CLOUD_LIMIT_<NAME>). */
  limits: TenantLimits;
  /** How often each process pools its rate and stream counts with the others' in the database. */
  limitsFlushMs: number;
  /**
   * How often each process writes the presence of its Watch streams (sync/presence-buffer.ts); a stream
   * whose process has not written for three intervals is listed as offline.
   */
  presenceFlushMs: number;
  /** Offline runtimes stay listed (ListRuntimes include_offline) this long, then are purged. */
  presenceRetentionMs: number;
  /** Connection- and protocol-level bounds, the same for every caller (per-tenant quotas are elsewhere). */
  transport: TransportLimits;
  /**
   * The base URL people and providers reach this server at (ENGINE_CLOUD_PUBLIC_URL), e.g.
   * "https://cloud.example.com": the OAuth redirect URL is this + "/oauth/callback". Absent: the URL it listens on.
   */
  publicUrl?: string;
  /** The connector hub: how it calls providers, how long a connect flow waits. */
  hub: HubConfig;
  /** The built web console served at /console/ (ENGINE_CLOUD_CONSOLE_DIR; default packages/console/dist). */
  consoleDir: string;
  /**
   * Outgoing mail for invitations (ENGINE_CLOUD_SMTP_URL or _FILE: smtp:// or smtps://, credentials allowed in
   * the URL; ENGINE_CLOUD_MAIL_FROM). Absent: invitations are handed to the inviter as a link.
   */
  mail?: { smtpUrl: string; from: string };
}

/** packages/server, from src/ or dist/ alike: the console's default directory is its sibling's dist. */
const SERVER_PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export type { DatabaseTimeouts, EmbeddedConfig, LogFormat, LogLevel, TransportLimits };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function parseListen(value: string, problems: string[], name = "--listen / ENGINE_CLOUD_LISTEN"): Config["listen"] {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    problems.push(`${name}: "${value}" is not host:port (e.g. 127.0.0.1:7070)`);
    return { host: "127.0.0.1", port: 7070 };
  }
  return { host: m[1].replace(/^\[|\]$/g, "") || "127.0.0.1", port };
}

/**
 * Flags win over environment variables. Every problem is reported, one line
 * each, so an operator fixes them all in one go.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv, terminal: { stdoutIsTTY?: boolean } = {}): Config {
  const problems: string[] = [];
  let flags: Record<string, string | undefined> = {};
  try {
    flags = parseArgs({
      args: argv,
      options: {
        listen: { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "database-url": { type: "string" },
        "data-dir": { type: "string" },
        "log-level": { type: "string" },
        "log-format": { type: "string" },
        "shutdown-grace": { type: "string" },
        "drain-delay": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (e) {
    problems.push((e as Error).message);
  }

  const listen = parseListen(flags.listen ?? env.ENGINE_CLOUD_LISTEN ?? "127.0.0.1:7070", problems);

  const certFile = flags["tls-cert"] ?? env.ENGINE_CLOUD_TLS_CERT;
  const keyFile = flags["tls-key"] ?? env.ENGINE_CLOUD_TLS_KEY;
  if (Boolean(certFile) !== Boolean(keyFile)) problems.push("--tls-cert and --tls-key must be given together");

  // DATABASE_URL_FILE: the URL (it holds the password) from a container secret.
  const databaseUrl = flags["database-url"] ?? (env.DATABASE_URL || secretFile(env, "DATABASE_URL_FILE", problems));
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL (or the file DATABASE_URL_FILE names) must start with postgres:// or postgresql://");
  }

  const bootstrapToken = env.ENGINE_CLOUD_TOKEN || secretFile(env, "ENGINE_CLOUD_TOKEN_FILE", problems);
  // The verifier's own rule: a seed it would refuse on every request must not be seeded (it would lock the operator out).
  const seedProblem = bootstrapToken && tokenShapeProblem(bootstrapToken);
  if (seedProblem) problems.push(`ENGINE_CLOUD_TOKEN ${seedProblem} (try: openssl rand -hex 32)`);

  let bootstrapProjects: string[] | undefined;
  if (env.ENGINE_CLOUD_ALLOWED_PROJECTS) {
    bootstrapProjects = env.ENGINE_CLOUD_ALLOWED_PROJECTS.split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    for (const p of bootstrapProjects) {
      if (!PROJECT_NAME.test(p)) problems.push(`ENGINE_CLOUD_ALLOWED_PROJECTS: "${p}" is not a valid project name`);
    }
  }

  const logLevel = (flags["log-level"] ?? env.ENGINE_CLOUD_LOG_LEVEL ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    problems.push(`log level "${logLevel}" is not one of debug, info, warn, error`);
  }

  const logFormat = (flags["log-format"] ??
    env.ENGINE_CLOUD_LOG_FORMAT ??
    (terminal.stdoutIsTTY ? "pretty" : "json")) as LogFormat;
  if (logFormat !== "json" && logFormat !== "pretty") problems.push(`log format "${logFormat}" is not json or pretty`);

  const metricsToken = env.ENGINE_CLOUD_METRICS_TOKEN || secretFile(env, "ENGINE_CLOUD_METRICS_TOKEN_FILE", problems);
  if (metricsToken !== undefined && metricsToken.length < 16) {
    problems.push("ENGINE_CLOUD_METRICS_TOKEN must be at least 16 characters (try: openssl rand -hex 32)");
  }
  const metrics: Config["metrics"] = {
    listen: env.ENGINE_CLOUD_METRICS_ADDR
      ? parseListen(env.ENGINE_CLOUD_METRICS_ADDR, problems, "ENGINE_CLOUD_METRICS_ADDR")
      : undefined,
    token: metricsToken,
  };

  const shutdownGraceMs = Number(flags["shutdown-grace"] ?? env.ENGINE_CLOUD_SHUTDOWN_GRACE_MS ?? 10_000);
  if (!Number.isInteger(shutdownGraceMs) || shutdownGraceMs < 0) {
    problems.push("--shutdown-grace / ENGINE_CLOUD_SHUTDOWN_GRACE_MS must be a whole number of milliseconds");
  }
  const drainDelayMs = Number(flags["drain-delay"] ?? env.ENGINE_CLOUD_DRAIN_DELAY_MS ?? 0);
  if (!Number.isInteger(drainDelayMs) || drainDelayMs < 0 || drainDelayMs > 300_000) {
    problems.push("--drain-delay / ENGINE_CLOUD_DRAIN_DELAY_MS must be a whole number of milliseconds, at most 300000");
  }

  const dataDir = path.resolve(flags["data-dir"] ?? env.ENGINE_CLOUD_DATA_DIR ?? ".engine-cloud");
  let masterKey: Config["masterKey"] = { file: path.join(dataDir, "master.key"), createIfMissing: !databaseUrl };
  if (env.ENGINE_CLOUD_MASTER_KEY) {
    const key = parseRootKey(env.ENGINE_CLOUD_MASTER_KEY);
    if (key) masterKey = { key };
    else problems.push("ENGINE_CLOUD_MASTER_KEY must be 32 bytes in base64 or hex (try: openssl rand -base64 32)");
  } else if (env.ENGINE_CLOUD_MASTER_KEY_FILE) {
    masterKey = { file: path.resolve(env.ENGINE_CLOUD_MASTER_KEY_FILE), createIfMissing: false };
  } else if (databaseUrl) {
    // Every server on one database must share the root key; generating one per process would lose data.
    problems.push("with DATABASE_URL, set ENGINE_CLOUD_MASTER_KEY or ENGINE_CLOUD_MASTER_KEY_FILE (the same on every server)");
  }
  const previousMasterKeys: Buffer[] = [];
  for (const text of (env.ENGINE_CLOUD_PREVIOUS_MASTER_KEYS ?? "").split(",").filter((t) => t.trim())) {
    const key = parseRootKey(text);
    if (key) previousMasterKeys.push(key);
    else problems.push("ENGINE_CLOUD_PREVIOUS_MASTER_KEYS must be a comma list of 32-byte keys in base64 or hex");
  }
  const syncHeartbeatMs = Number(env.ENGINE_CLOUD_SYNC_HEARTBEAT_MS ?? 15_000);
  if (!Number.isInteger(syncHeartbeatMs) || syncHeartbeatMs < 100) {
    problems.push("ENGINE_CLOUD_SYNC_HEARTBEAT_MS must be a whole number of milliseconds, at least 100");
  }

  const watchBodyTimeoutMs = Number(env.ENGINE_CLOUD_WATCH_BODY_TIMEOUT_MS ?? 10_000);
  if (!Number.isInteger(watchBodyTimeoutMs) || watchBodyTimeoutMs < 100) {
    problems.push("ENGINE_CLOUD_WATCH_BODY_TIMEOUT_MS must be a whole number of milliseconds, at least 100 (default 10000)");
  }

  const passwordHashLogN = Number(env.ENGINE_CLOUD_PASSWORD_HASH_LOG_N ?? 17);
  if (!Number.isInteger(passwordHashLogN) || passwordHashLogN < 14 || passwordHashLogN > 20) {
    problems.push("ENGINE_CLOUD_PASSWORD_HASH_LOG_N must be a whole number from 14 to 20 (default 17)");
  }

  const tombstoneRetentionMs = Number(env.ENGINE_CLOUD_TOMBSTONE_RETENTION_MS ?? 30 * 24 * 3600_000);
  if (!Number.isInteger(tombstoneRetentionMs) || tombstoneRetentionMs < 1000) {
    problems.push("ENGINE_CLOUD_TOMBSTONE_RETENTION_MS must be a whole number of milliseconds, at least 1000 (default 30 days)");
  }

  const checkpointEvery = Number(env.ENGINE_CLOUD_AUDIT_CHECKPOINT_EVERY ?? 1000);
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 1 || checkpointEvery > 1_000_000) {
    problems.push("ENGINE_CLOUD_AUDIT_CHECKPOINT_EVERY must be a whole number from 1 to 1000000 (default 1000)");
  }
  const checkpointMs = Number(env.ENGINE_CLOUD_AUDIT_CHECKPOINT_MS ?? 60_000);
  if (!Number.isInteger(checkpointMs) || checkpointMs < 100) {
    problems.push("ENGINE_CLOUD_AUDIT_CHECKPOINT_MS must be a whole number of milliseconds, at least 100 (default 60000)");
  }

  const retentionDays = Number(env.ENGINE_CLOUD_AUDIT_RETENTION_DAYS ?? 0);
  if (!Number.isFinite(retentionDays) || retentionDays < 0) {
    problems.push("ENGINE_CLOUD_AUDIT_RETENTION_DAYS must be a number of days, 0 or more (default 0: keep every event)");
  }

  const loginConcurrency = Number(env.ENGINE_CLOUD_LOGIN_CONCURRENCY ?? defaultHashConcurrency(env.UV_THREADPOOL_SIZE));
  if (!Number.isInteger(loginConcurrency) || loginConcurrency < 1 || loginConcurrency > 64) {
    problems.push("ENGINE_CLOUD_LOGIN_CONCURRENCY must be a whole number from 1 to 64 (default: one per core, less one)");
  }

  const databaseTimeouts: DatabaseTimeouts = {
    connectMs: timeoutMs(env, "ENGINE_CLOUD_DB_CONNECT_TIMEOUT_MS", 5_000, problems),
    statementMs: timeoutMs(env, "ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS", 10_000, problems),
    idleInTransactionMs: timeoutMs(env, "ENGINE_CLOUD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 15_000, problems),
  };
  const limits = { ...DEFAULT_LIMITS };
  for (const name of LIMIT_NAMES) {
    const variable = `ENGINE_CLOUD_LIMIT_${name.toUpperCase()}`;
    if (env[variable] === undefined) continue;
    const value = Number(env[variable]);
    if (isLimitValue(value)) limits[name] = value;
    else problems.push(`${variable} must be a whole number from 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMITS[name]})`);
  }
  const limitsFlushMs = Number(env.ENGINE_CLOUD_LIMITS_FLUSH_MS ?? 1000);
  if (!Number.isInteger(limitsFlushMs) || limitsFlushMs < 50 || limitsFlushMs > 60_000) {
    problems.push("ENGINE_CLOUD_LIMITS_FLUSH_MS must be a whole number of milliseconds from 50 to 60000 (default 1000)");
  }
  const presenceFlushMs = wholeNumber(env, "ENGINE_CLOUD_PRESENCE_FLUSH_MS", 5_000, 50, 60_000, problems);
  const presenceRetentionMs = wholeNumber(
    env,
    "ENGINE_CLOUD_PRESENCE_RETENTION_MS",
    24 * 3600_000,
    1000,
    365 * 24 * 3600_000,
    problems,
  );
  const transport = parseTransportLimits(env, problems);
  const jobLeaseMs = timeoutMs(env, "ENGINE_CLOUD_JOB_LEASE_MS", 30_000, problems);
  const embeddedFsync = env.ENGINE_CLOUD_EMBEDDED_FSYNC ?? "on";
  if (!["on", "off"].includes(embeddedFsync)) problems.push("ENGINE_CLOUD_EMBEDDED_FSYNC must be on or off (default on)");
  const embeddedThread = env.ENGINE_CLOUD_EMBEDDED_THREAD ?? "worker";
  if (embeddedThread !== "worker" && embeddedThread !== "main") {
    problems.push("ENGINE_CLOUD_EMBEDDED_THREAD must be worker or main (default worker)");
  }

  const publicUrl = env.ENGINE_CLOUD_PUBLIC_URL?.replace(/\/+$/, "") || undefined;
  if (publicUrl && !/^https?:\/\/[^/?#]+$/.test(publicUrl)) {
    problems.push("ENGINE_CLOUD_PUBLIC_URL must be a scheme and host, e.g. https://cloud.example.com (no path)");
  }
  const allowLoopback = env.ENGINE_CLOUD_HUB_ALLOW_LOOPBACK ?? "0";
  if (!["0", "1"].includes(allowLoopback))
    problems.push("ENGINE_CLOUD_HUB_ALLOW_LOOPBACK must be 0 or 1 (default 0; tests only)");
  const hub: HubConfig = {
    extraProviders: [],
    outbound: {
      allowLoopback: allowLoopback === "1",
      timeoutMs: wholeNumber(env, "ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS", 10_000, 100, 120_000, problems),
    },
    connectFlowTtlMs: wholeNumber(env, "ENGINE_CLOUD_HUB_CONNECT_FLOW_TTL_MS", CONNECT_FLOW_TTL_MS, 1000, 3600_000, problems),
    flowRetentionMs: wholeNumber(env, "ENGINE_CLOUD_HUB_FLOW_RETENTION_MS", 3600_000, 0, 30 * 86_400_000, problems),
    refresh: {
      pollMs: wholeNumber(env, "ENGINE_CLOUD_HUB_POLL_MS", 5_000, 50, 3600_000, problems),
      leaseMs: wholeNumber(env, "ENGINE_CLOUD_HUB_LEASE_MS", 30_000, 300, 3600_000, problems),
      batchSize: wholeNumber(env, "ENGINE_CLOUD_HUB_BATCH_SIZE", 50, 1, 10_000, problems),
      backoffBaseMs: wholeNumber(env, "ENGINE_CLOUD_HUB_BACKOFF_BASE_MS", 2_000, 1, 3600_000, problems),
      backoffCapMs: wholeNumber(env, "ENGINE_CLOUD_HUB_BACKOFF_CAP_MS", 300_000, 1, 86_400_000, problems),
      providerConcurrency: wholeNumber(env, "ENGINE_CLOUD_HUB_PROVIDER_CONCURRENCY", 5, 1, 1000, problems),
      cooldownMs: wholeNumber(env, "ENGINE_CLOUD_HUB_REFRESH_COOLDOWN_MS", 30_000, 30_000, 86_400_000, problems),
      keepAliveMs: wholeNumber(env, "ENGINE_CLOUD_HUB_KEEPALIVE_MS", 86_400_000, 1_000, 86_400_000, problems),
    },
  };
  // A token call must end well inside the lease, or a successor could claim the connection while it is still out.
  if (hub.outbound.timeoutMs * 3 > hub.refresh.leaseMs)
    problems.push("ENGINE_CLOUD_HUB_TOKEN_TIMEOUT_MS must be at most a third of ENGINE_CLOUD_HUB_LEASE_MS");

  const consoleDir = path.resolve(env.ENGINE_CLOUD_CONSOLE_DIR || path.join(SERVER_PACKAGE_DIR, "../console/dist"));
  const smtpUrl = env.ENGINE_CLOUD_SMTP_URL || secretFile(env, "ENGINE_CLOUD_SMTP_URL_FILE", problems);
  const mailFrom = env.ENGINE_CLOUD_MAIL_FROM?.trim();
  // The URL may hold the SMTP password: problems name the variable, never echo the value.
  if (smtpUrl && !/^smtps?:\/\/[^/?#]+/.test(smtpUrl))
    problems.push("ENGINE_CLOUD_SMTP_URL (or the file ENGINE_CLOUD_SMTP_URL_FILE names) must start with smtp:// or smtps://");
  if (smtpUrl && !mailFrom)
    problems.push("with ENGINE_CLOUD_SMTP_URL, set ENGINE_CLOUD_MAIL_FROM (the invitations' From address)");
  if (mailFrom && /[\r\n]/.test(mailFrom)) problems.push("ENGINE_CLOUD_MAIL_FROM must be one line");

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    listen,
    tls: certFile && keyFile ? { certFile, keyFile } : undefined,
    databaseUrl,
    dataDir,
    embedded: { fsync: embeddedFsync === "on", thread: embeddedThread as EmbeddedConfig["thread"] },
    bootstrapToken,
    bootstrapProjects,
    logLevel,
    logFormat,
    metrics,
    shutdownGraceMs,
    drainDelayMs,
    tokenCacheTtlMs: 60_000,
    masterKey,
    previousMasterKeys,
    syncHeartbeatMs,
    watchBodyTimeoutMs,
    tombstoneRetentionMs,
    audit: { checkpointEvery, checkpointMs, retentionMs: Math.round(retentionDays * 86_400_000), enabled: true },
    jobLeaseMs,
    sessionIdleMs: 12 * 3600_000,
    sessionMaxMs: 7 * 24 * 3600_000,
    passwordHashLogN,
    loginConcurrency,
    databaseTimeouts,
    limits,
    limitsFlushMs,
    presenceFlushMs,
    presenceRetentionMs,
    transport,
    publicUrl,
    hub,
    consoleDir,
    mail: smtpUrl && mailFrom ? { smtpUrl, from: mailFrom } : undefined,
  };
}

/**
 * A secret read from the file a `*_FILE` variable names (Docker and Kubernetes secrets are files), without its
 * trailing newline; undefined when the variable is unset. The file's content is never echoed in a problem line.
 */
function secretFile(env: NodeJS.ProcessEnv, name: string, problems: string[]): string | undefined {
  const file = env[name];
  if (!file) return undefined;
  try {
    return readFileSync(file, "utf8").replace(/\r?\n$/, "") || undefined;
  } catch (err) {
    problems.push(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
}

/** A whole-number setting from `min` to `max`, or its default; a problem line names the variable and the range. */
function wholeNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  defaultValue: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const text = env[name];
  if (text === undefined || text === "") return defaultValue;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max} (default ${defaultValue})`);
    return defaultValue;
  }
  return value;
}

/** The transport limits unless the environment says otherwise. */
export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = {
  // Requests are small (a credential value is at most 16 KiB); 1 MiB is room to spare, not room to hurt.
  maxMessageBytes: 1024 * 1024,
  bodyTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 120_000,
  // Runtimes hold one Watch each; the SDK multiplexes its unary calls beside it.
  maxStreamsPerConnection: 100,
  // nghttp2's own default, stated.
  maxSessionMemoryMiB: 10,
  // Loopback tests and NATs put many clients behind one address: generous, but finite.
  maxConnectionsPerAddress: 256,
};

function parseTransportLimits(env: NodeJS.ProcessEnv, problems: string[]): TransportLimits {
  const d = DEFAULT_TRANSPORT_LIMITS;
  const setting = (name: string, defaultValue: number, min: number, max: number) =>
    wholeNumber(env, `ENGINE_CLOUD_${name}`, defaultValue, min, max, problems);
  return {
    maxMessageBytes: setting("MAX_MESSAGE_BYTES", d.maxMessageBytes, 4096, 64 * 1024 * 1024),
    bodyTimeoutMs: setting("BODY_TIMEOUT_MS", d.bodyTimeoutMs, 100, 3600_000),
    headersTimeoutMs: setting("HEADERS_TIMEOUT_MS", d.headersTimeoutMs, 100, 600_000),
    idleTimeoutMs: setting("IDLE_TIMEOUT_MS", d.idleTimeoutMs, 100, 24 * 3600_000),
    maxStreamsPerConnection: setting("HTTP2_MAX_STREAMS", d.maxStreamsPerConnection, 1, 10_000),
    maxSessionMemoryMiB: setting("HTTP2_MAX_SESSION_MEMORY_MIB", d.maxSessionMemoryMiB, 1, 1024),
    maxConnectionsPerAddress: setting("MAX_CONNECTIONS_PER_ADDRESS", d.maxConnectionsPerAddress, 1, 1_000_000),
  };
}

/** A database timeout: whole milliseconds from 100 ms to an hour; 0 (no bound) is not offered. */
function timeoutMs(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[]): number {
  return wholeNumber(env, name, fallback, 100, 3_600_000, problems);
}
