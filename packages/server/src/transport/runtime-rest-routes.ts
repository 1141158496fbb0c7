import type { DescMessage, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthService, ConnectionStatus, ErrorReason, reasonName, SyncService, type Credential } from "@engine-cloud/api";
import { ErrorInfoSchema } from "@engine-cloud/api/gen/google/rpc/error_details_pb.js";
import type { CallUnary } from "./connect-adapter.js";
import { toFetchHeaders } from "./stream-framing.js";

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];

/** One REST answer: always JSON, on every status. `err` is what the request log records. */
export interface RestAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  err?: ConnectError;
}

/** Serves a runtime REST route, or returns undefined when the path is not one. */
export type RuntimeRestRoutes = (
  req: NodeRequest,
  path: string,
  requestId: string,
  /** Aborted once the response has closed (answered, or the client gone). */
  signal: AbortSignal,
) => Promise<RestAnswer> | undefined;

/** Where a key that serves several projects names the one it means (or `?project=`). */
export const PROJECT_HEADER = "x-engine-project";

/** Forwarded to the RPCs: who calls (the bearer key), and what the request log shows. */
const FORWARDED_HEADERS = ["authorization", "engine-tenant", "user-agent"];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CREDENTIAL_PATH = /^\/v1\/credentials(?:\/([^/]+)(?:\/(refresh|validate|usage))?)?\/?$/;

/**
 * The REST credential API of the Aden lineage, for runtimes built on its
 * client (docs/ARCHITECTURE.md, "Runtime REST routes"): `GET /v1/credentials`,
 * `GET /v1/credentials/{id}`, `POST …/{id}/refresh`, `GET …/{id}/validate`,
 * `POST …/{id}/usage`, `GET /health`.
 *
 * There is no second authorization path: every route is answered by calling
 * the RPCs in this process through the router (CallUnary), with the request's
 * own bearer key, so identity, the access check, rate limits, validation,
 * project policy and the service code are the RPCs' own: AuthService.WhoAmI
 * for the key's project scope, SyncService.Pull for list/get/validate/usage,
 * SyncService.RefreshCredential for refresh. This module only maps the
 * results and the ConnectErrors (code and ErrorInfo reason) to the REST
 * shape. Any id the project cannot see, another tenant's included, is the
 * same 404 as an id that exists nowhere.
 */
