import { create, createRegistry, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import * as v1 from "@engine-cloud/api/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "@engine-cloud/api/gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface ReflectionServices {
  v1: ServiceImpl<typeof v1.ServerReflection>;
  /** Many deployed clients (older grpcurl, IDE plugins) only speak v1alpha. */
  v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
}

/**
 * gRPC server reflection (doc/server-reflection.md) for `services`: lists them and serves
 * the files that define them and everything those files import.
 */
export function createReflectionServices(services: readonly DescService[]): ReflectionServices {
  const answer = createReflectionAnswerer(services);
  // v1 and v1alpha share every field; only the message type names differ.
  const reply = <Request extends ReflectionRequest>(request: Request) => ({
    validHost: request.host,
    originalRequest: request,
    messageResponse: answer(request.messageRequest),
  });
  return {
    v1: { serverReflectionInfo: (requests) => mapEach(requests, (r) => create(v1.ServerReflectionResponseSchema, reply(r))) },
    v1alpha: {
      serverReflectionInfo: (requests) => mapEach(requests, (r) => create(v1alpha.ServerReflectionResponseSchema, reply(r))),
    },
  };
}

async function* mapEach<In, Out>(inputs: AsyncIterable<In>, map: (input: In) => Out): AsyncIterable<Out> {
  for await (const input of inputs) yield map(input);
}

type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type ReflectionQuery = ReflectionRequest["messageRequest"];

// The response oneof of both versions, as init values; `create` above checks it against each.
type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

function createReflectionAnswerer(services: readonly DescService[]): (query: ReflectionQuery) => ReflectionAnswer {
  const files = new Map<string, DescFile>();
  for (const service of services) collectWithImports(service.file, files);
  const registry = createRegistry(...files.values());
  const serviceNames = services.map((service) => ({ name: service.typeName }));
  // Descriptors never change after startup, so each file is serialized at most once.
  const serialized = new Map<DescFile, Uint8Array>();

  return (query) => {
    switch (query.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: serviceNames } };
      case "fileByFilename":
        return describeFile(files.get(query.value), `file "${query.value}"`);
      case "fileContainingSymbol":
        return describeFile(fileDeclaring(query.value), `symbol "${query.value}"`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = query.value;
        const extendee = registry.getMessage(containingType);
        const extension = extendee && registry.getExtensionFor(extendee, extensionNumber);
        return describeFile(extension?.file, `extension ${extensionNumber} of "${containingType}"`);
      }
      case "allExtensionNumbersOfType":
        return extensionNumbersOf(query.value);
      case undefined:
        throw new ConnectError("reflection: request names no query; set one of message_request", Code.InvalidArgument);
    }
  };

  /** grpcurl asks for services, methods, messages, enums and fields by full name. */
  function fileDeclaring(symbol: string): DescFile | undefined {
    const declared = registry.get(symbol);
    if (declared) return declared.file;
    const parentName = symbol.slice(0, Math.max(0, symbol.lastIndexOf(".")));
    const member = symbol.slice(parentName.length + 1);
    const parent = registry.get(parentName);
    switch (parent?.kind) {
      case "service":
        return parent.methods.some((method) => method.name === member) ? parent.file : undefined;
      case "message":
        return parent.members.some((field) => field.name === member) ? parent.file : undefined;
      default:
        return undefined;
    }
  }

  /**
   * The file first, then its transitive imports: a client can only build a descriptor from a
   * complete set, and grpcurl asks for nothing else once it has these.
   */
  function describeFile(file: DescFile | undefined, what: string): ReflectionAnswer {
    if (!file) return notFound(what);
    const closure = collectWithImports(file, new Map());
    const fileDescriptorProto = [...closure.values()].map(serializedFile);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }

  function serializedFile(file: DescFile): Uint8Array {
    let bytes = serialized.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file, bytes);
    }
    return bytes;
  }

  function extensionNumbersOf(typeName: string): ReflectionAnswer {
    if (!registry.getMessage(typeName)) return notFound(`message type "${typeName}"`);
    const extensionNumber: number[] = [];
    for (const desc of registry) {
      if (desc.kind === "extension" && desc.extendee.typeName === typeName) extensionNumber.push(desc.number);
    }
    return { case: "allExtensionNumbersResponse", value: { baseTypeName: typeName, extensionNumber } };
  }
}

function notFound(what: string): ReflectionAnswer {
  return {
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: `${what} is not known to this server's reflection service` },
  };
}

/** Keyed by the file's path as imports spell it, e.g. "google/protobuf/timestamp.proto". */
function collectWithImports(file: DescFile, into: Map<string, DescFile>): Map<string, DescFile> {
  if (into.has(file.proto.name)) return into;
  into.set(file.proto.name, file);
  for (const dependency of file.dependencies) collectWithImports(dependency, into);
  return into;
}
