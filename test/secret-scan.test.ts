import { create } from "@bufbuild/protobuf";
import { CredentialSchema, CredentialType, WatchResponseSchema } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { createSecretScan, type IssuedSecrets } from "./support/secret-scan.js";

// The hub's secret scan must be able to fail: these plant each kind of secret where it must not be.

const ACCESS = "access-token-0123456789abcdef";
const REFRESH = "refresh-token-0123456789abcdef";
const secrets: IssuedSecrets = { accessTokens: [ACCESS], neverShown: new Map([[REFRESH, "a refresh token"]]) };

const delivery = (keys: Record<string, string>) =>
  create(WatchResponseSchema, {
    revision: 7n,
    event: {
      case: "upsert",
      value: create(CredentialSchema, {
        id: "c1",
        provider: "loopback",
        type: CredentialType.OAUTH2,
        keys: Object.fromEntries(Object.entries(keys).map(([k, value]) => [k, { value }])),
      }),
    },
  });

describe("the secret scan", () => {
  it("allows an access token only as a delivered credential's access_token", () => {
    const scan = createSecretScan();
    scan.addStreamMessage(delivery({ access_token: ACCESS }));
    expect(scan.leaks(secrets)).toEqual([]);
    scan.addStreamMessage(delivery({ access_token: "other-value-0123456789", note: ACCESS }));
    expect(scan.leaks(secrets)).toEqual(["an access token in a stream message outside its delivery (1×)"]);
  });

  it("finds a refresh token anywhere: in a delivery, a log line, an error, amid other text", () => {
    const scan = createSecretScan();
    scan.addStreamMessage(delivery({ access_token: REFRESH }));
    scan.addLog(`{"msg":"refreshed","x":"${"y".repeat(100_000)}${REFRESH}tail"}`);
    scan.addError(new Error(`provider said ${REFRESH}`));
    expect(scan.leaks(secrets)).toEqual([
      "a refresh token in a stream message (1×)",
      "a refresh token in a server log (1×)",
      "a refresh token in an error (1×)",
    ]);
  });

  it("finds an access token in a log line", () => {
    const scan = createSecretScan();
    scan.addLog(`Bearer ${ACCESS}`);
    expect(scan.leaks(secrets)).toEqual(["an access token in a server log outside its delivery (1×)"]);
  });
});
