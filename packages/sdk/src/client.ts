import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { connectionLossAsUnavailable } from "./errors.js";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { AuthService } from "./gen/engine/cloud/v1/auth_service_pb.js";
import { CredentialService } from "./gen/engine/cloud/v1/credential_service_pb.js";
import { KeyService } from "./gen/engine/cloud/v1/key_service_pb.js";
import { SyncService } from "./gen/engine/cloud/v1/sync_service_pb.js";
import { ProjectService } from "./gen/engine/cloud/v1/project_service_pb.js";
import { ServerService } from "./gen/engine/cloud/v1/server_service_pb.js";
import { TenantService } from "./gen/engine/cloud/v1/tenant_service_pb.js";
import { TokenService } from "./gen/engine/cloud/v1/token_service_pb.js";
import { UserService } from "./gen/engine/cloud/v1/user_service_pb.js";

/** The wire protocols the server speaks on one port. */
export type CloudProtocol = "connect" | "grpc" | "grpc-web";

/** Header a platform administrator uses to name the tenant it acts in. */
export const TENANT_HEADER = "engine-tenant";

export interface CloudClientOptions {
  /** Server URL, e.g. "http://127.0.0.1:7070". */
  baseUrl: string;
  /** Bearer credential: an API token (or, later, a session token). */
  token?: string;
  /** For platform administrators: the tenant (slug or id) to act in. */
  tenant?: string;
  /** Wire protocol; default "connect". gRPC always uses HTTP/2. */
  protocol?: CloudProtocol;
  /** HTTP version for Connect and gRPC-Web; default "2" for https, "1.1" otherwise. */
  httpVersion?: "1.1" | "2";
  /** Extra interceptors, run after the credential one. */
  interceptors?: Interceptor[];
  /** Use this transport instead of building one (tests, custom TLS). */
  transport?: Transport;
}

/** Adds the caller's credential and tenant to every request. */
function credentialInterceptor(token: string | undefined, tenant: string | undefined): Interceptor {
  return (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    if (tenant) req.header.set(TENANT_HEADER, tenant);
    return next(req);
  };
}

/** Reports a dropped connection as UNAVAILABLE, on unary calls and mid-stream alike (see connectionLossAsUnavailable). */
const connectionLossInterceptor: Interceptor = (next) => async (req) => {
  let res;
  try {
    res = await next(req);
  } catch (err) {
    throw connectionLossAsUnavailable(err, req.signal);
  }
  if (!res.stream) return res;
  const messages = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* messages;
      } catch (err) {
        throw connectionLossAsUnavailable(err, req.signal);
      }
    })(),
  };
};

/** Builds the transport for a protocol; one HTTP/2 session is shared by all clients of it. */
export function createCloudTransport(options: CloudClientOptions): Transport {
  if (options.transport) return options.transport;
  const interceptors = [
    connectionLossInterceptor,
    credentialInterceptor(options.token, options.tenant),
    ...(options.interceptors ?? []),
  ];
  const secure = options.baseUrl.startsWith("https:");
  const httpVersion = options.httpVersion ?? (secure ? "2" : "1.1");
  switch (options.protocol ?? "connect") {
    case "grpc":
      return createGrpcTransport({ baseUrl: options.baseUrl, interceptors });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl: options.baseUrl, httpVersion, interceptors });
    case "connect":
      return createConnectTransport({ baseUrl: options.baseUrl, httpVersion, interceptors });
  }
}

/** Typed clients for every Engine Cloud service, over one transport. */
export interface CloudClient {
  readonly transport: Transport;
  readonly server: Client<typeof ServerService>;
  readonly auth: Client<typeof AuthService>;
  readonly tenants: Client<typeof TenantService>;
  readonly tokens: Client<typeof TokenService>;
  readonly projects: Client<typeof ProjectService>;
  readonly credentials: Client<typeof CredentialService>;
  readonly sync: Client<typeof SyncService>;
  readonly keys: Client<typeof KeyService>;
  readonly users: Client<typeof UserService>;
  /** A client for any other service of the API, on the same transport. */
  service<T extends DescService>(service: T): Client<T>;
}

export function createCloudClient(options: CloudClientOptions): CloudClient {
  const transport = createCloudTransport(options);
  const service = <T extends DescService>(s: T) => createClient(s, transport);
  return {
    transport,
    server: service(ServerService),
    auth: service(AuthService),
    tenants: service(TenantService),
    tokens: service(TokenService),
    projects: service(ProjectService),
    credentials: service(CredentialService),
    sync: service(SyncService),
    keys: service(KeyService),
    users: service(UserService),
    service,
  };
}
