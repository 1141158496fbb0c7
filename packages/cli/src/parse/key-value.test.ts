import { describe, expect, it } from "vitest";
import { parseKeyValue, parseKeyValues } from "./key-value.js";
import { UsageError } from "../framework/usage-error.js";

describe("parseKeyValue", () => {
  it("splits a name from its value", () => {
    expect(parseKeyValue("identity", "email=ops@acme.com")).toEqual(["email", "ops@acme.com"]);
  });

  it("splits at the first '=', keeping the rest of the value whole", () => {
    expect(parseKeyValue("key", "api_key=c2VjcmV0==")).toEqual(["api_key", "c2VjcmV0=="]);
    expect(parseKeyValue("meta", "url=https://x.test/?a=1&b=2")).toEqual(["url", "https://x.test/?a=1&b=2"]);
  });

  it("accepts an empty value", () => {
    expect(parseKeyValue("meta", "note=")).toEqual(["note", ""]);
  });

  it("refuses a value without '=' as a usage error", () => {
    expect(() => parseKeyValue("identity", "email")).toThrow(UsageError);
    expect(() => parseKeyValue("identity", "email")).toThrow('invalid --identity: use name=value (the value given has no "=")');
  });

  it("refuses an empty name", () => {
    expect(() => parseKeyValue("meta", "=x")).toThrow('no name before "="');
  });

  it("never repeats the text in its error: for --key it is a secret", () => {
    for (const text of ["sk_live_51abc", "=sk_live_51abc"]) {
      expect(() => parseKeyValue("key", text)).toThrow(UsageError);
      expect(() => parseKeyValue("key", text)).not.toThrow("sk_live_51abc");
    }
  });
});

describe("parseKeyValues", () => {
  it("collects every pair, in the order given", () => {
    const values = parseKeyValues("identity", ["email=ops@acme.com", "team=growth"]);
    expect(Object.entries(values)).toEqual([
      ["email", "ops@acme.com"],
      ["team", "growth"],
    ]);
  });

  it("gives an empty record for no values", () => {
    expect(parseKeyValues("meta", [])).toEqual({});
  });

  it("refuses a name given twice rather than keeping one silently", () => {
    expect(() => parseKeyValues("key", ["token=a", "token=b"])).toThrow('--key "token" is given more than once');
  });

  it("keeps names that are also object property names as plain names", () => {
    const values = parseKeyValues("meta", ["__proto__=x", "constructor=y"]);
    expect(Object.entries(values)).toEqual([
      ["__proto__", "x"],
      ["constructor", "y"],
    ]);
  });
});
