import { describe, expect, it } from "vitest";
import { reasonName, reasonOf } from "./error-reason.js";
import { ErrorReason, ErrorReasonSchema } from "./gen/engine/cloud/v1/error_reason_pb.js";

const sent = ErrorReasonSchema.values.filter((v) => v.number !== ErrorReason.ERROR_REASON_UNSPECIFIED);

describe("ErrorReason on the wire", () => {
  it("has a value for every reason, beyond UNSPECIFIED", () => {
    expect(sent.length).toBeGreaterThan(60);
  });

  it.each(sent.map((v) => [v.name, v.number as ErrorReason] as const))(
    "sends %s as its own name and reads it back",
    (name, value) => {
      expect(reasonName(value)).toBe(name);
      expect(reasonOf(reasonName(value))).toBe(value);
      // The generated TypeScript name is the wire string too, so `ErrorReason.X` in code reads as the reason sent.
      expect(ErrorReason[value]).toBe(name);
    },
  );

  it("sends each reason as a distinct SCREAMING_SNAKE string", () => {
    const names = sent.map((v) => reasonName(v.number as ErrorReason));
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    expect(new Set(names).size).toBe(names.length);
  });

  it("reads a reason this build does not know, or none, as UNSPECIFIED", () => {
    expect(reasonOf("A_REASON_FROM_A_NEWER_SERVER")).toBe(ErrorReason.ERROR_REASON_UNSPECIFIED);
    expect(reasonOf("")).toBe(ErrorReason.ERROR_REASON_UNSPECIFIED);
    expect(reasonOf("token_revoked")).toBe(ErrorReason.ERROR_REASON_UNSPECIFIED);
  });
});
