import { ConnectionStatus, CredentialType, type WatchResponse } from "@engine-cloud/api";
import { createCloudClient } from "@engine-cloud/sdk/node";
import type { LoopbackAuthorizationServer } from "./loopback-authorization-server.js";
import type { SecretScan } from "./secret-scan.js";

/** One access token as a runtime received it on its stream, and what the provider said of it then. */
export interface TokenDelivery {
  runtime: string;
  /** The credential's alias (the connection's). */
  alias: string;
  /** The credential's version: one more on every change. */
  version: bigint;
  token: string;
  /** Date.now() when the upsert arrived. */
  receivedAt: number;
  /** The key's expires_at, in ms. */
  expiresAt: number;
  /**
   * Sent before its stream's CAUGHT_UP: the state as stored when the runtime
   * (re)connected, rather than a change as the hub committed it.
   */
  catchUp: boolean;
  /** The introspection endpoint's answer, asked at receipt. */
  introspection: Promise<{ active: boolean; exp?: number; answeredAt: number }>;
}

/** A connection status a runtime saw on a hub-managed credential. */
export interface StatusDelivery {
  alias: string;
  status: ConnectionStatus;
  statusReason: string;
  receivedAt: number;
}

export interface HubRuntime {
  name: string;
  /** Access tokens handed over as usable (the connection ACTIVE or DEGRADED). */
  readonly deliveries: TokenDelivery[];
  /** Every hub-managed credential upsert's connection status, in order. */
  readonly statuses: StatusDelivery[];
  /** Streams opened (1 + reconnects after its server died). */
  streams(): number;
  /** Resolves once its first stream has caught up. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

type Introspection = Promise<{ active: boolean; exp?: number; answeredAt: number }>;

/**
 * The provider's introspection of each token asked once, at its first receipt
 * by any runtime (the others share the answer): three runtimes asking about
 * every token tripled the authorization server's work, in the test's own
 * process, where it delays every runtime's receipt.
 */
export function introspectAtFirstReceipt(auth: LoopbackAuthorizationServer): (token: string) => Introspection {
  const asked = new Map<string, Introspection>();
  return (token) => {
    let answer = asked.get(token);
    if (!answer) asked.set(token, (answer = auth.introspect(token).then((a) => ({ ...a, answeredAt: Date.now() }))));
    return answer;
  };
}

/**
 * A runtime on the SDK's Watch stream through one server, as the hub's
 * proof needs it: it reconnects from its last revision when the server dies
 * (kill -9 tests), records every oauth2 access token it receives and asks
 * the authorization server at once whether that token is active, and hands
 * every stream message and stream error to the secret scan.
 */
export function startHubRuntime(options: {
  name: string;
  url: string;
  token: string;
  project: string;
  auth: LoopbackAuthorizationServer;
  scan: SecretScan;
  /** Default: each runtime asks about each token it receives. */
  introspect?: (token: string) => Introspection;
}): HubRuntime {
  const introspect = options.introspect ?? introspectAtFirstReceipt(options.auth);
  const client = createCloudClient({ baseUrl: options.url, token: options.token });
  const deliveries: TokenDelivery[] = [];
  const statuses: StatusDelivery[] = [];
  const abort = new AbortController();
  let revision = 0n;
  let streams = 0;
  let live = false;
  let becameReady!: () => void;
  const ready = new Promise<void>((resolve) => (becameReady = resolve));
  const record = (e: WatchResponse) => {
    options.scan.addStreamMessage(e);
    if (e.event.case === "caughtUp") {
      live = true;
      becameReady();
    }
    if (e.event.case !== "upsert") return;
    const c = e.event.value;
    const key = c.keys.access_token;
    const link = c.connection;
    if (link) statuses.push({ alias: c.alias, status: link.status, statusReason: link.statusReason, receivedAt: Date.now() });
    // A STALE or NEEDS_REAUTH credential says its token is not to be relied on; only the others hand one over.
    const usable = !link || link.status === ConnectionStatus.ACTIVE || link.status === ConnectionStatus.DEGRADED;
    if (c.type !== CredentialType.OAUTH2 || !key?.value || !usable) return;
    deliveries.push({
      runtime: options.name,
      alias: c.alias,
      version: c.version,
      token: key.value,
      receivedAt: Date.now(),
      catchUp: !live,
      expiresAt: key.expiresAt ? Number(key.expiresAt.seconds) * 1000 + Math.floor(key.expiresAt.nanos / 1e6) : 0,
      introspection: introspect(key.value),
    });
  };
  const loop = (async () => {
    while (!abort.signal.aborted) {
      streams++;
      live = false;
      try {
        for await (const e of client.sync.watch(
          { project: options.project, sinceRevision: revision },
          { signal: abort.signal },
        )) {
          if (e.revision > revision && e.event.case !== "heartbeat") revision = e.revision;
          record(e);
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        options.scan.addError(err);
      }
      // The server died or is restarting: try again shortly, as the SDK's provider does.
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    name: options.name,
    deliveries,
    statuses,
    streams: () => streams,
    ready,
    async close() {
      abort.abort();
      await loop;
    },
  };
}
