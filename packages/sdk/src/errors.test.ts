import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { connectionLossAsUnavailable } from "./errors.js";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";

const live = new AbortController().signal;

describe("connectionLossAsUnavailable", () => {
  it.each([Code.Aborted, Code.Canceled, Code.Unknown])("turns a transport failure with code %s into UNAVAILABLE", (code) => {
    const cut = new ConnectError("aborted", code);
    const mapped = connectionLossAsUnavailable(cut, live) as ConnectError;
    expect(mapped.code).toBe(Code.Unavailable);
    expect(mapped.cause).toBe(cut);
  });

  it("keeps an error the server sent, which carries an ErrorInfo", () => {
    const info = create(ErrorInfoSchema, { reason: "CONFLICT", domain: "engine.cloud" });
    const sent = new ConnectError("conflict", Code.Aborted, undefined, [{ desc: ErrorInfoSchema, value: info }]);
    expect(connectionLossAsUnavailable(sent, live)).toBe(sent);
  });

  it("keeps the cancellation of a call the caller aborted", () => {
    const abort = new AbortController();
    abort.abort();
    const cancelled = new ConnectError("operation was aborted", Code.Canceled);
    expect(connectionLossAsUnavailable(cancelled, abort.signal)).toBe(cancelled);
  });
});
