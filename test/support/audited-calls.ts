import { randomBytes } from "node:crypto";
import { ErrorReason, reasonName, Role, TokenKind } from "@engine-cloud/api";
import { describeCloudError, type CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";
import { API_SERVICES } from "../../packages/server/src/app.js";
import { buildAuditTable } from "../../packages/server/src/tenancy/audit-rules.js";
import { renderForLeakCheck } from "./call-any-method.js";
import { connectLoopbackAccount, LOOPBACK_PROVIDER, registerLoopbackApp } from "./hub-connections.js";
import { loopbackOAuthApp, type LoopbackAuthorizationServer } from "./loopback-authorization-server.js";
import { addPerson, signIn, uniquePassword } from "./test-people.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./test-tenant.js";
import type { TestServer } from "./test-server.js";

// One call of every audited RPC and route, each prepared (with the audit log
// working) so that it would succeed: the fail-closed proofs run them with the
// audit insert broken and expect each to fail and return no secret; the
// completeness proof runs them with it working and expects exactly one event
// of the declared action each. The RPCs come from the proto's audit
// declarations: one declared without an entry here fails both suites.

/** What a call came back with; `text` is everything the caller saw, for leak checks. */
export type Reply = { ok: true; text: string } | { ok: false; code: string; reason: string; text: string };

/** The server the calls go to and what they share. */
export interface AuditedCallContext {
  server: Pick<TestServer, "url" | "adminToken" | "client" | "admin">;
  /** The authorization server the hub's calls use, registered as provider "loopback" of `tenant`. */
  auth: LoopbackAuthorizationServer;
  /** A tenant with project "app" allowed and the loopback app registered. */
  tenant: TestTenant;
  /** Every secret, token and password the calls were prepared with: none may be in a failed reply. */
  used: string[];
  /** The one-time code the server minted at start for its first platform administrator (CompleteSetup). */
  setupCode?: string;
}

export interface AuditedCall {
  /** "Service/Method" for an RPC, "METHOD /path" for a route. */
  name: string;
  /** The action of the one event it leaves. */
  action: string;
  /** How many events of the action it leaves, when not one (one per chain it touches). */
  events?: number;
  /** Sets the call up while the audit log works; returns the call itself. */
  prepare(c: AuditedCallContext): Promise<() => Promise<Reply>>;
}

/** Env a server needs for these calls: the hub may reach the loopback authorization server. */
export const AUDITED_CALLS_ENV = { ENGINE_CLOUD_HUB_ALLOW_LOOPBACK: "1", ENGINE_CLOUD_PASSWORD_HASH_LOG_N: "14" } as const;
export const APP = "app";

/** Sets up the shared tenant of the calls (with the audit log working). */
export async function auditedCallContext(
  server: AuditedCallContext["server"],
  auth: LoopbackAuthorizationServer,
): Promise<AuditedCallContext> {
  const tenant = await createTestTenant(server, { allow: [APP] });
  await registerLoopbackApp(tenant.admin, auth);
  // A test server started on a fresh database holds the code it printed; it stays usable until a call succeeds.
  const setupCode = (server as Partial<TestServer>).server?.app.bootstrap.setupCode;
  return { server, auth, tenant, used: [server.adminToken, auth.clientSecret, ...(setupCode ? [setupCode] : [])], setupCode };
}

/** The audited RPCs as the proto declares them: "Service/Method" → action. */
export function declaredAuditActions(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [m, rule] of buildAuditTable(API_SERVICES))
    if (rule.kind === "action") out.set(`${m.parent.name}/${m.name}`, rule.action);
  return out;
}

const rpc = async (call: Promise<unknown> | (() => Promise<unknown>)): Promise<Reply> => {
  try {
    const value = await (typeof call === "function" ? call() : call);
    return { ok: true, text: renderForLeakCheck(value) };
  } catch (err) {
    const e = describeCloudError(err);
    return { ok: false, code: e.codeName, reason: e.reason, text: `${e.message} ${renderForLeakCheck(e.metadata)}` };
  }
};

