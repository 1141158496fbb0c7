import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { inspectToken, mintToken } from "./auth/token-format.js";
import { ConfigError, loadConfig } from "./config.js";

const base = { ENGINE_CLOUD_TOKEN: "x".repeat(40), ENGINE_CLOUD_DATA_DIR: "/tmp/engine-cloud-config-test" };
const problemsOf = (env: Record<string, string>) => {
  try {
    loadConfig([], { ...base, ...env });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
};

describe("loadConfig: login and tombstone settings", () => {
  it("defaults the hashes in flight to the cores less one (1 to 3), and tombstones to 30 days", () => {
    const config = loadConfig([], base);
    expect(config.loginConcurrency).toBeGreaterThanOrEqual(1);
    expect(config.loginConcurrency).toBeLessThanOrEqual(3);
    expect(config.tombstoneRetentionMs).toBe(30 * 24 * 3600_000);
  });

  it("takes them from the environment", () => {
    const config = loadConfig([], { ...base, ENGINE_CLOUD_LOGIN_CONCURRENCY: "4", ENGINE_CLOUD_TOMBSTONE_RETENTION_MS: "60000" });
    expect([config.loginConcurrency, config.tombstoneRetentionMs]).toEqual([4, 60_000]);
  });

  it("refuses values out of range with one line each, naming the variable", () => {
    for (const bad of ["0", "65", "1.5", "many"]) {
      expect(problemsOf({ ENGINE_CLOUD_LOGIN_CONCURRENCY: bad })).toEqual([
        expect.stringContaining("ENGINE_CLOUD_LOGIN_CONCURRENCY"),
      ]);
    }
    for (const bad of ["999", "-1", "soon"]) {
      expect(problemsOf({ ENGINE_CLOUD_TOMBSTONE_RETENTION_MS: bad })).toEqual([
        expect.stringContaining("ENGINE_CLOUD_TOMBSTONE_RETENTION_MS"),
      ]);
    }
  });
});

describe("loadConfig: ENGINE_CLOUD_TOKEN", () => {
  const seeds = {
    "a space": `${"a".repeat(20)} ${"b".repeat(20)}`,
    "a tab": `${"a".repeat(20)}\t${"b".repeat(20)}`,
    "over 512 characters": "s".repeat(513),
    "a non-ASCII character": `${"a".repeat(40)}é`,
    "fewer than 32 characters": "s".repeat(31),
    "a generated prefix and the wrong length": `ecp_${"A".repeat(40)}`,
  };

  it.each(Object.entries(seeds))("refuses one holding %s, in one line that does not repeat it", (_what, seed) => {
    const problems = problemsOf({ ENGINE_CLOUD_TOKEN: seed });
    expect(problems).toEqual([expect.stringMatching(/^ENGINE_CLOUD_TOKEN .*\(try: openssl rand -hex 32\)$/)]);
    expect(problems[0]).not.toContain(seed);
  });

  it("refuses exactly what the verifier would refuse on every request (one rule, not a copy)", () => {
    const key = Buffer.alloc(32, 7);
    const accepted = ["s".repeat(32), "s".repeat(512), "!~".repeat(20), "x".repeat(40), mintToken("platform_admin", key)];
    for (const seed of [...Object.values(seeds), ...accepted]) {
      const refusedByConfig = problemsOf({ ENGINE_CLOUD_TOKEN: seed }).length > 0;
      expect(refusedByConfig, seed).toBe(inspectToken(seed, key).kind === "malformed");
    }
  });
});

describe("loadConfig: database timeouts", () => {
  it("defaults to a 5 s connect, 10 s statement and 15 s idle-in-transaction bound", () => {
    expect(loadConfig([], base).databaseTimeouts).toEqual({ connectMs: 5_000, statementMs: 10_000, idleInTransactionMs: 15_000 });
  });

  it("takes them from the environment", () => {
    const config = loadConfig([], {
      ...base,
      ENGINE_CLOUD_DB_CONNECT_TIMEOUT_MS: "1000",
      ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS: "2000",
      ENGINE_CLOUD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: "3000",
    });
    expect(config.databaseTimeouts).toEqual({ connectMs: 1000, statementMs: 2000, idleInTransactionMs: 3000 });
  });

  it("refuses no bound, tiny and malformed values, naming the variable", () => {
    for (const name of [
      "ENGINE_CLOUD_DB_CONNECT_TIMEOUT_MS",
      "ENGINE_CLOUD_DB_STATEMENT_TIMEOUT_MS",
      "ENGINE_CLOUD_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
    ]) {
      for (const bad of ["0", "99", "1.5", "soon"]) expect(problemsOf({ [name]: bad })).toEqual([expect.stringContaining(name)]);
    }
  });
});

describe("loadConfig: limits", () => {
  it("defaults every tenant's limits generously, and pools counts every second", () => {
    const config = loadConfig([], base);
    expect(config.limits).toEqual({
      token_requests_per_second: 1000,
      tenant_requests_per_second: 5000,
      token_streams: 1000,
      tenant_streams: 10000,
      tenant_credentials: 100000,
      tenant_connections: 10000,
    });
    expect(config.limitsFlushMs).toBe(1000);
  });

  it("takes each limit from ENGINE_CLOUD_LIMIT_<NAME>", () => {
    const config = loadConfig([], { ...base, ENGINE_CLOUD_LIMIT_TOKEN_STREAMS: "3", ENGINE_CLOUD_LIMITS_FLUSH_MS: "250" });
    expect([config.limits.token_streams, config.limits.tenant_streams, config.limitsFlushMs]).toEqual([3, 10000, 250]);
  });

  it("refuses a limit that is not a whole number from 1, naming the variable", () => {
    for (const bad of ["0", "-1", "2.5", "lots", "1000000001"]) {
      expect(problemsOf({ ENGINE_CLOUD_LIMIT_TENANT_CREDENTIALS: bad })).toEqual([
        expect.stringContaining("ENGINE_CLOUD_LIMIT_TENANT_CREDENTIALS"),
      ]);
    }
    expect(problemsOf({ ENGINE_CLOUD_LIMITS_FLUSH_MS: "10" })).toEqual([expect.stringContaining("ENGINE_CLOUD_LIMITS_FLUSH_MS")]);
  });
});

describe("loadConfig: runtime presence", () => {
  it("flushes every 5 s and keeps offline runtimes a day unless told otherwise", () => {
    const config = loadConfig([], base);
    expect([config.presenceFlushMs, config.presenceRetentionMs]).toEqual([5000, 86_400_000]);
    const set = loadConfig([], { ...base, ENGINE_CLOUD_PRESENCE_FLUSH_MS: "200", ENGINE_CLOUD_PRESENCE_RETENTION_MS: "60000" });
    expect([set.presenceFlushMs, set.presenceRetentionMs]).toEqual([200, 60_000]);
  });

  it("refuses a flush interval outside 50 ms to a minute, naming the variable", () => {
    for (const bad of ["10", "60001", "fast"]) {
      expect(problemsOf({ ENGINE_CLOUD_PRESENCE_FLUSH_MS: bad })).toEqual([
        expect.stringContaining("ENGINE_CLOUD_PRESENCE_FLUSH_MS"),
      ]);
    }
  });
});

describe("loadConfig: transport limits", () => {
  it("defaults to 1 MiB messages, 100 streams per connection and 256 connections per address", () => {
    const { transport } = loadConfig([], base);
    expect(transport).toMatchObject({
      maxMessageBytes: 1024 * 1024,
      maxStreamsPerConnection: 100,
      maxConnectionsPerAddress: 256,
    });
  });

  it("takes them from the environment", () => {
    const { transport } = loadConfig([], {
      ...base,
      ENGINE_CLOUD_MAX_MESSAGE_BYTES: "65536",
      ENGINE_CLOUD_IDLE_TIMEOUT_MS: "500",
    });
    expect([transport.maxMessageBytes, transport.idleTimeoutMs]).toEqual([65536, 500]);
  });

  it("refuses values out of range with one line each, naming the variable", () => {
    for (const [name, bad] of [
      ["ENGINE_CLOUD_MAX_MESSAGE_BYTES", "100"],
      ["ENGINE_CLOUD_HTTP2_MAX_STREAMS", "0"],
      ["ENGINE_CLOUD_BODY_TIMEOUT_MS", "soon"],
    ]) {
      expect(problemsOf({ [name]: bad })).toEqual([expect.stringContaining(name)]);
    }
  });
});

describe("loadConfig: background job leases", () => {
  it("defaults a job's lease to 30 seconds and takes ENGINE_CLOUD_JOB_LEASE_MS", () => {
    expect(loadConfig([], base).jobLeaseMs).toBe(30_000);
    expect(loadConfig([], { ...base, ENGINE_CLOUD_JOB_LEASE_MS: "1000" }).jobLeaseMs).toBe(1_000);
  });

  it("refuses a lease out of range, naming the variable", () => {
    for (const bad of ["99", "3600001", "soon"]) {
      expect(problemsOf({ ENGINE_CLOUD_JOB_LEASE_MS: bad })).toEqual([expect.stringContaining("ENGINE_CLOUD_JOB_LEASE_MS")]);
    }
  });
});

describe("loadConfig: embedded database settings", () => {
  it("defaults to fsync at every commit and the database on a worker thread", () => {
    expect(loadConfig([], base).embedded).toEqual({ fsync: true, thread: "worker" });
  });

  it("takes them from the environment", () => {
    const config = loadConfig([], { ...base, ENGINE_CLOUD_EMBEDDED_FSYNC: "off", ENGINE_CLOUD_EMBEDDED_THREAD: "main" });
    expect(config.embedded).toEqual({ fsync: false, thread: "main" });
  });

  it("refuses other values with one line each, naming the variable", () => {
    expect(problemsOf({ ENGINE_CLOUD_EMBEDDED_FSYNC: "yes" })).toEqual([expect.stringContaining("ENGINE_CLOUD_EMBEDDED_FSYNC")]);
    expect(problemsOf({ ENGINE_CLOUD_EMBEDDED_THREAD: "both" })).toEqual([
      expect.stringContaining("ENGINE_CLOUD_EMBEDDED_THREAD"),
    ]);
  });
});

describe("loadConfig: logs and metrics", () => {
  it("logs JSON off a terminal and readable lines on one, unless told otherwise", () => {
    expect(loadConfig([], base).logFormat).toBe("json");
    expect(loadConfig([], base, { stdoutIsTTY: true }).logFormat).toBe("pretty");
    expect(loadConfig([], { ...base, ENGINE_CLOUD_LOG_FORMAT: "json" }, { stdoutIsTTY: true }).logFormat).toBe("json");
    expect(loadConfig(["--log-format", "pretty"], base).logFormat).toBe("pretty");
    expect(problemsOf({ ENGINE_CLOUD_LOG_FORMAT: "xml" })).toEqual(['log format "xml" is not json or pretty']);
  });

  it("serves no metrics unless an address or a token is set", () => {
    expect(loadConfig([], base).metrics).toEqual({ listen: undefined, token: undefined });
    const config = loadConfig([], {
      ...base,
      ENGINE_CLOUD_METRICS_ADDR: "0.0.0.0:9464",
      ENGINE_CLOUD_METRICS_TOKEN: "t".repeat(32),
    });
    expect(config.metrics).toEqual({ listen: { host: "0.0.0.0", port: 9464 }, token: "t".repeat(32) });
  });

  it("refuses a metrics address that is not host:port and a token too short to guess at", () => {
    expect(problemsOf({ ENGINE_CLOUD_METRICS_ADDR: "9464", ENGINE_CLOUD_METRICS_TOKEN: "short" })).toEqual([
      "ENGINE_CLOUD_METRICS_TOKEN must be at least 16 characters (try: openssl rand -hex 32)",
      'ENGINE_CLOUD_METRICS_ADDR: "9464" is not host:port (e.g. 127.0.0.1:7070)',
    ]);
  });

  it("reads the bootstrap and metrics tokens from files (container secrets), without their newline", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "engine-cloud-secret-"));
    const seed = "s".repeat(40);
    writeFileSync(path.join(dir, "token"), `${seed}\n`);
    writeFileSync(path.join(dir, "metrics"), "m".repeat(32));
    const config = loadConfig([], {
      ENGINE_CLOUD_DATA_DIR: base.ENGINE_CLOUD_DATA_DIR,
      ENGINE_CLOUD_TOKEN_FILE: path.join(dir, "token"),
      ENGINE_CLOUD_METRICS_TOKEN_FILE: path.join(dir, "metrics"),
    });
    expect([config.bootstrapToken, config.metrics.token]).toEqual([seed, "m".repeat(32)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("names a secret file it cannot read, and never its content", () => {
    expect(problemsOf({ ENGINE_CLOUD_TOKEN: "", ENGINE_CLOUD_TOKEN_FILE: "/nonexistent/token" })).toEqual([
      "ENGINE_CLOUD_TOKEN_FILE: cannot read /nonexistent/token (ENOENT)",
    ]);
  });
});

describe("loadConfig: the console and invitation mail", () => {
  it("serves the console from packages/console/dist beside the server package unless told otherwise", () => {
    expect(loadConfig([], base).consoleDir).toBe(path.resolve(import.meta.dirname, "../../console/dist"));
    expect(loadConfig([], { ...base, ENGINE_CLOUD_CONSOLE_DIR: "/srv/console" }).consoleDir).toBe("/srv/console");
  });

  it("mails invitations only with an smtp:// or smtps:// URL and a From address", () => {
    expect(loadConfig([], base).mail).toBeUndefined();
    const mail = { ENGINE_CLOUD_SMTP_URL: "smtps://user:pw@mail.example.com:465", ENGINE_CLOUD_MAIL_FROM: "cloud@example.com" };
    expect(loadConfig([], { ...base, ...mail }).mail).toEqual({ smtpUrl: mail.ENGINE_CLOUD_SMTP_URL, from: "cloud@example.com" });
    expect(problemsOf({ ENGINE_CLOUD_SMTP_URL: mail.ENGINE_CLOUD_SMTP_URL })).toEqual([
      expect.stringContaining("ENGINE_CLOUD_MAIL_FROM"),
    ]);
    // The URL may hold a password: the problem names the variable, never the value.
    const [problem] = problemsOf({
      ENGINE_CLOUD_SMTP_URL: "http://user:secret-pw@mail.example.com",
      ENGINE_CLOUD_MAIL_FROM: "a@b.c",
    });
    expect(problem).toContain("ENGINE_CLOUD_SMTP_URL");
    expect(problem).not.toContain("secret-pw");
  });

  it("reads the SMTP URL from ENGINE_CLOUD_SMTP_URL_FILE, as DATABASE_URL_FILE", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "smtp-url-"));
    try {
      const file = path.join(dir, "smtp-url");
      writeFileSync(file, "smtp://relay.example.com:587\n");
      const config = loadConfig([], { ...base, ENGINE_CLOUD_SMTP_URL_FILE: file, ENGINE_CLOUD_MAIL_FROM: "a@b.c" });
      expect(config.mail?.smtpUrl).toBe("smtp://relay.example.com:587");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
