import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
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
import { Health } from "@engine-cloud/api/gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "@engine-cloud/api/gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "@engine-cloud/api/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createCallerResolver, type CallerResolver } from "./auth/caller-resolver.js";
import { createBrowserSessions } from "./auth/browser-session-cookie.js";
import { bootstrap, type BootstrapResult } from "./bootstrap.js";
import type { Config } from "./config.js";
import type { Logger } from "./log.js";
import { rootKeyRingOf } from "./crypto/root-keys.js";
import { createTenantKeys } from "./crypto/tenant-keys.js";
import { HashGate } from "./auth/hash-gate.js";
import { ACCOUNT_LOCKOUT, createLoginThrottles, SOURCE_LOCKOUT } from "./auth/login-policy.js";
import { createPasswordHasher } from "./auth/password-hash.js";
import { createPasswordCheck } from "./auth/password-check.js";
import { createAuthService } from "./services/auth-service.js";
import { createUserService } from "./services/user-service.js";
import { contextValuesOf } from "./transport/remote-address.js";
import { createCredentialService } from "./services/credential-service.js";
import { createConnectionService } from "./services/connection-service.js";
import { createOAuthAppService } from "./services/oauth-app-service.js";
import { createConnectFlows } from "./hub/connect-flow.js";
import { createDisconnect } from "./hub/disconnect-connection.js";
import { createProviderCatalog } from "./hub/provider-catalog.js";
import type { RefreshClock } from "./store/connection-refresh.js";
import { createKeyService } from "./services/key-service.js";
import { createSyncService } from "./services/sync-service.js";
import { createWatchOpener } from "./sync/open-watch.js";
import { createCatchUpReader } from "./sync/catch-up-reader.js";
import { createDeliveryAudit } from "./sync/delivery-audit.js";
import { createReauthorizer } from "./sync/reauthorize.js";
import { createSyncAccessCheck } from "./sync/sync-access.js";
import { createSyncHub, type SyncHub } from "./sync/sync-hub.js";
import { createCredentialVault, type CredentialVault } from "./vault/credentials.js";
import { startTombstonePurge, type TombstonePurge } from "./jobs/tombstone-purge.js";
import { startPresencePurge } from "./jobs/presence-purge.js";
import { createPresenceBuffer, type PresenceBuffer } from "./sync/presence-buffer.js";
import { startOAuthFlowPurge, type OAuthFlowPurge } from "./jobs/oauth-flow-purge.js";
import { createRefreshEngine, type RefreshEngine } from "./hub/refresh-engine.js";
import type { ServiceDeps } from "./services/deps.js";
import { createProjectService } from "./services/project-service.js";
import { createRuntimeService } from "./services/runtime-service.js";
import { createServerService } from "./services/server-service.js";
import { createTenantService } from "./services/tenant-service.js";
import { createTokenService } from "./services/token-service.js";
import { migrateToLatest } from "./store/migrate.js";
import { openDatabase, type Storage } from "./store/open-database.js";
import { createAuditWriter } from "./store/audit-log.js";
import { createAuditAnnouncer } from "./feed/audit-announcer.js";
import { startAuditRetention } from "./jobs/audit-retention.js";
import { createAuditService } from "./services/audit-service.js";
import { openAuditSigner } from "./crypto/audit-signer.js";
import { createAuditBatches } from "./store/audit-batches.js";
import { registerAuditReads, registerAuditWriter } from "./store/with-tenant.js";
import { createChangeFeed, type ChangeFeed } from "./feed/change-feed.js";
import { createAccessInterceptor, createAuthorizer } from "./tenancy/access-interceptor.js";
import { createLimiter, type Limiter } from "./limits/limiter.js";
import { createLimitsLookup } from "./limits/tenant-limits.js";
import { buildAccessTable } from "./tenancy/access-rules.js";
import { createProjectDirectory } from "./tenancy/project-directory.js";
import { createTenantDirectory } from "./tenancy/tenant-directory.js";
import { createHealthService, ServingStatus, WHOLE_SERVER } from "./transport/health.js";
import { createHttpRoutes } from "./transport/http-routes.js";
import { createConsoleRoute } from "./transport/console-route.js";
import { createInvitationMailer } from "./mail/invitation-mailer.js";
import { startReadinessProbe } from "./transport/readiness.js";
import { createReflectionServices } from "./transport/reflection.js";
import { createRequestLogInterceptor } from "./transport/request-log.js";
import { createMessageValidator, createValidationInterceptor } from "./transport/request-validation.js";
import { createBodyDeadlineInterceptor } from "./transport/request-body-deadline.js";
import { joinRepeatedAuthorization } from "./transport/repeated-authorization.js";
import { createSecretBearingInterceptor, secretBearingMethods } from "./transport/secret-bearing.js";
import { withSyncFastPath } from "./transport/sync-fast-path.js";
import { createConnectAdapter, type CallUnary } from "./transport/connect-adapter.js";
import { createRuntimeRestRoutes } from "./transport/runtime-rest-routes.js";
import { createUnclaimedRequestLog } from "./transport/unclaimed-request-log.js";
import { SERVER_VERSION } from "./version.js";
import { createServerMetrics, type ServerMetrics } from "./metrics/server-metrics.js";

