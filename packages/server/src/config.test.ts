import { describe, expect, it } from "vitest";
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
      expect(problemsOf({ ENGINE_CLOUD_LOGIN_CONCURRENCY: bad })).toEqual([expect.stringContaining("ENGINE_CLOUD_LOGIN_CONCURRENCY")]);
    }
    for (const bad of ["999", "-1", "soon"]) {
      expect(problemsOf({ ENGINE_CLOUD_TOMBSTONE_RETENTION_MS: bad })).toEqual([
        expect.stringContaining("ENGINE_CLOUD_TOMBSTONE_RETENTION_MS"),
      ]);
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
    expect(problemsOf({ ENGINE_CLOUD_EMBEDDED_THREAD: "both" })).toEqual([expect.stringContaining("ENGINE_CLOUD_EMBEDDED_THREAD")]);
  });
});
