import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  AuthService,
  ConnectionService,
  CredentialService,
  AuditService,
  KeyService,
  OAuthAppService,
  ProjectService,
  RuntimeService,
  ServerService,
  SyncService,
  TenantService,
  TokenService,
  UserService,
} from "@engine-cloud/api";

/** Typed clients for every Engine Cloud service, over one transport. */
export interface CloudClient {
  readonly transport: Transport;
  readonly server: Client<typeof ServerService>;
  readonly auth: Client<typeof AuthService>;
  readonly tenants: Client<typeof TenantService>;
  readonly tokens: Client<typeof TokenService>;
  readonly projects: Client<typeof ProjectService>;
  readonly runtimes: Client<typeof RuntimeService>;
  readonly credentials: Client<typeof CredentialService>;
  readonly sync: Client<typeof SyncService>;
  readonly keys: Client<typeof KeyService>;
  readonly audit: Client<typeof AuditService>;
  readonly users: Client<typeof UserService>;
  readonly connections: Client<typeof ConnectionService>;
  readonly oauthApps: Client<typeof OAuthAppService>;
  /** A client for any other service of the API, on the same transport. */
  service<T extends DescService>(service: T): Client<T>;
}

/**
 * Clients over any Connect transport: `createCloudWebTransport` in a browser, `createCloudTransport` from
 * "@engine-cloud/sdk/node" in Node (whose own createCloudClient also takes a baseUrl).
 */
export function createCloudClient(options: { transport: Transport }): CloudClient {
  const { transport } = options;
  const service = <T extends DescService>(s: T) => createClient(s, transport);
  return {
    transport,
    server: service(ServerService),
    auth: service(AuthService),
    tenants: service(TenantService),
    tokens: service(TokenService),
    projects: service(ProjectService),
    runtimes: service(RuntimeService),
    credentials: service(CredentialService),
    sync: service(SyncService),
    keys: service(KeyService),
    audit: service(AuditService),
    users: service(UserService),
    connections: service(ConnectionService),
    oauthApps: service(OAuthAppService),
    service,
  };
}
