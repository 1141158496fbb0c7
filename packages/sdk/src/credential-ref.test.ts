import { describe, expect, it } from "vitest";
import { parseCredentialName, resolveCredentialRef } from "./credential-ref.js";

describe("credential names", () => {
  it('reads "provider/alias"', () => {
    expect(parseCredentialName("google/work")).toEqual({ provider: "google", alias: "work" });
  });

  it('gives a bare provider the alias "default"', () => {
    expect(parseCredentialName("hubspot")).toEqual({ provider: "hubspot", alias: "default" });
  });

  it("refuses names it would have to guess at", () => {
    for (const bad of ["", "/work", "google/", "a/b/c"]) expect(() => parseCredentialName(bad)).toThrow(TypeError);
  });

  it("takes a UUID-shaped string for an id", () => {
    const id = "7f9c1b3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
    expect(resolveCredentialRef(id)).toEqual({ id });
    expect(resolveCredentialRef({ provider: id })).toEqual({ provider: id, alias: "default", project: undefined });
  });
});
