import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AuthService,
  CredentialService,
  KeyService,
  ProjectService,
  ServerService,
  SyncService,
  TenantService,
  TokenService,
  UserService,
} from "@engine-cloud/sdk";
import { Health } from "@engine-cloud/sdk/gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "@engine-cloud/sdk/gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "@engine-cloud/sdk/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createTokenVerifier, type TokenVerifier } from "./auth/token-verifier.js";
import { bootstrap, type BootstrapResult } from "./bootstrap.js";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import { createRootKeyRing, loadOrCreateKeyFile } from "./crypto/root-keys.js";
import { createTenantKeys } from "./crypto/tenant-keys.js";
import { HashGate } from "./auth/hash-gate.js";
import { LoginThrottle } from "./auth/login-throttle.js";
import { createPasswordHasher } from "./auth/password-hash.js";
import { createPasswordCheck } from "./auth/password-check.js";
import { FREE_LOGIN_FAILURES } from "./store/people.js";
import { createAuthService } from "./services/auth-service.js";
import { createUserService } from "./services/user-service.js";
import { contextValuesOf } from "./transport/remote-address.js";
import { createCredentialService } from "./services/credential-service.js";
import { createKeyService } from "./services/key-service.js";
import { createSyncService } from "./services/sync-service.js";
import { createReauthorizer } from "./sync/reauthorize.js";
import { createSyncAccessCheck } from "./sync/sync-access.js";
import { createSyncHub, type SyncHub } from "./sync/sync-hub.js";
import { startTombstonePurge, type TombstonePurge } from "./sync/tombstone-purge.js";
import type { ServiceDeps } from "./services/deps.js";
import { createProjectService } from "./services/project-service.js";
import { createServerService } from "./services/server-service.js";
import { createTenantService } from "./services/tenant-service.js";
import { createTokenService } from "./services/token-service.js";
import { migrateToLatest } from "./store/migrate.js";
import { openDatabase, type Storage } from "./store/open-database.js";
import { createChangeFeed, type ChangeFeed } from "./sync/change-feed.js";
import { createAccessInterceptor, createAuthorizer } from "./tenancy/access-interceptor.js";
import { buildAccessTable } from "./tenancy/access-rules.js";
import { createProjectDirectory } from "./tenancy/project-directory.js";
import { createTenantDirectory } from "./tenancy/tenant-directory.js";
import { createHealthService, ServingStatus } from "./transport/health.js";
import { createReflectionServices } from "./transport/reflection.js";
import { createRequestLogInterceptor } from "./transport/request-log.js";
import { createMessageValidator, createValidationInterceptor } from "./transport/request-validation.js";
import { withSyncFastPath } from "./transport/sync-fast-path.js";
import { SERVER_VERSION } from "./version.js";

export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

export interface App {
  /** The node request handler for every protocol (see transport/http-server.ts). */
  handler: NodeHandler;
  storage: Storage;
  feed: ChangeFeed;
  verifier: TokenVerifier;
  hub: SyncHub;
  tombstones: TombstonePurge;
  bootstrap: BootstrapResult;
  /** Marks the server NOT_SERVING for health checks (first step of shutdown). */
  drain(): void;
  close(): Promise<void>;
}

/** The API services, in the order reflection lists them. */
export const API_SERVICES: DescService[] = [
  ServerService,
  AuthService,
  TenantService,
  TokenService,
  ProjectService,
  CredentialService,
  SyncService,
  KeyService,
  UserService,
];

/** Standard gRPC services for tooling: health checking and reflection. */
const INFRASTRUCTURE_SERVICES: DescService[] = [Health, reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection];

/**
 * The composition root: every dependency is built here, explicitly, from the
 * config. Tests build the same app with another config.
 */
