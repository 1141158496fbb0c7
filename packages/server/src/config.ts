import { parseArgs } from "node:util";
import path from "node:path";
import { defaultHashConcurrency } from "./auth/hash-gate.js";
import { parseRootKey } from "./crypto/root-keys.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** How the embedded database (PGlite, used without DATABASE_URL) runs. */
export interface EmbeddedConfig {
  /** fsync the WAL at every commit (ENGINE_CLOUD_EMBEDDED_FSYNC, default on): acknowledged writes survive power loss. */
  fsync: boolean;
  /**
   * "worker" (ENGINE_CLOUD_EMBEDDED_THREAD, the default): the database and its file I/O run on a thread of their
   * own; "main": on the thread serving requests, where a slow disk delays calls that touch no database.
   */
  thread: "worker" | "main";
}

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
  /** How long in-flight calls may run after SIGTERM before they are cut. */
  shutdownGraceMs: number;
  /**
   * Upper bound on how long a cached token verdict is trusted without a
   * change notification; a safety net for a notification lost with a crash.
   */
  tokenCacheTtlMs: number;
  /** The root key (ENGINE_CLOUD_MASTER_KEY) or, absent, the file holding it. */
  masterKey: { key: Buffer } | { file: string; createIfMissing: boolean };
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
  /** Tombstones of deleted credentials are kept this long; runtimes away for longer resume with a RESET. */
  tombstoneRetentionMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const MIN_BOOTSTRAP_TOKEN_LENGTH = 32;
const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function parseListen(value: string, problems: string[]): Config["listen"] {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    problems.push(`--listen / ENGINE_CLOUD_LISTEN: "${value}" is not host:port (e.g. 127.0.0.1:7070)`);
    return { host: "127.0.0.1", port: 7070 };
  }
  return { host: m[1].replace(/^\[|\]$/g, "") || "127.0.0.1", port };
}

/**
 * Flags win over environment variables. Every problem is reported, one line
 * each, so an operator fixes them all in one go.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
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
        "shutdown-grace": { type: "string" },
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

  const databaseUrl = flags["database-url"] ?? env.DATABASE_URL ?? undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push("DATABASE_URL must start with postgres:// or postgresql://");
  }

  const bootstrapToken = env.ENGINE_CLOUD_TOKEN || undefined;
  if (bootstrapToken && bootstrapToken.length < MIN_BOOTSTRAP_TOKEN_LENGTH) {
    problems.push(
      `ENGINE_CLOUD_TOKEN must be at least ${MIN_BOOTSTRAP_TOKEN_LENGTH} characters (try: openssl rand -hex 32)`,
    );
  }

  let bootstrapProjects: string[] | undefined;
  if (env.ENGINE_CLOUD_ALLOWED_PROJECTS) {
    bootstrapProjects = env.ENGINE_CLOUD_ALLOWED_PROJECTS.split(",").map((p) => p.trim()).filter(Boolean);
    for (const p of bootstrapProjects) {
      if (!PROJECT_NAME.test(p)) problems.push(`ENGINE_CLOUD_ALLOWED_PROJECTS: "${p}" is not a valid project name`);
    }
  }

  const logLevel = (flags["log-level"] ?? env.ENGINE_CLOUD_LOG_LEVEL ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    problems.push(`log level "${logLevel}" is not one of debug, info, warn, error`);
  }

  const shutdownGraceMs = Number(flags["shutdown-grace"] ?? env.ENGINE_CLOUD_SHUTDOWN_GRACE_MS ?? 10_000);
  if (!Number.isInteger(shutdownGraceMs) || shutdownGraceMs < 0) {
    problems.push("--shutdown-grace / ENGINE_CLOUD_SHUTDOWN_GRACE_MS must be a whole number of milliseconds");
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

  const passwordHashLogN = Number(env.ENGINE_CLOUD_PASSWORD_HASH_LOG_N ?? 17);
  if (!Number.isInteger(passwordHashLogN) || passwordHashLogN < 14 || passwordHashLogN > 20) {
    problems.push("ENGINE_CLOUD_PASSWORD_HASH_LOG_N must be a whole number from 14 to 20 (default 17)");
  }

  const tombstoneRetentionMs = Number(env.ENGINE_CLOUD_TOMBSTONE_RETENTION_MS ?? 30 * 24 * 3600_000);
  if (!Number.isInteger(tombstoneRetentionMs) || tombstoneRetentionMs < 1000) {
    problems.push("ENGINE_CLOUD_TOMBSTONE_RETENTION_MS must be a whole number of milliseconds, at least 1000 (default 30 days)");
  }

  const loginConcurrency = Number(env.ENGINE_CLOUD_LOGIN_CONCURRENCY ?? defaultHashConcurrency());
  if (!Number.isInteger(loginConcurrency) || loginConcurrency < 1 || loginConcurrency > 64) {
    problems.push("ENGINE_CLOUD_LOGIN_CONCURRENCY must be a whole number from 1 to 64 (default: one per core, less one)");
  }

  const embeddedFsync = env.ENGINE_CLOUD_EMBEDDED_FSYNC ?? "on";
  if (!["on", "off"].includes(embeddedFsync)) problems.push("ENGINE_CLOUD_EMBEDDED_FSYNC must be on or off (default on)");
  const embeddedThread = env.ENGINE_CLOUD_EMBEDDED_THREAD ?? "worker";
  if (embeddedThread !== "worker" && embeddedThread !== "main") {
    problems.push("ENGINE_CLOUD_EMBEDDED_THREAD must be worker or main (default worker)");
  }

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
    shutdownGraceMs,
    tokenCacheTtlMs: 60_000,
    masterKey,
    previousMasterKeys,
    syncHeartbeatMs,
    tombstoneRetentionMs,
    sessionIdleMs: 12 * 3600_000,
    sessionMaxMs: 7 * 24 * 3600_000,
    passwordHashLogN,
    loginConcurrency,
  };
}
