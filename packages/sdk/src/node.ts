// "@engine-cloud/sdk/node": what needs Node. createCloudClient and createCredentialClient are the root's, taking
// also a baseUrl and token (and, for the credential client, the environment); everything else a Node caller needs
// that is not here comes from the root ("@engine-cloud/sdk").
export { createCloudClient, createCloudTransport, type CloudClientOptions, type CloudProtocol } from "./node-client.js";
export { createCredentialClient, type CredentialClientOptions } from "./node-credential-client.js";
export { CLOUD_ENV, CloudConfigError, readCloudEnv, type CloudEnv } from "./cloud-env.js";
export { defaultCacheKeyFile, loadCacheKey, parseCacheKey, type CacheKeySource } from "./cache-key.js";
export {
  CacheCorruptError,
  CacheVersionError,
  defaultCachePath,
  readLocalCache,
  writeLocalCache,
  type CacheCorruptReason,
  type LocalCacheContents,
} from "./local-cache.js";
export type { BackoffOptions } from "./backoff-delay.js";
export type { KnownResourceKind, ResourceChange, ResourceOfKind, SyncChange } from "./sync-state.js";
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
