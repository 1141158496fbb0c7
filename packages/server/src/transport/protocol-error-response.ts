import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable, encodeEnvelope, readAllBytes, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import { malformedMessage, protocolErrorWithReason } from "../errors/protocol-errors.js";

// The status fields of gRPC and gRPC-Web, rewritten together.
const GRPC_STATUS_FIELDS = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
// A refusal is a short error: anything bigger is not one of connect-es's, and is left alone.
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The response connect-es wrote for a call its protocol layer refused before any interceptor
 * ran (a message that does not decode, a bad timeout header, a unary call with no message or
 * two), with the error given the code and ErrorInfo reason every other error carries
 * (errors/protocol-errors.ts), in whichever protocol serialised it: a Connect unary error
 * body, gRPC trailers, or a gRPC-Web trailer frame. connect-es serialises those errors inside
 * its handlers, with no hook in between, so the only place to reach them is their wire form,
 * which is decoded and re-encoded with connect-es's own helpers. Anything else (an HTTP 415,
 * an error that already has a reason) comes back as it was.
 */
export async function withProtocolErrorReason(response: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (response.trailer) return grpcWithReason(response, response.trailer);
  const contentType = response.header?.get("content-type") ?? "";
  if (!response.body) return response;
  if (contentType.startsWith("application/grpc-web")) return grpcWebWithReason(response, response.body);
  if (response.status !== 200 && contentType === "application/json") return connectUnaryWithReason(response, response.body);
  return response;
}

/** The error with a reason, or undefined when it has one already (or there is no error). */
function reasoned(err: ConnectError | undefined): ConnectError | undefined {
  if (!err || err.findDetails(ErrorInfoSchema).length > 0) return undefined;
  // Only the code and the message: the metadata is in the headers or trailers already.
  return protocolErrorWithReason(new ConnectError(err.rawMessage, err.code));
}

function setGrpcStatus(fields: Headers, err: ConnectError): void {
  for (const name of GRPC_STATUS_FIELDS) fields.delete(name);
  setTrailerStatus(fields, err);
}

function grpcWithReason(response: UniversalServerResponse, trailer: Headers): UniversalServerResponse {
  const err = reasoned(findTrailerError(trailer));
  if (err) setGrpcStatus(trailer, err);
  return response;
}

async function grpcWebWithReason(
  response: UniversalServerResponse,
  body: AsyncIterable<Uint8Array>,
): Promise<UniversalServerResponse> {
  const bytes = await readAllBytes(body, MAX_ERROR_BODY_BYTES);
  const same = { ...response, body: createAsyncIterable([bytes]) };
  // The body of a call that never reached its method is the trailer frame alone.
  if (bytes.byteLength < 5 || bytes[0] !== trailerFlag) return same;
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (5 + length !== bytes.byteLength) return same;
  const trailer = trailerParse(bytes.subarray(5));
  const err = reasoned(findTrailerError(trailer));
  if (!err) return same;
  setGrpcStatus(trailer, err);
  return { ...response, body: createAsyncIterable([encodeEnvelope(trailerFlag, trailerSerialize(trailer))]) };
}

async function connectUnaryWithReason(
  response: UniversalServerResponse,
  body: AsyncIterable<Uint8Array>,
): Promise<UniversalServerResponse> {
  const bytes = await readAllBytes(body, MAX_ERROR_BODY_BYTES);
  const err = reasoned(connectErrorOf(bytes));
  if (!err) return { ...response, body: createAsyncIterable([bytes]) };
  const json = errorToJsonBytes(err, undefined);
  const header = new Headers(response.header);
  header.set("content-length", String(json.byteLength));
  return { ...response, status: codeToHttpStatus(err.code), header, body: createAsyncIterable([json]) };
}

/** The error in a Connect error body, or undefined when it is not one. */
function connectErrorOf(bytes: Uint8Array): ConnectError | undefined {
  try {
    return errorFromJsonBytes(bytes, undefined, new ConnectError("not a Connect error body", Code.Unknown));
  } catch {
    return undefined;
  }
}

/**
 * The answer to a Connect GET whose `message` parameter says it is base64 and is not, or
 * undefined for any other request. connect-es decodes it before any interceptor, and its
 * decoder's plain Error becomes INTERNAL with no reason and no word of what was wrong.
 */
export function malformedGetResponse(url: string): UniversalServerResponse | undefined {
  const params = new URL(url).searchParams;
  if (params.get("base64") !== "1") return undefined;
  try {
    base64Decode(params.get("message") ?? "");
    return undefined;
  } catch {
    const err = malformedMessage("the message parameter is not base64; send the message in base64url, as base64=1 says");
    return {
      status: codeToHttpStatus(err.code),
      header: new Headers({ "content-type": "application/json" }),
      body: createAsyncIterable([errorToJsonBytes(err, undefined)]),
    };
  }
}
