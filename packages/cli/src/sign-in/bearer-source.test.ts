import { Code, type CloudErrorDetails } from "@engine-cloud/sdk";
import { describe, expect, it } from "vitest";
import { missingCredentialHint, resolveCredential, sameServer, type CredentialInputs } from "./bearer-source.js";
import type { StoredSession } from "./session-file.js";

const server = "http://127.0.0.1:7070";
const session: StoredSession = {
  server,
  session_token: "ecu_session",
  tenant_slug: "acme",
  email: "ann@acme.com",
  user_id: "u1",
  expires_at: "",
};

const inputs = (over: Partial<CredentialInputs> = {}): CredentialInputs => ({
  env: {},
  serverUrl: server,
  loadSession: () => session,
  ...over,
});

const unauthenticated = { code: Code.Unauthenticated, reason: "UNAUTHENTICATED" } as CloudErrorDetails;

describe("resolveCredential", () => {
  it("takes --token over ENGINE_CLOUD_TOKEN and the stored session", () => {
    const resolved = resolveCredential(inputs({ flagToken: "ect_flag", env: { ENGINE_CLOUD_TOKEN: "ect_env" } }));
    expect(resolved).toEqual({ token: "ect_flag", source: "flag" });
  });

  it("takes ENGINE_CLOUD_TOKEN over the stored session", () => {
    expect(resolveCredential(inputs({ env: { ENGINE_CLOUD_TOKEN: "ect_env" } }))).toEqual({
      token: "ect_env",
      source: "env",
    });
  });

  it("uses the stored session when no token is given", () => {
    expect(resolveCredential(inputs())).toEqual({ token: "ecu_session", source: "session", session });
  });

  it("treats an empty ENGINE_CLOUD_TOKEN as unset", () => {
    expect(resolveCredential(inputs({ env: { ENGINE_CLOUD_TOKEN: "" } })).source).toBe("session");
  });

  it("does not read the session file when a token is given, so a damaged one cannot get in the way", () => {
    const loadSession = () => {
      throw new Error("read");
    };
    expect(resolveCredential(inputs({ flagToken: "t", loadSession })).source).toBe("flag");
    expect(resolveCredential(inputs({ env: { ENGINE_CLOUD_TOKEN: "t" }, loadSession })).source).toBe("env");
  });

  it("never sends a session to another server, and says why it was passed over", () => {
    const resolved = resolveCredential(inputs({ serverUrl: "https://cloud.example.com" }));
    expect(resolved.token).toBeUndefined();
    expect(resolved.source).toBe("none");
    expect(resolved.sessionIgnored).toContain(`logged in to ${server}, not https://cloud.example.com`);
  });

  it("has no credential without a token or a session", () => {
    expect(resolveCredential(inputs({ loadSession: () => undefined }))).toEqual({ source: "none" });
  });
});

describe("sameServer", () => {
  it("ignores a trailing slash, the case of the host and a default port", () => {
    expect(sameServer("http://127.0.0.1:7070/", "http://127.0.0.1:7070")).toBe(true);
    expect(sameServer("https://Cloud.Example.com:443", "https://cloud.example.com")).toBe(true);
  });

  it("tells apart schemes, hosts and ports", () => {
    expect(sameServer("http://127.0.0.1:7070", "https://127.0.0.1:7070")).toBe(false);
    expect(sameServer("http://127.0.0.1:7070", "http://127.0.0.1:7071")).toBe(false);
    expect(sameServer("http://localhost:7070", "http://127.0.0.1:7070")).toBe(false);
  });
});

describe("missingCredentialHint", () => {
  it("tells a person with no credential to log in", () => {
    expect(missingCredentialHint({ source: "none" }, unauthenticated)).toMatch(/run 'engine-cloud login'/);
  });

  it("explains a session stored for another server", () => {
    const resolved = resolveCredential(inputs({ serverUrl: "http://other:1" }));
    expect(missingCredentialHint(resolved, unauthenticated)).toContain("--server http://127.0.0.1:7070");
  });

  it("says nothing when a credential was sent, or the call failed otherwise", () => {
    expect(missingCredentialHint({ source: "session", token: "t" }, unauthenticated)).toBeUndefined();
    expect(missingCredentialHint({ source: "none" }, { ...unauthenticated, code: Code.NotFound })).toBeUndefined();
  });
});
