export {
  createCloudClient,
  createCloudTransport,
  TENANT_HEADER,
  type CloudClient,
  type CloudClientOptions,
  type CloudProtocol,
} from "./client.js";
export { describeCloudError, errorReason, codeName, ERROR_DOMAIN, type CloudErrorDetails } from "./errors.js";
export * from "./gen/engine/cloud/v1/access_pb.js";
export * from "./gen/engine/cloud/v1/auth_service_pb.js";
export * from "./gen/engine/cloud/v1/credential_service_pb.js";
export * from "./gen/engine/cloud/v1/key_service_pb.js";
export * from "./gen/engine/cloud/v1/sync_service_pb.js";
export * from "./gen/engine/cloud/v1/project_service_pb.js";
export * from "./gen/engine/cloud/v1/server_service_pb.js";
export * from "./gen/engine/cloud/v1/tenant_service_pb.js";
export * from "./gen/engine/cloud/v1/token_service_pb.js";
export * from "./gen/engine/cloud/v1/user_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
export { CLOUD_ENV, CloudConfigError, readCloudEnv, type CloudEnv } from "./cloud-env.js";
export {
  DEFAULT_ALIAS,
  parseCredentialName,
  credentialNameOf,
  type CredentialName,
  type CredentialRef,
} from "./credential-ref.js";
export {
  createCredentialClient,
  type CredentialClientOptions,
  type CredentialFields,
  type CredentialKeyInput,
  type EngineCredentialClient,
  type ListCredentialsFilter,
} from "./credential-client.js";
export { defaultCacheKeyFile, loadCacheKey, parseCacheKey, type CacheKeySource } from "./cache-key.js";
export {
  CacheCorruptError,
  defaultCachePath,
  readLocalCache,
  writeLocalCache,
  type CacheCorruptReason,
  type LocalCacheContents,
} from "./local-cache.js";
export type { BackoffOptions } from "./backoff-delay.js";
export type { SyncChange } from "./sync-state.js";
export {
  createSyncProvider,
  SERVER_HEARTBEAT_INTERVAL_MS,
  type EngineSyncProvider,
  type SyncConnectionState,
  type SyncError,
  type SyncLogger,
  type SyncProviderOptions,
  type SyncStatus,
} from "./sync-provider.js";