export async function createApp(config: Config, log: Logger): Promise<App> {
  const storage = await openDatabase(config, log);
  const cleanup: Array<() => Promise<void> | void> = [() => storage.close()];
  try {
    const applied = await migrateToLatest(storage.db);
    if (applied.length > 0) log.info("applied migrations", { versions: applied });
    const seeded = await bootstrap(storage.db, { token: config.bootstrapToken, projects: config.bootstrapProjects }, log);

    const feed = await createChangeFeed(storage, log);
    cleanup.unshift(() => feed.close());
    const verifier = await createTokenVerifier({
      db: storage.db,
      feed,
      tokenKey: seeded.tokenKey,
      log,
      cacheTtlMs: config.tokenCacheTtlMs,
      sessionIdleMs: config.sessionIdleMs,
    });
    cleanup.unshift(() => verifier.close());
    const directory = createTenantDirectory(storage.db, feed);
    cleanup.unshift(() => directory.close());
    const health = createHealthService();
    const keys = createTenantKeys(storage.db, rootKeyRing(config, log), feed);
    const hub = createSyncHub({
      db: storage.db,
      keys,
      feed,
      log,
      reauthorize: createReauthorizer(storage.db, verifier),
      heartbeatMs: config.syncHeartbeatMs,
      healMs: 1000,
    });
    cleanup.unshift(() => hub.close());
    const tombstones = startTombstonePurge({ db: storage.db, retentionMs: config.tombstoneRetentionMs, log });
    cleanup.unshift(() => tombstones.close());

    const hasher = createPasswordHasher(config.passwordHashLogN, new HashGate(config.loginConcurrency, 32 * config.loginConcurrency));
    const checkPassword = createPasswordCheck({
      db: storage.db,
      hasher,
      passwordHashLogN: config.passwordHashLogN,
      throttles: {
        // The same curve as the database's lock (store/people.ts), which holds across servers.
        account: new LoginThrottle({ freeFailures: FREE_LOGIN_FAILURES, baseDelayMs: 1000, maxDelayMs: 15 * 60_000, maxInFlight: 1 }),
        // Offices and NATs share an address: many free failures, forgiven with time, a few sign-ins at once.
        source: new LoginThrottle({
          freeFailures: 50,
          baseDelayMs: 1000,
          maxDelayMs: 15 * 60_000,
          maxInFlight: 8,
          forgiveOneEveryMs: 10_000,
        }),
      },
    });
    const people = { checkPassword, hasher };
    const projects = createProjectDirectory(storage.db, feed);
    cleanup.unshift(() => projects.close());
    const requireSyncAccess = createSyncAccessCheck(projects);
    const deps: ServiceDeps = { db: storage.db, feed, tokenKey: seeded.tokenKey, keys, projects, version: SERVER_VERSION };
    // Throws for any RPC without an access declaration: the server refuses to start.
    // Every service served is in the table, the standard gRPC ones too (public by rule): what is not in it is refused.
    const accessTable = buildAccessTable([...API_SERVICES, ...INFRASTRUCTURE_SERVICES]);
    const rules = new Map([...accessTable].map(([m, r]) => [`${m.parent.typeName}/${m.name}`, r]));
    for (const s of API_SERVICES) health.setStatus(s.typeName, ServingStatus.SERVING);

    const routes = (router: ConnectRouter) => {
      router.service(ServerService, createServerService(deps));
      router.service(
        AuthService,
        createAuthService({ ...deps, ...people, sessions: { idleMs: config.sessionIdleMs, maxMs: config.sessionMaxMs } }),
      );
      router.service(UserService, createUserService({ ...deps, ...people }));
      router.service(TenantService, createTenantService(deps));
      router.service(TokenService, createTokenService(deps));
      router.service(ProjectService, createProjectService(deps));
      router.service(CredentialService, createCredentialService(deps));
      router.service(SyncService, createSyncService({ ...deps, hub, requireSyncAccess }));
      router.service(KeyService, createKeyService(deps));
      router.service(Health, health.impl);
      // Reflection advertises the API and health, so grpcurl and `buf curl` can list and call them.
      const reflection = createReflectionServices([...API_SERVICES, Health]);
      router.service(reflectionV1.ServerReflection, reflection.v1);
      router.service(reflectionV1alpha.ServerReflection, reflection.v1alpha);
    };
    const authorize = createAuthorizer({ rules, verifier, directory });
    const validateMessage = createMessageValidator();
    const handler = withSyncFastPath(
      { db: storage.db, keys, hub, log, authorize, validateMessage, requireSyncAccess },
      connectNodeAdapter({
        routes,
        contextValues: contextValuesOf,
        interceptors: [
          createRequestLogInterceptor(log),
          createAccessInterceptor(authorize),
          createValidationInterceptor(validateMessage),
        ],
      }),
    );
    return {
      handler,
      storage,
      feed,
      verifier,
      hub,
      tombstones,
      bootstrap: seeded,
      drain: () => health.shutdown(),
      async close() {
        health.shutdown();
        for (const fn of cleanup) await fn();
      },
    };
  } catch (err) {
    for (const fn of cleanup) await Promise.resolve(fn()).catch(() => {});
    throw err;
  }
}

function rootKeyRing(config: Config, log: Logger) {
  const mk = config.masterKey;
  if ("key" in mk) return createRootKeyRing(mk.key, config.previousMasterKeys);
  if (!mk.createIfMissing) {
    const { key } = loadOrCreateKeyFile(mk.file, { create: false });
    return createRootKeyRing(key, config.previousMasterKeys);
  }
  const { key, created } = loadOrCreateKeyFile(mk.file, { create: true });
  if (created) {
    log.warn(
      `generated a new root key in ${mk.file} (mode 0600). Every credential is encrypted under it: back it up, ` +
        "and for production set ENGINE_CLOUD_MASTER_KEY instead",
      { file: mk.file },
    );
  }
  return createRootKeyRing(key, config.previousMasterKeys);
}
