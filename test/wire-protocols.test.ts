import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { TokenKind } from "@engine-cloud/api";
import type { CloudProtocol } from "@engine-cloud/sdk/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selfSignedCertificate } from "./support/self-signed-certificate.js";
import { failureOf } from "./support/expect-error.js";
import { errorInfoReasonOf } from "./support/grpc-status.js";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

const run = promisify(execFile);
const PROTO_DIR = path.join(REPO_ROOT, "proto");

/** Loads our .proto files as an independent gRPC client sees them: no generated code of ours. */
function grpcPackage(files: string[]) {
  const definition = protoLoader.loadSync(files, {
    includeDirs: [PROTO_DIR],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition) as any;
}

function unary<T>(client: any, method: string, request: object, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) =>
    client[method](request, metadata, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res))),
  );
}

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return md;
}

/** The one API, over every protocol and client a caller may use. */
describe("wire protocols on one port", () => {
  let srv: TestServer;
  let address: string;
  let engine: any;

  beforeAll(async () => {
    srv = await startTestServer();
    address = new URL(srv.url).host;
    engine = grpcPackage([
      "engine/cloud/v1/token_service.proto",
      "engine/cloud/v1/auth_service.proto",
      "engine/cloud/v1/project_service.proto",
    ]).engine.cloud.v1;
  });
  afterAll(() => srv?.stop());

  for (const protocol of ["connect", "grpc", "grpc-web"] as CloudProtocol[]) {
    for (const httpVersion of protocol === "grpc" ? (["2"] as const) : (["1.1", "2"] as const)) {
      it(`serves the SDK over ${protocol} on HTTP/${httpVersion}, typed errors included`, async () => {
        const client = srv.client(srv.adminToken, { protocol, httpVersion });
        const { secret } = await client.tokens.createToken({ label: `${protocol}-${httpVersion}`, kind: TokenKind.RUNTIME });
        expect((await srv.client(secret, { protocol, httpVersion }).auth.whoAmI({})).tokenKind).toBe(TokenKind.RUNTIME);
        const err = await failureOf(srv.client(secret, { protocol, httpVersion }).tokens.listTokens({}));
        expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
      });
    }
  }

  it("serves @grpc/grpc-js with proto-loader: create a token, use it, revoke it, see TOKEN_REVOKED in the status details", async () => {
    const tokens = new engine.TokenService(address, grpc.credentials.createInsecure());
    const auth = new engine.AuthService(address, grpc.credentials.createInsecure());
    try {
      const created = await unary<any>(
        tokens,
        "createToken",
        { label: "grpc-js", kind: "TOKEN_KIND_SERVICE" },
        bearer(srv.adminToken),
      );
      expect(created.secret).toMatch(/^ecs_/);
      const me = await unary<any>(auth, "whoAmI", {}, bearer(created.secret));
      expect(me.principalId).toBe(created.token.id);
      await unary(tokens, "revokeToken", { id: created.token.id }, bearer(srv.adminToken));
      const err = await unary(auth, "whoAmI", {}, bearer(created.secret)).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
      const details = (err as grpc.ServiceError).metadata.get("grpc-status-details-bin")[0] as Buffer;
      expect(errorInfoReasonOf(details)).toBe("TOKEN_REVOKED");
    } finally {
      tokens.close();
      auth.close();
    }
  });

  it("names the offending field to @grpc/grpc-js callers on invalid input", async () => {
    const projects = new engine.ProjectService(address, grpc.credentials.createInsecure());
    try {
      const err = (await unary(projects, "allowProject", { name: "no spaces allowed" }, bearer(srv.adminToken)).catch(
        (e) => e,
      )) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(errorInfoReasonOf(err.metadata.get("grpc-status-details-bin")[0] as Buffer)).toBe("INVALID_ARGUMENT");
      expect(err.details).toContain("name");
    } finally {
      projects.close();
    }
  });

  /** A Connect unary call with an empty JSON body, as plain curl sends it. */
  const curlConnectJson = (method: string, headers: string[] = []) =>
    run("curl", [
      "-sS",
      "-X",
      "POST",
      "-H",
      "content-type: application/json",
      ...headers,
      "-d",
      "{}",
      `${srv.url}/engine.cloud.v1.${method}`,
    ]);

  it("answers plain curl with a Connect JSON request", async () => {
    const { stdout } = await curlConnectJson("AuthService/WhoAmI", ["-H", `authorization: Bearer ${srv.adminToken}`]);
    expect(JSON.parse(stdout)).toMatchObject({ principalType: "token", tenantSlug: "default", platformAdmin: true });
  });

  it("answers curl with a JSON error carrying code and reason", async () => {
    const { stdout } = await curlConnectJson("TokenService/ListTokens");
    const body = JSON.parse(stdout);
    expect(body.code).toBe("unauthenticated");
    expect(JSON.stringify(body.details)).toContain("TOKEN_MISSING");
  });

  it("lets curl make read-only calls with HTTP GET (NO_SIDE_EFFECTS)", async () => {
    const { stdout } = await run("curl", [
      "-sS",
      "-G",
      "--data-urlencode",
      "encoding=json",
      "--data-urlencode",
      "message={}",
      `${srv.url}/engine.cloud.v1.ServerService/GetServerInfo`,
    ]);
    expect(JSON.parse(stdout).api).toBe("engine.cloud.v1");
  });

  it("reports health through grpc.health.v1", async () => {
    const health = new (grpcPackage(["grpc/health/v1/health.proto"]).grpc.health.v1.Health)(
      address,
      grpc.credentials.createInsecure(),
    );
    try {
      expect((await unary<any>(health, "check", { service: "" })).status).toBe("SERVING");
      expect((await unary<any>(health, "check", { service: "engine.cloud.v1.TokenService" })).status).toBe("SERVING");
    } finally {
      health.close();
    }
  });

  for (const version of ["v1", "v1alpha"]) {
    it(`lists every API service through reflection ${version}, and serves their descriptors`, async () => {
      const pkg = grpcPackage([`grpc/reflection/${version}/reflection.proto`]).grpc.reflection[version];
      const reflection = new pkg.ServerReflection(address, grpc.credentials.createInsecure());
      const call = reflection.serverReflectionInfo();
      const answers: any[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on("data", (d: any) => {
          answers.push(d);
          if (answers.length === 2) call.end();
        });
        call.on("end", resolve);
        call.on("error", reject);
      });
      call.write({ listServices: "" });
      call.write({ fileContainingSymbol: "engine.cloud.v1.CredentialService" });
      await done;
      reflection.close();
      const services = answers[0].listServicesResponse.service.map((s: { name: string }) => s.name);
      for (const name of ["TenantService", "TokenService", "ProjectService", "CredentialService", "SyncService", "UserService"]) {
        expect(services).toContain(`engine.cloud.v1.${name}`);
      }
      expect(services).toContain("grpc.health.v1.Health");
      const files = answers[1].fileDescriptorResponse.fileDescriptorProto.map(
        (b: Buffer) => fromBinary(FileDescriptorProtoSchema, b).name,
      );
      expect(files[0]).toBe("engine/cloud/v1/credential_service.proto");
      expect(files).toContain("engine/cloud/v1/access.proto");
    });
  }
});