export type NodeHandler = ReturnType<typeof connectNodeAdapter>;

export interface App {
  /** The node request handler for every protocol (see transport/http-server.ts). */
  handler: NodeHandler;
  storage: Storage;
  feed: ChangeFeed;
  verifier: CallerResolver;
  hub: SyncHub;
  /**
   * The credential rules (vault/credentials.ts): every credential write goes through it,
   * requests' and the server's own (a background writer such as the OAuth hub passes
   * `systemAccess` and a transaction opened with systemScope(tenant, "system:<job>")).
   */
  vault: CredentialVault;
  tombstones: TombstonePurge;
  /** The presence of this process's Watch streams, written in batches (sync/presence-buffer.ts). */
  presence: PresenceBuffer;
  /** The connector hub's refresh engine (hub/refresh-engine.ts). */
  refresh: RefreshEngine;
  oauthFlows: OAuthFlowPurge;
  /** Request rates and open streams per credential and tenant, pooled across processes. */
  limiter: Limiter;
  bootstrap: BootstrapResult;
  /** The Prometheus registry and every metric (metrics/server-metrics.ts); served per config.metrics. */
  metrics: ServerMetrics;
  /** Called once the server listens: where it listens, the redirect URL's base unless ENGINE_CLOUD_PUBLIC_URL says otherwise. */
  listeningAt(url: string): void;
  /**
   * Reports the server not ready (/readyz 503, gRPC health NOT_SERVING) while it goes on serving every call and
   * stream: the first step of a shutdown with a drain delay, so balancers stop sending before it stops listening.
   */
  leaveRotation(): void;
  /**
   * First step of shutdown: marks the server NOT_SERVING for health checks and ends every Watch
   * stream with UNAVAILABLE / SERVER_SHUTTING_DOWN (runtimes reconnect elsewhere at once); unary
   * calls in flight go on.
   */
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
  ConnectionService,
  OAuthAppService,
  RuntimeService,
  AuditService,
];

/** Standard gRPC services for tooling: health checking and reflection. */
const INFRASTRUCTURE_SERVICES: DescService[] = [Health, reflectionV1.ServerReflection, reflectionV1alpha.ServerReflection];

/**
 * The composition root: every dependency is built here, explicitly, from the
 * config. Tests build the same app with another config.
 */
/** What a test may build the app with beside its config: clocks, never behaviour. */
export interface AppSeams {
  /** The refresh engine's schedule clock (default: the database's now()). */
  hubClock?: RefreshClock;
}

