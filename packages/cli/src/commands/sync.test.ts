import { create } from "@bufbuild/protobuf";
import { CredentialType, WatchResponseSchema } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { formatEvent } from "./sync.js";

const upsert = create(WatchResponseSchema, {
  revision: 17n,
  event: {
    case: "upsert",
    value: {
      project: "p1",
      provider: "hubspot",
      alias: "work",
      type: CredentialType.OAUTH2,
      version: 3n,
      keys: { access_token: { value: "at-secret" }, refresh_token: { value: "rt secret" } },
    },
  },
});

describe("formatEvent", () => {
  it("prints a change as revision, type, provider/alias, project, version and key names", () => {
    expect(formatEvent(upsert, false)).toBe("17 upsert hubspot/work project=p1 version=3 keys=access_token,refresh_token");
  });

  it("prints no secret value unless asked", () => {
    expect(formatEvent(upsert, false)).not.toMatch(/at-secret|rt secret/);
  });

  it("prints the secret values when asked, quoted where needed", () => {
    expect(formatEvent(upsert, true)).toBe(
      '17 upsert hubspot/work project=p1 version=3 access_token=at-secret refresh_token="rt secret"',
    );
  });

  it("prints a delete, a tenant-wide credential's project as all", () => {
    const event = create(WatchResponseSchema, {
      revision: 18n,
      event: { case: "delete", value: { id: "c-1", provider: "stripe", alias: "default", project: "" } },
    });
    expect(formatEvent(event, false)).toBe("18 delete stripe/default project=all id=c-1");
  });

  it("prints the stream's markers", () => {
    const reset = create(WatchResponseSchema, { revision: 0n, event: { case: "reset", value: { reason: "INITIAL" } } });
    const caughtUp = create(WatchResponseSchema, { revision: 17n, event: { case: "caughtUp", value: {} } });
    expect(formatEvent(reset, false)).toBe("0 reset reason=INITIAL");
    expect(formatEvent(caughtUp, false)).toBe("17 caught-up");
  });
});