describe("TLS", () => {
  let srv: TestServer;
  let cert: Buffer;

  beforeAll(async () => {
    const { certFile, keyFile, cert: pem } = selfSignedCertificate();
    cert = pem;
    srv = await startTestServer({ env: { ENGINE_CLOUD_TLS_CERT: certFile, ENGINE_CLOUD_TLS_KEY: keyFile } });
  });
  afterAll(() => srv?.stop());

  it("serves gRPC over TLS with ALPN h2 to @grpc/grpc-js", async () => {
    expect(srv.url).toMatch(/^https:/);
    const engine = grpcPackage(["engine/cloud/v1/server_service.proto"]).engine.cloud.v1;
    const client = new engine.ServerService(new URL(srv.url).host, grpc.credentials.createSsl(cert));
    try {
      expect((await unary<any>(client, "getServerInfo", {})).api).toBe("engine.cloud.v1");
    } finally {
      client.close();
    }
  });

  it("serves Connect over TLS to curl on HTTP/1.1 and HTTP/2", async () => {
    for (const flag of ["--http1.1", "--http2"]) {
      const { stdout } = await run("curl", [
        "-sS",
        flag,
        "--cacert",
        "-",
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        "{}",
        `${srv.url}/engine.cloud.v1.ServerService/GetServerInfo`,
      ]).catch(async () =>
        run("sh", [
          "-c",
          `printf '%s' "$0" | curl -sS ${flag} --cacert /dev/stdin -X POST -H 'content-type: application/json' -d '{}' ${srv.url}/engine.cloud.v1.ServerService/GetServerInfo`,
          cert.toString(),
        ]),
      );
      expect(JSON.parse(stdout).api).toBe("engine.cloud.v1");
    }
  });
});
