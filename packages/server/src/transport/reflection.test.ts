import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createFileRegistry, fromBinary, getExtension } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";
import * as v1 from "@engine-cloud/api/gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "@engine-cloud/api/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { access } from "@engine-cloud/api/gen/engine/cloud/v1/access_pb.js";
import { TokenService } from "@engine-cloud/api/gen/engine/cloud/v1/token_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createReflectionServices } from "./reflection.js";

const ADVERTISED = [TokenService, Health, v1.ServerReflection, v1alpha.ServerReflection];
const TOKEN_FILE = "engine/cloud/v1/token_service.proto";

describe.each(["v1", "v1alpha"] as const)("grpc.reflection.%s.ServerReflection, called by @grpc/grpc-js", (version) => {
  let reflect: (...queries: ReflectionQuery[]) => Promise<ReflectionReply[]>;
  let stop: () => Promise<void>;

  beforeAll(async () => ({ reflect, stop } = await startReflectionServer(version)));
  afterAll(() => stop());

  it("lists the services it was given", async () => {
    const [reply] = await reflect({ listServices: "" });
    expect(reply.listServicesResponse?.service.map((s) => s.name)).toEqual([
      "engine.cloud.v1.TokenService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("returns the file declaring TokenService first, then every file it imports", async () => {
    const [reply] = await reflect({ fileContainingSymbol: "engine.cloud.v1.TokenService" });
    const files = decodeFiles(reply);
    expect(files[0].name).toBe(TOKEN_FILE);
    expect(files[0].service.map((s) => s.name)).toEqual(["TokenService"]);
    expect(files.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        "google/protobuf/timestamp.proto",
        "engine/cloud/v1/access.proto",
        "buf/validate/validate.proto",
        "google/protobuf/descriptor.proto",
      ]),
    );
  });

  it("returns a file set a client can build TokenService from, as grpcurl does", async () => {
    const [reply] = await reflect({ fileContainingSymbol: "engine.cloud.v1.TokenService" });
    const [requested, ...imports] = decodeFiles(reply);
    // Resolves imports by name, as grpcurl does; throws on any import missing from the reply.
    const registry = createFileRegistry(requested, (name) => imports.find((file) => file.name === name));
    const service = registry.getService("engine.cloud.v1.TokenService");
    expect(service?.methods.map((m) => m.name)).toEqual(["CreateToken", "GetToken", "ListTokens", "RevokeToken"]);
    expect(registry.getMessage("engine.cloud.v1.Token")?.field.createdAt.message?.typeName).toBe("google.protobuf.Timestamp");
  });

  it("keeps custom options, such as each method's access rule", async () => {
    const [reply] = await reflect({ fileContainingSymbol: "engine.cloud.v1.TokenService" });
    const createToken = decodeFiles(reply)[0].service[0].method.find((m) => m.name === "CreateToken")!;
    expect(getExtension(createToken.options!, access).rule).toEqual({ case: "permission", value: "tokens.create" });
  });

  it.each([
    ["a method", "engine.cloud.v1.TokenService.CreateToken"],
    ["a message", "engine.cloud.v1.Token"],
    ["a field", "engine.cloud.v1.Token.created_at"],
    ["an enum", "engine.cloud.v1.TokenKind"],
  ])("finds the file declaring %s", async (_, symbol) => {
    const [reply] = await reflect({ fileContainingSymbol: symbol });
    expect(decodeFiles(reply)[0].name).toBe(TOKEN_FILE);
  });

  it("returns a file by its name", async () => {
    const [reply] = await reflect({ fileByFilename: "engine/cloud/v1/access.proto" });
    expect(decodeFiles(reply).map((f) => f.name)).toEqual(["engine/cloud/v1/access.proto", "google/protobuf/descriptor.proto"]);
  });

  it("finds the file declaring an extension", async () => {
    const [reply] = await reflect({
      fileContainingExtension: { containingType: "google.protobuf.MethodOptions", extensionNumber: 51000 },
    });
    expect(decodeFiles(reply)[0].name).toBe("engine/cloud/v1/access.proto");
  });

  it("lists every extension number of a message type", async () => {
    const [reply] = await reflect({ allExtensionNumbersOfType: "google.protobuf.FieldOptions" });
    expect(reply.allExtensionNumbersResponse?.baseTypeName).toBe("google.protobuf.FieldOptions");
    expect(reply.allExtensionNumbersResponse?.extensionNumber.sort()).toEqual([1159, 1160]);
  });

  it("answers NOT_FOUND for each name it does not know, and keeps the stream open", async () => {
    const replies = await reflect(
      { fileContainingSymbol: "engine.cloud.v1.NoSuchService" },
      { fileByFilename: "engine/cloud/v1/missing.proto" },
      { fileContainingExtension: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 } },
      { allExtensionNumbersOfType: "engine.cloud.v1.NoSuchMessage" },
      { listServices: "" },
    );
    expect(replies.slice(0, 4).map((r) => r.errorResponse?.errorCode)).toEqual([5, 5, 5, 5]);
    expect(replies[0].errorResponse?.errorMessage).toContain("engine.cloud.v1.NoSuchService");
    expect(replies[4].listServicesResponse?.service).toHaveLength(4);
  });
});

type ReflectionQuery =
  | { listServices: string }
  | { fileByFilename: string }
  | { fileContainingSymbol: string }
  | { fileContainingExtension: { containingType: string; extensionNumber: number } }
  | { allExtensionNumbersOfType: string };

interface ReflectionReply {
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  allExtensionNumbersResponse?: { baseTypeName: string; extensionNumber: number[] };
  listServicesResponse?: { service: { name: string }[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

async function startReflectionServer(version: "v1" | "v1alpha") {
  const reflection = createReflectionServices(ADVERTISED);
  const server = http2.createServer(
    connectNodeAdapter({
      routes: (router) => {
        router.service(v1.ServerReflection, reflection.v1);
        router.service(v1alpha.ServerReflection, reflection.v1alpha);
      },
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const definition = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [new URL("../../../../proto", import.meta.url).pathname],
  });
  const { grpc: loaded } = grpc.loadPackageDefinition(definition) as any;
  const client: grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionReply> } =
    new loaded.reflection[version].ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

  /** Sends every query on one stream, like grpcurl, and collects the replies in order. */
  const reflect = (...queries: ReflectionQuery[]) =>
    new Promise<ReflectionReply[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      const replies: ReflectionReply[] = [];
      call.on("data", (reply: ReflectionReply) => replies.push(reply));
      call.on("end", () => resolve(replies));
      call.on("error", reject);
      for (const query of queries) call.write({ host: "", ...query });
      call.end();
    });
  const stop = async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  };
  return { reflect, stop };
}

function decodeFiles(reply: ReflectionReply): FileDescriptorProto[] {
  if (!reply.fileDescriptorResponse) throw new Error(`expected files, got ${JSON.stringify(reply)}`);
  return reply.fileDescriptorResponse.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}