export function createRuntimeRestRoutes(deps: {
  callRpc: CallUnary;
  version: string;
  notReadyBecause(): string | undefined;
  /** Accepted usage reports, by credential id, for this process (no runtime of the lineage depends on more). */
  usage?: Map<string, number>;
}): RuntimeRestRoutes {
  const usage = deps.usage ?? new Map<string, number>();

  const serve = async (
    req: NodeRequest,
    requestId: string,
    signal: AbortSignal,
    run: (call: RpcCaller) => Promise<RestAnswer>,
  ) => {
    const header = new Headers();
    const incoming = toFetchHeaders(req.headers);
    for (const name of FORWARDED_HEADERS) {
      const value = incoming.get(name);
      if (value !== null) header.set(name, value);
    }
    header.set("x-request-id", requestId);
    const call: RpcCaller = (method, input) => deps.callRpc(req, method, input, header, signal);
    try {
      return await run(call);
    } catch (e) {
      return errorAnswer(ConnectError.from(e));
    }
  };

  /** The project: named by the request, else the key's only one; WhoAmI also authenticates the key first. */
  const projectOf = async (call: RpcCaller, req: NodeRequest): Promise<string> => {
    const me = await call(AuthService.method.whoAmI, {});
    const named =
      toFetchHeaders(req.headers).get(PROJECT_HEADER) ?? new URL(req.url ?? "", "http://x").searchParams.get("project");
    if (named) return named;
    if (me.projects.length === 1) return me.projects[0];
    throw new ConnectError(
      `this key serves ${me.projects.length === 0 ? "every allowed project" : "several projects"}; name one with the ${PROJECT_HEADER} header or ?project=`,
      Code.InvalidArgument,
    );
  };

  const visibleCredentials = async (call: RpcCaller, project: string): Promise<Credential[]> => {
    const pulled = await call(SyncService.method.pull, { project, sinceRevision: 0n });
    return pulled.events.flatMap((e) => (e.event.case === "upsert" ? [e.event.value] : []));
  };

  const credentialById = async (call: RpcCaller, req: NodeRequest, id: string): Promise<Credential> => {
    const project = await projectOf(call, req);
    const found = UUID.test(id) ? (await visibleCredentials(call, project)).find((c) => c.id === id.toLowerCase()) : undefined;
    if (!found) throw credentialNotFound();
    return found;
  };

  return (req, path, requestId, signal) => {
    const method = req.method ?? "GET";
    if (path === "/health") {
      if (method !== "GET") return Promise.resolve(methodNotAllowed("GET"));
      const problem = deps.notReadyBecause();
      const body = { status: problem ? "degraded" : "healthy", version: deps.version, timestamp: isoNow() };
      return Promise.resolve(
        problem ? { status: 503, body: { ...body, error: "unavailable", message: problem } } : { status: 200, body },
      );
    }
    const match = CREDENTIAL_PATH.exec(path);
    if (!path.startsWith("/v1/")) return undefined;
    if (!match) return Promise.resolve(jsonError(404, "not_found", "no such route"));
    const [, rawId, action] = match;
    const id = rawId === undefined ? undefined : safeDecode(rawId);
    const expected = action === "refresh" || action === "usage" ? "POST" : "GET";
    if (method !== expected) return Promise.resolve(methodNotAllowed(expected));
    if (method === "POST") req.resume(); // the body (usage's report, refresh's nothing) is not needed

    if (id === undefined) {
      return serve(req, requestId, signal, async (call) => {
        const credentials = await visibleCredentials(call, await projectOf(call, req));
        return { status: 200, body: { integrations: credentials.map(integrationOf) } };
      });
    }
    switch (action) {
      case undefined:
        return serve(req, requestId, signal, async (call) => ({
          status: 200,
          body: credentialBody(await credentialById(call, req, id)),
        }));
      case "validate":
        return serve(req, requestId, signal, async (call) => ({
          status: 200,
          body: validationOf(await credentialById(call, req, id)),
        }));
      case "usage":
        return serve(req, requestId, signal, async (call) => {
          const c = await credentialById(call, req, id);
          usage.set(c.id, (usage.get(c.id) ?? 0) + 1);
          return { status: 200, body: { received: true } };
        });
      case "refresh":
        return serve(req, requestId, signal, async (call) => {
          const project = await projectOf(call, req);
          if (!UUID.test(id)) throw credentialNotFound();
          const res = await call(SyncService.method.refreshCredential, { project, id: id.toLowerCase() });
          const c = res.credential;
          if (!c) throw credentialNotFound();
          if (c.connection?.status === ConnectionStatus.NEEDS_REAUTH)
            return refreshFailed(c.connection.reauthorizeUrl, c.connection.statusDescription);
          return { status: 200, body: credentialBody(c) };
        });
      default:
        return Promise.resolve(jsonError(404, "not_found", "no such route"));
    }
  };
}

/** CallUnary bound to one REST request's headers and peer. */
type RpcCaller = <I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  input: MessageInitShape<I>,
) => Promise<MessageShape<O>>;

const credentialNotFound = () => new ConnectError("no such credential for this key", Code.NotFound);

/** The list entry: both client generations' field names (integration_id, provider and integration_type). */
function integrationOf(c: Credential): Record<string, unknown> {
  return {
    integration_id: c.id,
    provider: c.provider,
    integration_type: c.provider,
    alias: c.alias,
    status: statusOf(c),
    email: c.identity.email ?? "",
    expires_at: iso(accessKeyOf(c)?.expiresAt),
    project: c.project,
  };
}

/** GET /v1/credentials/{id}, and refresh's answer: the list entry plus the token. */
function credentialBody(c: Credential): Record<string, unknown> {
  return {
    ...integrationOf(c),
    access_token: accessKeyOf(c)?.value ?? "",
    token_type: "Bearer",
    scopes: c.scopes,
    metadata: { ...c.identity },
  };
}