/** The first message of a server stream (the call is then closed), or its error. */
const firstOf = (stream: (signal: AbortSignal) => AsyncIterable<unknown>) =>
  rpc(async () => {
    const abort = new AbortController();
    try {
      for await (const m of stream(abort.signal)) return m;
      return undefined;
    } finally {
      abort.abort();
    }
  });

/** Every message of a server stream. */
const allOf = (stream: AsyncIterable<unknown>) =>
  rpc(async () => {
    const out: unknown[] = [];
    for await (const m of stream) out.push(m);
    return out;
  });

/** A REST route: 2xx is a success; anything else is a failure named by the JSON body's reason or the status. */
async function route(url: string, key: string | undefined, method = "GET"): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: method === "POST" ? "{}" : undefined,
    redirect: "manual",
  });
  const text = await res.text();
  if (res.ok) return { ok: true, text };
  let reason = "";
  try {
    reason = String((JSON.parse(text) as { reason?: string }).reason ?? "");
  } catch {
    // The OAuth callback answers with an HTML page.
  }
  return { ok: false, code: res.status === 503 ? "unavailable" : `http ${res.status}`, reason, text };
}

const slug = () => `t-${randomBytes(6).toString("hex")}`;
const provider = () => `p${randomBytes(4).toString("hex")}`;

async function secretIn(c: AuditedCallContext, project = APP) {
  const secret = uniqueSecret();
  c.used.push(secret);
  return { secret, credential: await putApiKey(c.tenant.admin, { project, provider: provider() }, secret) };
}

async function runtimeKey(c: AuditedCallContext): Promise<string> {
  const { secret } = await c.tenant.token({ kind: TokenKind.RUNTIME, projects: [APP] });
  c.used.push(secret);
  return secret;
}

async function person(c: AuditedCallContext, role = Role.ADMIN) {
  const p = await addPerson(c.server, c.tenant.admin, role);
  c.used.push(p.password, p.token, p.invitationCode);
  return p;
}

/** A connection of the loopback account through the real connect flow; its id. */
export async function connection(c: AuditedCallContext, project = APP): Promise<string> {
  return connectLoopbackAccount(c.tenant.admin, c.auth, {
    login: `u${randomBytes(3).toString("hex")}`,
    alias: provider(),
    project,
  });
}

/** A credential the hub keeps (a connection's), visible to a runtime key of "app". */
async function hubCredential(c: AuditedCallContext): Promise<{ key: string; id: string }> {
  const connectionId = await connection(c);
  const { credentials } = await c.tenant.admin.credentials.listCredentials({});
  const linked = credentials.find((x) => x.connection?.id === connectionId);
  if (!linked) throw new Error(`connection ${connectionId} published no credential`);
  return { key: await runtimeKey(c), id: linked.id };
}

const tenantAsPlatform = async (c: AuditedCallContext) => {
  const s = slug();
  await c.server.admin().tenants.createTenant({ slug: s });
  return s;
};

