import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { describe, expect, it } from "vitest";
import { protocolErrorWithReason } from "./protocol-errors.js";

const verdict = (err: ConnectError) => {
  const e = protocolErrorWithReason(err);
  return [Code[e.code], e.findDetails(ErrorInfoSchema)[0]?.reason];
};

describe("protocolErrorWithReason", () => {
  it("makes connect-es's INTERNAL for undecodable protobuf an INVALID_ARGUMENT with MALFORMED_MESSAGE", () => {
    expect(verdict(new ConnectError("parse binary: premature EOF", Code.Internal))).toEqual([
      "InvalidArgument",
      "MALFORMED_MESSAGE",
    ]);
  });

  it("leaves an INTERNAL that is not a decoding failure INTERNAL", () => {
    expect(verdict(new ConnectError("serialize binary: bad", Code.Internal))).toEqual(["Internal", "INTERNAL"]);
  });

  it("gives any other library error its code's name as the reason and keeps its metadata", () => {
    const e = protocolErrorWithReason(new ConnectError("the operation timed out", Code.DeadlineExceeded, { "x-a": "1" }));
    expect([Code[e.code], e.findDetails(ErrorInfoSchema)[0]?.reason, e.metadata.get("x-a")]).toEqual([
      "DeadlineExceeded",
      "DEADLINE_EXCEEDED",
      "1",
    ]);
  });

  it("quotes at most 200 characters of the caller's bytes", () => {
    const e = protocolErrorWithReason(
      new ConnectError(`cannot decode message X from JSON: ${"a".repeat(5000)}`, Code.InvalidArgument),
    );
    expect(e.rawMessage.length).toBeLessThan(400);
  });
});
