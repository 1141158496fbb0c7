import { create } from "@bufbuild/protobuf";
import { CredentialSchema, CredentialType } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { formatNamedValues, hideSecretValues, parseCredentialRef } from "./credential-format.js";

describe("parseCredentialRef", () => {
  it("reads a provider alone, leaving the alias to the server's default", () => {
    expect(parseCredentialRef("hubspot")).toEqual({ provider: "hubspot", alias: "" });
  });

  it("reads provider/alias", () => {
    expect(parseCredentialRef("google/ops@acme.com")).toEqual({ provider: "google", alias: "ops@acme.com" });
  });

  it.each(["", "/work", "hubspot/", "a/b/c"])("refuses %j", (text) => {
    expect(() => parseCredentialRef(text)).toThrow("use <provider> or <provider>/<alias>");
  });
});

describe("hideSecretValues", () => {
  const credential = create(CredentialSchema, {
    provider: "hubspot",
    alias: "work",
    type: CredentialType.OAUTH2,
    keys: { access_token: { value: "at-secret" }, refresh_token: { value: "rt-secret" } },
    identity: { email: "ops@acme.com" },
  });

  it("empties every secret value and keeps the key names and everything else", () => {
    const hidden = hideSecretValues(credential);
    expect(Object.keys(hidden.keys)).toEqual(["access_token", "refresh_token"]);
    expect(Object.values(hidden.keys).map((k) => k.value)).toEqual(["", ""]);
    expect(hidden.identity).toEqual({ email: "ops@acme.com" });
  });

  it("leaves the credential it was given untouched", () => {
    hideSecretValues(credential);
    expect(credential.keys.access_token.value).toBe("at-secret");
  });
});

describe("formatNamedValues", () => {
  it("prints name=value pairs, quoting values with blanks, quotes or '='", () => {
    expect(formatNamedValues({ a: "plain", b: "two words", c: 'say "hi"', d: "x=y", e: "" })).toBe(
      'a=plain b="two words" c="say \\"hi\\"" d="x=y" e=""',
    );
  });
});