export async function createApp(config: Config, log: Logger, seams: AppSeams = {}): Promise<App> {
  const storage = await openDatabase(config, log);
  const metrics = createServerMetrics();
  metrics.watchPool(
    () => storage.poolStats(),
    () => storage.statements(),
  );
  const recorder = { log, metrics };
  const cleanup: Array<() => Promise<void> | void> = [() => storage.close()];
  try {
    const ring = rootKeyRingOf(config.masterKey, config.previousMasterKeys, log);
    // Start-up waits for another server's migrations under one lock: no statement timeout there.
    const seeded = await storage.withoutStatementTimeout(async (db) => {
      const applied = await migrateToLatest(db);
      if (applied.length > 0) log.info("applied migrations", { versions: applied });
      return bootstrap(db, { token: config.bootstrapToken, projects: config.bootstrapProjects, rootKeys: ring }, log);
    });

    const feed = await createChangeFeed(storage, log, { metrics });
    cleanup.unshift(() => feed.close());
    // Every audited call's event is written in its own transaction from here on (store/audit-log.ts).
    const auditSigner = await openAuditSigner(storage.db, ring);
    const checkpoints = { every: config.audit.checkpointEvery, ms: config.audit.checkpointMs, signer: auditSigner };
    if (config.audit.enabled) {
      const write = createAuditWriter({ log, checkpoints, committed: createAuditAnnouncer(feed) });
      registerAuditWriter(storage.db, async (t, records) => {
        try {
          await write(t, records);
          metrics.auditWrites.inc({ outcome: "written" }, records.length);
        } catch (err) {
          metrics.auditWrites.inc({ outcome: "failed" }, records.length);
          throw err;
        }
      });
      // Reads' events (a secret handed out, a catch-up) in group commits per chain: what queues while one commits
      // goes into the next, so a tenant's concurrent reads share a head lock and a durable commit.
      const reads = createAuditBatches(storage.db, "system:audit");
      cleanup.unshift(() => reads.drain());
      registerAuditReads(storage.db, async (tenantId, records) => {
        await Promise.all(records.map((r) => reads.record(tenantId, r)));
      });
    } else {
      log.warn("the audit log is switched off (a benchmark's configuration): every event is discarded");
      registerAuditWriter(storage.db, async () => {});
      registerAuditReads(storage.db, async () => {});
    }

    const verifier = await createCallerResolver({
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
    const limitsOf = createLimitsLookup(config.limits, (id) => directory.find(id));
    const limiter = createLimiter({ db: storage.db, log, instanceId: feed.instanceId, flushMs: config.limitsFlushMs, limitsOf });
    cleanup.unshift(() => limiter.close());
    const health = createHealthService();
    const keys = createTenantKeys(storage.db, ring, feed);
    // The one home of the credential rules; the handlers, the catch-up and the hub all go through it.
    const vault = createCredentialVault({ keys, feed });
    const hub = createSyncHub({
      db: storage.db,
      vault,
      feed,
      log,
      reauthorize: createReauthorizer(storage.db, verifier),
      heartbeatMs: config.syncHeartbeatMs,
      healMs: 1000,
      metrics,
    });
    // Closed after the hub (cleanup runs last-added first): the ends of the streams the hub ends are audited.
    const deliveries = createDeliveryAudit({
      db: storage.db,
      log,
      beatMs: config.syncHeartbeatMs,
      enabled: config.audit.enabled,
    });
    cleanup.unshift(() => deliveries.close());
    // Closed after the hub (cleanup runs last-added first): the streams the hub ends are written offline.
    const presence = createPresenceBuffer({ db: storage.db, log, instanceId: feed.instanceId, flushMs: config.presenceFlushMs });
    cleanup.unshift(() => presence.close());
    cleanup.unshift(() => hub.close());
    // Background jobs run on one process at a time, each under its lease (jobs/leased-job.ts).
    const tombstones = startTombstonePurge({
      db: storage.db,
      retentionMs: config.tombstoneRetentionMs,
      leaseMs: config.jobLeaseMs,
      holder: feed.instanceId,
      log,
    });
    cleanup.unshift(() => tombstones.close());
    const presencePurge = startPresencePurge({
      db: storage.db,
      retentionMs: config.presenceRetentionMs,
      leaseMs: config.jobLeaseMs,
      holder: feed.instanceId,
      log,
    });
    cleanup.unshift(() => presencePurge.close());
    if (config.audit.retentionMs > 0) {
      const retention = startAuditRetention({
        db: storage.db,
        retentionMs: config.audit.retentionMs,
        leaseMs: config.jobLeaseMs,
        holder: feed.instanceId,
        log,
      });
      cleanup.unshift(() => retention.close());
    }

    const hasher = createPasswordHasher(
      config.passwordHashLogN,
      new HashGate(config.loginConcurrency, 32 * config.loginConcurrency),
    );
    const throttles = createLoginThrottles();
    const checkPassword = createPasswordCheck({
      db: storage.db,
      hasher,
      passwordHashLogN: config.passwordHashLogN,
      throttles: { account: throttles.account, source: throttles.source },
      lockouts: { key: seeded.tokenKey, account: ACCOUNT_LOCKOUT, source: SOURCE_LOCKOUT },
    });
    const invitationThrottle = throttles.invitation;
    const people = { checkPassword, hasher };
    const projects = createProjectDirectory(storage.db, feed);
    cleanup.unshift(() => projects.close());
    const requireSyncAccess = createSyncAccessCheck(projects);
    const watches = createWatchOpener({
      hub,
      verifier,
      requireSyncAccess,
      presence,
      readCatchUp: createCatchUpReader(storage.db, vault, log),
      deliveries,
    });
    let listeningUrl = config.publicUrl;
    const publicUrl = () => {
      if (!listeningUrl) throw new Error("the server is not listening yet");
      return listeningUrl;
    };
    const catalog = createProviderCatalog(config.hub.extraProviders);
    const flows = createConnectFlows({
      db: storage.db,
      keys,
      catalog,
      vault,
      log,
      outbound: config.hub.outbound,
      flowTtlMs: config.hub.connectFlowTtlMs,
      keepAliveMs: config.hub.refresh.keepAliveMs,
      limitsOf,
      publicUrl,
    });
    const refresh = createRefreshEngine({
      db: storage.db,
      keys,
      catalog,
      vault,
      log,
      outbound: config.hub.outbound,
      config: config.hub.refresh,
      holder: feed.instanceId,
      publicUrl,
      metrics,
      clock: seams.hubClock,
    });
    cleanup.unshift(() => refresh.close());
    const oauthFlows = startOAuthFlowPurge({
      db: storage.db,
      retentionMs: config.hub.flowRetentionMs,
      leaseMs: config.jobLeaseMs,
      holder: feed.instanceId,
      log,
    });
    cleanup.unshift(() => oauthFlows.close());
    const mailer = config.mail && createInvitationMailer({ ...config.mail, db: storage.db, log });
    // Closed before the database (cleanup runs last-added first): mails in flight record how they went.
    if (mailer) cleanup.unshift(() => mailer.close());
    const deps: ServiceDeps = { db: storage.db, feed, tokenKey: seeded.tokenKey, keys, projects, version: SERVER_VERSION };
    // Throws for any RPC without an access declaration: the server refuses to start.
    // Every service served is in the table, the standard gRPC ones too (public by rule): what is not in it is refused.
    const accessTable = buildAccessTable([...API_SERVICES, ...INFRASTRUCTURE_SERVICES]);
    const rules = new Map([...accessTable].map(([m, r]) => [`${m.parent.typeName}/${m.name}`, r]));
    for (const s of API_SERVICES) health.setStatus(s.typeName, ServingStatus.SERVING);
    const readiness = startReadinessProbe({ storage, feed, health, services: API_SERVICES.map((s) => s.typeName), log });
    cleanup.unshift(() => readiness.close());
    // Draining (health shut down) is not ready either, whatever the probe says.
    const notReadyBecause = () =>
      health.status(WHOLE_SERVER) === ServingStatus.SERVING ? undefined : (readiness.problem() ?? "shutting down");

    const browserSessions = createBrowserSessions({
      scheme: config.tls ? "https" : "http",
      publicOrigin: config.publicUrl && new URL(config.publicUrl).origin,
    });
    const routes = (router: ConnectRouter) => {
      router.service(ServerService, createServerService(deps));
      router.service(
        AuthService,
        createAuthService({
          ...deps,
          ...people,
          sessions: { idleMs: config.sessionIdleMs, maxMs: config.sessionMaxMs },
          browserSessions,
          operatorTenantId: seeded.operatorTenantId,
          setupThrottle: throttles.setup,
        }),
      );
      router.service(UserService, createUserService({ ...deps, ...people, invitationThrottle, mailer, publicUrl }));
      router.service(TenantService, createTenantService({ ...deps, limiter, limitsOf, defaultLimits: config.limits }));
      router.service(TokenService, createTokenService(deps));
      router.service(ProjectService, createProjectService(deps));
      router.service(CredentialService, createCredentialService({ ...deps, limitsOf, vault }));
      router.service(SyncService, createSyncService({ ...deps, watches, requireSyncAccess, log, vault, refresh, publicUrl }));
      router.service(KeyService, createKeyService({ ...deps, ring }));
      router.service(AuditService, createAuditService({ ...deps, signer: auditSigner, heartbeatMs: config.syncHeartbeatMs }));
      router.service(
        ConnectionService,
        createConnectionService({
          ...deps,
          catalog,
          flows,
          refresh,
          disconnect: createDisconnect({ db: storage.db, keys, catalog, vault, log, outbound: config.hub.outbound }),
        }),
      );
      router.service(OAuthAppService, createOAuthAppService({ ...deps, catalog }));
      router.service(RuntimeService, createRuntimeService(deps));
      router.service(Health, health.impl);
      // Reflection advertises the API and health, so grpcurl and `buf curl` can list and call them.
      const reflection = createReflectionServices([...API_SERVICES, Health]);
      router.service(reflectionV1.ServerReflection, reflection.v1);
      router.service(reflectionV1alpha.ServerReflection, reflection.v1alpha);
    };
    const authorize = createAuthorizer({ rules, verifier, directory, limiter, browserSessions });
    const validateMessage = createMessageValidator();
    const unclaimed = createUnclaimedRequestLog(recorder, contextValuesOf);
    // The REST routes answer through the adapter's own router (no second authorization path); the
    // adapter is built after them (they are its fallback), so the call is bound late.
    const callRpc: CallUnary = (req, method, input, header, signal) => adapter.callUnary(req, method, input, header, signal);
    const runtimeRest = createRuntimeRestRoutes({ callRpc, version: SERVER_VERSION, notReadyBecause });
    const adapter = createConnectAdapter({
      limits: config.transport,
      log,
      routes,
      contextValues: unclaimed.contextValues,
      fallback: createHttpRoutes({
        log,
        metrics,
        metricsToken: config.metrics.token,
        notReadyBecause,
        completeConnect: flows.complete,
        runtimeRest,
        console: createConsoleRoute(config.consoleDir),
      }),
      interceptors: [
        createRequestLogInterceptor(recorder),
        createSecretBearingInterceptor(secretBearingMethods(API_SERVICES)),
        createAccessInterceptor(authorize, limiter),
        createValidationInterceptor(validateMessage),
        createBodyDeadlineInterceptor(config.watchBodyTimeoutMs),
      ],
    });
    const rpc = withSyncFastPath(
      {
        watches,
        log,
        metrics,
        authorize,
        limiter,
        validateMessage,
        requireSyncAccess,
        bodyTimeoutMs: config.watchBodyTimeoutMs,
      },
      unclaimed.wrap(adapter),
    );
    const handler: NodeHandler = (req, res) => {
      joinRepeatedAuthorization(req);
      return rpc(req, res);
    };
    return {
      handler,
      storage,
      feed,
      verifier,
      hub,
      vault,
      tombstones,
      presence,
      refresh,
      oauthFlows,
      limiter,
      bootstrap: seeded,
      metrics,
      listeningAt(url) {
        listeningUrl = config.publicUrl ?? url;
        // Runs once the server can name itself: the credentials it writes carry reauthorize URLs.
        refresh.start();
      },
      leaveRotation() {
        health.shutdown();
      },
      drain() {
        health.shutdown();
        hub.close();
      },
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
