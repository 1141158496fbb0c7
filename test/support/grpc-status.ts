import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";

/**
 * The ErrorInfo reason in a grpc-status-details-bin value, decoded by hand from
 * google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3 }
 * and Any { string type_url = 1; bytes value = 2 }.
 */
export function errorInfoReasonOf(statusBytes: Buffer): string | undefined {
  const status = new BinaryReader(statusBytes);
  while (status.pos < status.len) {
    const [field, wireType] = status.tag();
    if (field !== 3) {
      status.skip(wireType);
      continue;
    }
    const any = new BinaryReader(status.bytes());
    let typeUrl = "";
    let value: Uint8Array = new Uint8Array();
    while (any.pos < any.len) {
      const [f, w] = any.tag();
      if (f === 1) typeUrl = any.string();
      else if (f === 2) value = any.bytes();
      else any.skip(w);
    }
    if (typeUrl.endsWith("/google.rpc.ErrorInfo")) return fromBinary(ErrorInfoSchema, value).reason;
  }
  return undefined;
}
