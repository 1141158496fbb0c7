import { create } from "@bufbuild/protobuf";
import { CredentialType, PutCredentialRequestSchema } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { findIllFormedString } from "./ill-formed-string.js";

const put = (init: Parameters<typeof create<typeof PutCredentialRequestSchema>>[1]) =>
  create(PutCredentialRequestSchema, {
    provider: "openai",
    type: CredentialType.API_KEY,
    keys: { api_key: { value: "sk" } },
    ...init,
  });

describe("findIllFormedString", () => {
  it("passes a request whose strings are all well-formed, emoji included", () => {
    expect(findIllFormedString(PutCredentialRequestSchema, put({ alias: "😀" }))).toBeUndefined();
  });

  it("finds a NUL in a nested message inside a map, naming its path", () => {
    const found = findIllFormedString(PutCredentialRequestSchema, put({ keys: { api_key: { value: "s\u0000k" } } }));
    expect(found).toEqual({ field: 'keys["api_key"].value', problem: expect.stringContaining("NUL") });
  });

  it("finds a NUL in a map key, escaped in the path it reports", () => {
    const found = findIllFormedString(PutCredentialRequestSchema, put({ identity: { "a\u0000": "b" } }));
    expect(found?.field).toBe('identity["a\\u0000"]');
  });

  it("finds an unpaired surrogate", () => {
    const found = findIllFormedString(PutCredentialRequestSchema, put({ alias: "a\ud800" }));
    expect(found).toEqual({ field: "alias", problem: expect.stringContaining("surrogate") });
  });
});