function validationOf(c: Credential): Record<string, unknown> {
  const expiresAt = accessKeyOf(c)?.expiresAt;
  const secondsLeft = expiresAt ? Math.floor((timestampDate(expiresAt).getTime() - Date.now()) / 1000) : null;
  const needsReauth = c.connection?.status === ConnectionStatus.NEEDS_REAUTH;
  const expired = secondsLeft !== null && secondsLeft <= 0;
  return {
    valid: !needsReauth && !expired,
    expires_at: iso(expiresAt),
    expires_in_seconds: secondsLeft,
    reason: needsReauth ? "requires_reauthorization" : expired ? "expired" : "",
    requires_reauthorization: needsReauth,
    reauthorization_url: needsReauth ? (c.connection?.reauthorizeUrl ?? "") : "",
  };
}

/** "active", "expired" or "requires_reauth": the lineage's client syncs only "active" ones. */
function statusOf(c: Credential): string {
  if (c.connection?.status === ConnectionStatus.NEEDS_REAUTH) return "requires_reauth";
  const expiresAt = accessKeyOf(c)?.expiresAt;
  if (expiresAt && timestampDate(expiresAt).getTime() <= Date.now()) return "expired";
  return "active";
}

/** The key a runtime of the lineage reads as its token: access_token, else api_key, else value, else the first. */
function accessKeyOf(c: Credential) {
  for (const name of ["access_token", "api_key", "value"]) if (c.keys[name]) return c.keys[name];
  return Object.values(c.keys)[0];
}

function refreshFailed(reauthorizationUrl: string, detail: string): RestAnswer {
  return {
    status: 400,
    body: {
      error: "refresh_failed",
      message: `the provider no longer accepts this account's grant; a person must connect it again${detail ? ` (${detail})` : ""}`,
      requires_reauthorization: true,
      reauthorization_url: reauthorizationUrl,
    },
    err: new ConnectError("refresh failed: needs re-authorization", Code.FailedPrecondition),
  };
}

/** An RPC's ConnectError as the lineage's client reads it: the status it branches on, JSON always. */
function errorAnswer(err: ConnectError): RestAnswer {
  const info = err.findDetails(ErrorInfoSchema)[0];
  const reason = info?.reason ?? "";
  const metadata = info?.metadata ?? {};
  const body = (status: number, error: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) => ({
    status,
    body: { error, message: err.rawMessage, ...(reason ? { reason } : {}), ...extra },
    headers,
    err,
  });
  switch (err.code) {
    case Code.Unauthenticated:
      return body(401, "invalid_api_key");
    case Code.PermissionDenied:
      return body(403, "permission_denied");
    case Code.NotFound:
      // One body for every id the key cannot see: unknown, deleted, another project's or another tenant's.
      return { status: 404, body: { error: "integration_not_found", message: "no such credential for this key" }, err };
    case Code.ResourceExhausted: {
      const seconds = Math.max(1, Math.ceil(Number(metadata.retry_after_seconds ?? "60") || 60));
      return body(429, "rate_limited", { retry_after: seconds }, { "retry-after": String(seconds) });
    }
    case Code.FailedPrecondition:
      if (reason === reasonName(ErrorReason.CONNECTION_NEEDS_REAUTH)) {
        return { ...refreshFailed(metadata.reauthorize_url ?? "", ""), err };
      }
      if (reason === reasonName(ErrorReason.CREDENTIAL_NOT_REFRESHABLE)) {
        return body(400, "refresh_failed", { requires_reauthorization: false, reauthorization_url: "" });
      }
      return body(400, "failed_precondition");
    case Code.InvalidArgument:
      return body(400, "invalid_request");
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      // An honest 503 with a whole-second Retry-After: the Python client of this repository retries it.
      return body(503, "unavailable", {}, { "retry-after": "5" });
    default:
      return { status: 500, body: { error: "internal", message: "the server failed; try again" }, err };
  }
}

function jsonError(status: number, error: string, message: string): RestAnswer {
  return {
    status,
    body: { error, message },
    err: new ConnectError(message, status === 404 ? Code.NotFound : Code.InvalidArgument),
  };
}

function methodNotAllowed(allowed: string): RestAnswer {
  return { ...jsonError(405, "method_not_allowed", `use ${allowed}`), headers: { allow: allowed } };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** ISO 8601 in UTC with "Z", or null. */
function iso(t: Timestamp | undefined): string | null {
  return t ? timestampDate(t).toISOString() : null;
}

const isoNow = () => new Date().toISOString();