export const AUDITED_CALLS: AuditedCall[] = [
  // AuditService: reading the log is audited.
  {
    name: "AuditService/ListAuditEvents",
    action: "audit.list",
    prepare: async (c) => () => rpc(c.tenant.admin.audit.listAuditEvents({})),
  },
  {
    name: "AuditService/WatchAuditEvents",
    action: "audit.watch",
    prepare: async (c) => () => firstOf((signal) => c.tenant.admin.audit.watchAuditEvents({}, { signal })),
  },
  {
    name: "AuditService/ExportAuditEvents",
    action: "audit.export",
    prepare: async (c) => () => allOf(c.tenant.admin.audit.exportAuditEvents({})),
  },
  // AuthService
  {
    name: "AuthService/CompleteSetup",
    action: "auth.setup",
    prepare: async (c) => {
      const code = c.setupCode;
      if (!code) throw new Error("the server minted no setup code (a platform administrator person exists already)");
      const password = uniquePassword();
      c.used.push(password);
      const email = `first-admin-${randomBytes(4).toString("hex")}@example.test`;
      return () =>
        rpc(createCloudClient({ baseUrl: c.server.url }).auth.completeSetup({ code, email, password, displayName: "First" }));
    },
  },
  {
    name: "AuthService/Login",
    action: "session.login",
    prepare: async (c) => {
      const p = await person(c);
      return () =>
        rpc(
          createCloudClient({ baseUrl: c.server.url }).auth.login({
            email: p.email,
            password: p.password,
            tenant: c.tenant.slug,
          }),
        );
    },
  },
  {
    name: "AuthService/Logout",
    action: "session.logout",
    prepare: async (c) => {
      const p = await person(c);
      return () => rpc(p.client.auth.logout({}));
    },
  },
  {
    name: "AuthService/RevokeSession",
    action: "session.revoke",
    prepare: async (c) => {
      const p = await person(c);
      const other = await signIn(c.server, p.email, p.password, c.tenant.slug);
      c.used.push(other.token);
      return () => rpc(p.client.auth.revokeSession({ id: other.sessionId }));
    },
  },
  {
    name: "AuthService/SwitchTenant",
    action: "session.switch_tenant",
    // The session it ends, in the tenant it leaves; the one it opens, in the tenant it enters.
    events: 2,
    prepare: async (c) => {
      const p = await person(c);
      const second = await createTestTenant(c.server);
      await addPerson(c.server, second.admin, Role.VIEWER, { email: p.email, password: p.password }).catch(() => undefined);
      return () => rpc(p.client.auth.switchTenant({ tenant: second.slug }));
    },
  },
  {
    name: "AuthService/ChangePassword",
    action: "user.change_password",
    prepare: async (c) => {
      const p = await person(c);
      const next = uniquePassword();
      c.used.push(next);
      return () => rpc(p.client.auth.changePassword({ currentPassword: p.password, newPassword: next }));
    },
  },
  // ConnectionService and the OAuth callback route
  {
    name: "ConnectionService/StartConnect",
    action: "connection.start",
    prepare: async (c) => () =>
      rpc(c.tenant.admin.connections.startConnect({ provider: LOOPBACK_PROVIDER, alias: provider(), project: APP })),
  },
  {
    name: "GET /oauth/callback",
    action: "connection.connect",
    prepare: async (c) => {
      const started = await c.tenant.admin.connections.startConnect({
        provider: LOOPBACK_PROVIDER,
        alias: provider(),
        project: APP,
      });
      const back = await c.auth.authorize(started.authorizationUrl, { login: `u${randomBytes(3).toString("hex")}` });
      return () => route(String(back), undefined);
    },
  },
  {
    name: "ConnectionService/DisconnectConnection",
    action: "connection.disconnect",
    prepare: async (c) => {
      const id = await connection(c);
      return () => rpc(c.tenant.admin.connections.disconnectConnection({ id }));
    },
  },
  {
    name: "ConnectionService/RefreshConnection",
    action: "connection.refresh",
    prepare: async (c) => {
      const id = await connection(c);
      return () => rpc(c.tenant.admin.connections.refreshConnection({ id }));
    },
  },
  // CredentialService
  {
    name: "CredentialService/PutCredential",
    action: "credential.put",
    prepare: async (c) => {
      const secret = uniqueSecret();
      c.used.push(secret);
      return () => rpc(putApiKey(c.tenant.admin, { project: APP, provider: provider() }, secret));
    },
  },
  {
    name: "CredentialService/GetCredential",
    action: "credential.read",
    prepare: async (c) => {
      const { credential } = await secretIn(c);
      return () => rpc(c.tenant.admin.credentials.getCredential({ id: credential.id }));
    },
  },
  {
    name: "CredentialService/DeleteCredential",
    action: "credential.delete",
    prepare: async (c) => {
      const { credential } = await secretIn(c);
      return () => rpc(c.tenant.admin.credentials.deleteCredential({ id: credential.id }));
    },
  },
  // KeyService
  {
    name: "KeyService/RotateRootKey",
    action: "key.rotate_root",
    prepare: async (c) => () => rpc(c.server.admin().keys.rotateRootKey({})),
  },
  // OAuthAppService
  {
    name: "OAuthAppService/SetOAuthApp",
    action: "oauth_app.set",
    prepare: async (c) => () => rpc(c.tenant.admin.oauthApps.setOAuthApp(loopbackOAuthApp(c.auth, provider()))),
  },
  {
    name: "OAuthAppService/DeleteOAuthApp",
    action: "oauth_app.delete",
    prepare: async (c) => {
      const p = provider();
      await c.tenant.admin.oauthApps.setOAuthApp(loopbackOAuthApp(c.auth, p));
      return () => rpc(c.tenant.admin.oauthApps.deleteOAuthApp({ provider: p }));
    },
  },
  // ProjectService
  {
    name: "ProjectService/AllowProject",
    action: "project.allow",
    prepare: async (c) => () => rpc(c.tenant.admin.projects.allowProject({ name: provider() })),
  },
  {
    name: "ProjectService/DenyProject",
    action: "project.deny",
    prepare: async (c) => () => rpc(c.tenant.admin.projects.denyProject({ name: provider() })),
  },
  {
    name: "ProjectService/DeleteProject",
    action: "project.delete",
    prepare: async (c) => {
      const name = provider();
      await c.tenant.admin.projects.allowProject({ name });
      return () => rpc(c.tenant.admin.projects.deleteProject({ name }));
    },
  },
  // SyncService and the runtime REST routes (which answer through Pull and RefreshCredential)
  {
    name: "SyncService/Watch",
    action: "sync.deliver",
    prepare: async (c) => {
      await secretIn(c);
      const runtime = c.server.client(await runtimeKey(c));
      return () => firstOf((signal) => runtime.sync.watch({ project: APP }, { signal }));
    },
  },
  {
    name: "SyncService/Pull",
    action: "sync.catch_up",
    prepare: async (c) => {
      await secretIn(c);
      const runtime = c.server.client(await runtimeKey(c));
      return () => rpc(runtime.sync.pull({ project: APP }));
    },
  },
  {
    name: "SyncService/RefreshCredential",
    action: "credential.refresh",
    prepare: async (c) => {
      const { key, id } = await hubCredential(c);
      return () => rpc(c.server.client(key).sync.refreshCredential({ project: APP, id }));
    },
  },
  {
    name: "GET /v1/credentials",
    action: "sync.catch_up",
    prepare: async (c) => {
      await secretIn(c);
      const key = await runtimeKey(c);
      return () => route(`${c.server.url}/v1/credentials`, key);
    },
  },
  ...(["", "/validate", "/usage"] as const).map((tail): AuditedCall => ({
    name: `${tail === "/usage" ? "POST" : "GET"} /v1/credentials/{id}${tail}`,
    action: "sync.catch_up",
    prepare: async (c) => {
      const { credential } = await secretIn(c);
      const key = await runtimeKey(c);
      return () => route(`${c.server.url}/v1/credentials/${credential.id}${tail}`, key, tail === "/usage" ? "POST" : "GET");
    },
  })),
  {
    name: "POST /v1/credentials/{id}/refresh",
    action: "credential.refresh",
    prepare: async (c) => {
      const { key, id } = await hubCredential(c);
      return () => route(`${c.server.url}/v1/credentials/${id}/refresh`, key, "POST");
    },
  },
  // TenantService (platform)
  {
    name: "TenantService/CreateTenant",
    action: "tenant.create",
    prepare: async (c) => () => rpc(c.server.admin().tenants.createTenant({ slug: slug() })),
  },
  {
    name: "TenantService/UpdateTenant",
    action: "tenant.update",
    prepare: async (c) => {
      const s = await tenantAsPlatform(c);
      return () => rpc(c.server.admin().tenants.updateTenant({ tenant: s, displayName: "Renamed" }));
    },
  },
  {
    name: "TenantService/SuspendTenant",
    action: "tenant.suspend",
    prepare: async (c) => {
      const s = await tenantAsPlatform(c);
      return () => rpc(c.server.admin().tenants.suspendTenant({ tenant: s }));
    },
  },
  {
    name: "TenantService/ResumeTenant",
    action: "tenant.resume",
    prepare: async (c) => {
      const s = await tenantAsPlatform(c);
      await c.server.admin().tenants.suspendTenant({ tenant: s });
      return () => rpc(c.server.admin().tenants.resumeTenant({ tenant: s }));
    },
  },
  {
    name: "TenantService/DeleteTenant",
    action: "tenant.delete",
    prepare: async (c) => {
      const s = await tenantAsPlatform(c);
      return () => rpc(c.server.admin().tenants.deleteTenant({ tenant: s }));
    },
  },
  {
    name: "TenantService/SetTenantLimits",
    action: "tenant.set_limits",
    prepare: async (c) => {
      const s = await tenantAsPlatform(c);
      return () => rpc(c.server.admin().tenants.setTenantLimits({ tenant: s, overrides: { tokenRequestsPerSecond: 500 } }));
    },
  },
  // TokenService
  {
    name: "TokenService/CreateToken",
    action: "token.create",
    prepare: async (c) => () =>
      rpc(c.tenant.admin.tokens.createToken({ label: "audited", kind: TokenKind.RUNTIME, projects: [APP] })),
  },
  {
    name: "TokenService/RevokeToken",
    action: "token.revoke",
    prepare: async (c) => {
      const { id } = await c.tenant.token();
      return () => rpc(c.tenant.admin.tokens.revokeToken({ id }));
    },
  },
  // UserService
  {
    name: "UserService/InviteUser",
    action: "invitation.create",
    prepare: async (c) => () =>
      rpc(c.tenant.admin.users.inviteUser({ email: `i${randomBytes(4).toString("hex")}@example.com`, role: Role.VIEWER })),
  },
  {
    name: "UserService/AcceptInvitation",
    action: "invitation.accept",
    prepare: async (c) => {
      const { invitationCode } = await c.tenant.admin.users.inviteUser({
        email: `a${randomBytes(4).toString("hex")}@example.com`,
        role: Role.VIEWER,
      });
      const password = uniquePassword();
      c.used.push(invitationCode, password);
      const anonymous: CloudClient = createCloudClient({ baseUrl: c.server.url });
      return () => rpc(anonymous.users.acceptInvitation({ invitationCode, displayName: "Accepted", password }));
    },
  },
  {
    name: "UserService/RevokeInvitation",
    action: "invitation.revoke",
    prepare: async (c) => {
      const email = `r${randomBytes(4).toString("hex")}@example.com`;
      const { invitationCode } = await c.tenant.admin.users.inviteUser({ email, role: Role.VIEWER });
      c.used.push(invitationCode);
      const { invitations } = await c.tenant.admin.users.listInvitations({});
      const id = invitations.find((i) => i.email === email)!.id;
      return () => rpc(c.tenant.admin.users.revokeInvitation({ id }));
    },
  },
  {
    name: "UserService/SetMemberRole",
    action: "member.set_role",
    prepare: async (c) => {
      const p = await person(c, Role.VIEWER);
      return () => rpc(c.tenant.admin.users.setMemberRole({ userId: p.userId, role: Role.BUILDER }));
    },
  },
  {
    name: "UserService/RemoveMember",
    action: "member.remove",
    prepare: async (c) => {
      const p = await person(c, Role.VIEWER);
      return () => rpc(c.tenant.admin.users.removeMember({ userId: p.userId }));
    },
  },
  {
    name: "UserService/DisableUser",
    action: "user.disable",
    prepare: async (c) => {
      const p = await person(c, Role.VIEWER);
      return () => rpc(c.server.admin().users.disableUser({ userId: p.userId }));
    },
  },
];

/** A failed call's outcome as the fail-closed proofs read it. */
export const AUDIT_UNAVAILABLE = reasonName(ErrorReason.AUDIT_UNAVAILABLE);
