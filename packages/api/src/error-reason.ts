import { ErrorReason, ErrorReasonSchema } from "./gen/engine/cloud/v1/error_reason_pb.js";

/*
 * The one mapping between ErrorReason values and the strings ErrorInfo.reason carries on the wire:
 * the value's name in proto/engine/cloud/v1/error_reason.proto, unchanged ("TOKEN_REVOKED").
 * Read from the descriptor, not from the TypeScript enum's keys, so it is the proto name by
 * construction whatever the generator does to local names.
 */

const byName = new Map(ErrorReasonSchema.values.map((v) => [v.name, v.number as ErrorReason]));

/** The wire string of a reason, e.g. ErrorReason.TOKEN_REVOKED → "TOKEN_REVOKED". */
export function reasonName(reason: ErrorReason): string {
  const value = ErrorReasonSchema.value[reason];
  if (!value) throw new Error(`not an ErrorReason: ${String(reason)}`);
  return value.name;
}

/**
 * The reason a wire string names, or ERROR_REASON_UNSPECIFIED for one this build does not know
 * (a newer server's, or none at all), so a comparison with a known value is simply false.
 */
export function reasonOf(name: string): ErrorReason {
  return byName.get(name) ?? ErrorReason.ERROR_REASON_UNSPECIFIED;
}
