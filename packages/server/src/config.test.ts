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

describe("loadConfig: transport limits", () => {
  it("defaults to 1 MiB messages, 100 streams per connection and 256 connections per address", () => {
    const { transport } = loadConfig([], base);
    expect(transport).toMatchObject({ maxMessageBytes: 1024 * 1024, maxStreamsPerConnection: 100, maxConnectionsPerAddress: 256 });
  });

  it("takes them from the environment", () => {
    const { transport } = loadConfig([], { ...base, ENGINE_CLOUD_MAX_MESSAGE_BYTES: "65536", ENGINE_CLOUD_IDLE_TIMEOUT_MS: "500" });
    expect([transport.maxMessageBytes, transport.idleTimeoutMs]).toEqual([65536, 500]);
  });

  it("refuses values out of range with one line each, naming the variable", () => {
    for (const [name, bad] of [["ENGINE_CLOUD_MAX_MESSAGE_BYTES", "100"], ["ENGINE_CLOUD_HTTP2_MAX_STREAMS", "0"], ["ENGINE_CLOUD_BODY_TIMEOUT_MS", "soon"]]) {
      expect(problemsOf({ [name]: bad })).toEqual([expect.stringContaining(name)]);
    }
  });
});
