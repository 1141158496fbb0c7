import { getOption, hasOption, type DescField, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import * as api from "@engine-cloud/api";
import { access, CredentialType, TokenKind, type Tenant } from "@engine-cloud/api";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callAnyMethod, renderForLeakCheck, type CallOutcome } from "./support/call-any-method.js";
import { buildValidRequest, type FieldValueRule } from "./support/request-builder.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

// Every RPC of the API, read from the generated descriptors the API package exports: a
// service or method added later is swept here without anyone listing it.
const isService = (v: unknown): v is DescService =>
  typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "service";
const API_SERVICES: DescService[] = (Object.values(api) as unknown[])
  .filter(isService)
  .filter((s) => s.typeName.startsWith("engine.cloud.v1."))
  .sort((a, b) => a.typeName.localeCompare(b.typeName));
const API_METHODS: DescMethod[] = API_SERVICES.flatMap((s) => s.methods);

const CALLER_KINDS = { tenantAdmin: TokenKind.TENANT_ADMIN, runtime: TokenKind.RUNTIME, service: TokenKind.SERVICE };
type CallerKind = keyof typeof CALLER_KINDS;

interface IssuedToken {
  id: string;
  secret: string;
  label: string;
  displayPrefix: string;
}

interface TenantFixture {
  tenant: Tenant;
  tokens: Record<CallerKind, IssuedToken>;
  /** The first is the one requests name; the others are never named, so any sight of them is a leak. */
  projects: string[];
  /** Requests name this one… */
  credential: { id: string; provider: string; alias: string; secret: string };
  /** …and never this one, in a project never named either: any sight of it is a leak. */
  unnamedCredential: { id: string; alias: string; secret: string };
}

let srv: TestServer;
let acme: TenantFixture;
let beta: TenantFixture;
/** Every string that identifies something of beta's; none may reach acme. */
let betaIdentifiers: string[];
let betaSnapshotBefore: string;

async function populate(slug: string, displayName: string, labels: Record<CallerKind, string>, projects: string[]) {
  const { tenant } = await srv.admin().tenants.createTenant({ slug, displayName });
  const admin = srv.admin(slug);
  const tokens = {} as Record<CallerKind, IssuedToken>;
  for (const [who, kind] of Object.entries(CALLER_KINDS) as Array<[CallerKind, TokenKind]>) {
    const { token, secret } = await admin.tokens.createToken({ label: labels[who], kind });
    tokens[who] = { id: token!.id, secret, label: token!.label, displayPrefix: token!.displayPrefix };
  }
  for (const name of projects.slice(0, -1)) await admin.projects.allowProject({ name });
  await admin.projects.denyProject({ name: projects.at(-1)! });
  const putCredential = async (project: string, alias: string) => {
    const secret = `${alias}-oauth-secret`;
    const { credential } = await admin.credentials.putCredential({
      project,
      provider: "github",
      alias,
      type: CredentialType.OAUTH2,
      keys: { access_token: { value: secret } },
    });
    return { id: credential!.id, provider: credential!.provider, alias: credential!.alias, secret };
  };
  return {
    tenant: tenant!,
    tokens,
    projects,
    credential: await putCredential(projects[0], `${labels.runtime}-deploy`),
    unnamedCredential: await putCredential(projects[1], `${labels.service}-mirror`),
  };
}

/** Beta as beta's own admin sees it: tenant, tokens, policy and credentials (with their secrets). */
async function betaSnapshot(): Promise<string> {
  const admin = srv.admin(beta.tenant.id);
  const [tenant, tokens, projects, ...credentials] = await Promise.all([
    srv.admin().tenants.getTenant({ tenant: beta.tenant.id }),
    admin.tokens.listTokens({ showInactive: true }),
    admin.projects.listProjects({}),
    admin.credentials.getCredential({ id: beta.credential.id }),
    admin.credentials.getCredential({ id: beta.unnamedCredential.id }),
  ]);
  return renderForLeakCheck({
    tenant: tenant.tenant,
    // Use by beta itself moves last_used_at; nothing else may change.
    tokens: tokens.tokens.map((t) => ({ ...t, lastUsedAt: undefined })),
    projects: projects.projects,
    credentials: credentials.map((c) => c.credential),
  });
}

beforeAll(async () => {
  srv = await startTestServer();
  acme = await populate("acme", "Acme Corp", { tenantAdmin: "anvil-admin", runtime: "anvil-runtime", service: "anvil-service" }, [
    "rocket-skates",
    "giant-magnet",
    "tornado-seeds",
  ]);
  beta = await populate(
    "beta",
    "Borealis Holdings",
    { tenantAdmin: "kestrel-console", runtime: "heron-sync", service: "plover-batch" },
    ["zephyr-ledger", "orchid-payroll", "quartz-archive"],
  );
  betaIdentifiers = [
    beta.tenant.id,
    beta.tenant.slug,
    beta.tenant.displayName,
    ...Object.values(beta.tokens).flatMap((t) => [t.id, t.secret, t.label, t.displayPrefix]),
    ...beta.projects,
    ...[beta.credential, beta.unnamedCredential].flatMap((c) => [c.id, c.alias, c.secret]),
  ];
  betaSnapshotBefore = await betaSnapshot();
});
afterAll(() => srv?.stop());

/**
 * Beta's value for a field, by the field's name: slugs, project names, labels,
 * credential names, and `id` (any `*_id`) set to `betaId`, which the sweep
 * varies over every kind of id beta has, since a name cannot say which it is.
 */
const betaValueFor =
  (betaId: string): FieldValueRule =>
  (field: DescField) => {
    const name = field.name;
    if (name === "tenant_id") return beta.tenant.id;
    if (name === "tenant" || name === "slug") return beta.tenant.slug;
    if (name === "name" || name === "project" || name === "projects") return beta.projects[0];
    if (name === "label") return beta.tokens.tenantAdmin.label;
    if (name === "display_name") return beta.tenant.displayName;
    if (name === "provider") return beta.credential.provider;
    if (name === "alias") return beta.credential.alias;
    if (name === "id" || name.endsWith("_id")) return betaId;
    return undefined;
  };

/** One request per kind of beta id (token, credential); a request without an id field is built once. */
function betaRequests(method: DescMethod): Message[] {
  const ids = [beta.tokens.runtime.id, beta.credential.id];
  const requests = ids.map((id) => buildValidRequest(method.input, betaValueFor(id)));
  return requests.filter((r, i) => requests.findIndex((q) => renderForLeakCheck(q) === renderForLeakCheck(r)) === i);
}

/** How long a server stream that stays open is read before the call counts as answered. */
const STREAM_WINDOW_MS = 1000;

/** Calls any method generically, as a token of acme's, optionally naming a tenant in the header. */
const call = (method: DescMethod, request: Message, secret: string, tenantHeader?: string): Promise<CallOutcome> =>
  callAnyMethod(srv.client(secret, { tenant: tenantHeader }).transport, method, request, STREAM_WINDOW_MS);

const containsIdentifier = (text: string, id: string) =>
  new RegExp(`(^|[^A-Za-z0-9_.-])${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^A-Za-z0-9_.-])`).test(text);

/**
 * Every text acme's own rows hold, in every tenant-owned table: when acme made
 * a project (or credential…) named like one of beta's, seeing that name is no leak.
 */
async function acmeOwnNames(): Promise<Set<string>> {
  const db = srv.server.app.storage.db;
  const own = new Set<string>();
  const collect = (v: unknown): void => {
    if (typeof v === "string") own.add(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === "object" && !(v instanceof Date) && !(v instanceof Uint8Array)) Object.values(v).forEach(collect);
  };
  for (const table of await tenantOwnedTables()) {
    const { rows } = await sql<
      Record<string, unknown>
    >`SELECT * FROM ${sql.table(table)} WHERE tenant_id = ${acme.tenant.id}::uuid`.execute(db);
    rows.forEach(collect);
  }
  return own;
}

/** Beta identifiers in `text` that the caller neither sent itself nor owns under the same name. */
async function leaks(text: string, sent: string): Promise<string[]> {
  const own = await acmeOwnNames();
  return betaIdentifiers.filter((id) => containsIdentifier(text, id) && !sent.includes(id) && !own.has(id));
}

/** Answers that say "no" without saying anything about the resource named. */
const REFUSALS = ["permission_denied", "not_found"];
/**
 * Refusals for what the caller is, given before any resource is looked at:
 * person-only calls (sessions, passwords) refuse API tokens this way.
 */
const REFUSALS_OF_THE_CALLER = ["NOT_A_PERSON"];
/** Answers that mean the call was never really exercised, or broke. */
const BROKEN = ["internal", "unknown", "unimplemented", "invalid_argument", "data_loss"];

/**
 * What is wrong with an answer to acme's credential, if anything.
 * - Public calls use no credential: any answer will do, as long as it is a real one (leaks are checked apart).
 * - Naming beta in the header: the tenant-bound credential is refused, PERMISSION_DENIED.
 * - Naming beta's resources in the request: refused, not found, or served from acme's own tenant.
 */
function wrongAnswer(method: DescMethod, outcome: CallOutcome, namedBetaIn: "request" | "header"): string | undefined {
  if (outcome.ok) {
    return namedBetaIn === "header" && accessRuleOf(method) !== "public"
      ? `was served although the header names another tenant: ${outcome.text}`
      : undefined;
  }
  const { codeName, reason, message } = outcome.error;
  const answered = `answered ${codeName} ${reason}: ${message}`;
  if (accessRuleOf(method) === "public") return BROKEN.includes(codeName) ? answered : undefined;
  if (namedBetaIn === "header") return codeName === "permission_denied" ? undefined : answered;
  if (REFUSALS.includes(codeName)) return undefined;
  if (codeName === "failed_precondition" && REFUSALS_OF_THE_CALLER.includes(reason)) return undefined;
  return answered;
}

function accessRuleOf(method: DescMethod): string {
  return hasOption(method, access) ? (getOption(method, access).rule.case ?? "none") : "none";
}

const nameOf = (m: DescMethod) => `${m.parent.name}/${m.name}`;

describe("tenant isolation", () => {
  it("sweeps every service of the API, the five foundation services among them", () => {
    const names = API_SERVICES.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(["ServerService", "AuthService", "TenantService", "TokenService", "ProjectService"]),
    );
    expect(API_METHODS.length).toBeGreaterThanOrEqual(19);
  });

  it("can build a valid request naming beta's resources for every RPC", () => {
    const unbuildable = API_METHODS.flatMap((m) => {
      try {
        betaRequests(m);
        return [];
      } catch (err) {
        return [`${nameOf(m)}: ${(err as Error).message}`];
      }
    });
    expect(unbuildable).toEqual([]);
  });

  it("would see a leak: beta's own answer, shown to acme, is flagged", async () => {
    const own = srv.client(beta.tokens.tenantAdmin.secret);
    const [token, credentials] = await Promise.all([
      own.tokens.getToken({ id: beta.tokens.runtime.id }),
      own.credentials.listCredentials({}),
    ]);
    const flagged = await leaks(renderForLeakCheck([token, credentials]), "");
    expect(flagged).toEqual(
      expect.arrayContaining([
        beta.tokens.runtime.label,
        beta.tokens.runtime.id,
        beta.tokens.runtime.displayPrefix,
        beta.unnamedCredential.id,
        beta.unnamedCredential.alias,
        beta.projects[1],
      ]),
    );
  });

  describe.each(API_METHODS.map((m) => [nameOf(m), m] as const))("%s", (_name, method) => {
    it("gives acme's tokens nothing of beta's when the request names beta's resources", async () => {
      const problems: string[] = [];
      for (const request of betaRequests(method)) {
        const sent = renderForLeakCheck(request);
        for (const [who, token] of Object.entries(acme.tokens)) {
          const outcome = await call(method, request, token.secret);
          const wrong = wrongAnswer(method, outcome, "request");
          if (wrong) problems.push(`${who} sending ${sent}: ${wrong}`);
          const seen = await leaks(outcome.text, sent);
          if (seen.length > 0) problems.push(`${who} sending ${sent}: the answer shows beta's ${seen.join(", ")}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it("refuses acme's tokens that name beta in the engine-tenant header, by slug or by id", async () => {
      const [request] = betaRequests(method);
      const problems: string[] = [];
      for (const header of [beta.tenant.slug, beta.tenant.id]) {
        const sent = renderForLeakCheck(request) + header;
        for (const [who, token] of Object.entries(acme.tokens)) {
          const outcome = await call(method, request, token.secret, header);
          const wrong = wrongAnswer(method, outcome, "header");
          if (wrong) problems.push(`${who} with engine-tenant: ${header}: ${wrong}`);
          const seen = await leaks(outcome.text, sent);
          if (seen.length > 0) problems.push(`${who} with engine-tenant: ${header}: shows beta's ${seen.join(", ")}`);
        }
      }
      expect(problems).toEqual([]);
    });
  });

  // The runtime REST routes answer through the RPCs (transport/runtime-rest-routes.ts); held to the same rule here.
  describe("the runtime REST routes", () => {
    const routes = (id: string) => [
      ["GET", "/v1/credentials"],
      ["GET", `/v1/credentials/${id}`],
      ["GET", `/v1/credentials/${id}/validate`],
      ["POST", `/v1/credentials/${id}/usage`],
      ["POST", `/v1/credentials/${id}/refresh`],
    ];
    const restCall = async (method: string, path: string, key: string, headers: Record<string, string>) => {
      const res = await fetch(`${srv.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...headers } });
      return { status: res.status, text: await res.text() };
    };

    it("gives acme's keys nothing of beta's, whichever project they name, and the same 404 for beta's ids", async () => {
      const problems: string[] = [];
      for (const [who, token] of Object.entries(acme.tokens)) {
        for (const project of [acme.projects[0], ...beta.projects]) {
          for (const [method, path] of routes(beta.credential.id)) {
            const sent = `${path} ${project}`;
            const r = await restCall(method, path, token.secret, { "x-engine-project": project });
            if (![200, 400, 403, 404].includes(r.status)) problems.push(`${who} ${method} ${sent}: ${r.status} ${r.text}`);
            if (path.includes(beta.credential.id) && r.status === 200)
              problems.push(`${who} ${method} ${sent}: served ${r.text}`);
            const seen = await leaks(r.text, sent);
            if (seen.length > 0) problems.push(`${who} ${method} ${sent}: shows beta's ${seen.join(", ")}`);
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it("refuses acme's keys that name beta in the engine-tenant header", async () => {
      const problems: string[] = [];
      for (const [who, token] of Object.entries(acme.tokens)) {
        for (const [method, path] of routes(beta.credential.id)) {
          const r = await restCall(method, path, token.secret, {
            "engine-tenant": beta.tenant.slug,
            "x-engine-project": acme.projects[0],
          });
          if (r.status !== 403) problems.push(`${who} ${method} ${path}: ${r.status} ${r.text}`);
        }
      }
      expect(problems).toEqual([]);
    });
  });

  it("leaves beta exactly as it was after the whole sweep, its tokens still working", async () => {
    expect(await betaSnapshot()).toEqual(betaSnapshotBefore);
    for (const token of Object.values(beta.tokens)) {
      expect((await srv.client(token.secret).auth.whoAmI({})).tenantId).toBe(beta.tenant.id);
    }
  });
});

/** Tables of the current schema that carry a tenant_id column, read from the catalog. */
async function tenantOwnedTables(): Promise<string[]> {
  const { rows } = await sql<{ table_name: string }>`
    SELECT c.table_name
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.column_name = 'tenant_id' AND c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name`.execute(srv.server.app.storage.db);
  return rows.map((r) => r.table_name);
}

/**
 * Rows of `table` the application role sees, acting for `actingTenant` (or
 * for no tenant at all), optionally only those of `ofTenant`. A table the role
 * may not read at all shows it nothing, which counts as zero.
 */
async function rowsSeenByApp(table: string, actingTenant: string | undefined, ofTenant?: string): Promise<number> {
  const db = srv.server.app.storage.db;
  try {
    return await db.transaction().execute(async (tx) => {
      if (actingTenant) {
        await sql`SELECT set_config('role', 'engine_app', true), set_config('engine.tenant_id', ${actingTenant}, true)`.execute(
          tx,
        );
      } else {
        await sql`SELECT set_config('role', 'engine_app', true)`.execute(tx);
      }
      const filter = ofTenant ? sql`WHERE tenant_id = ${ofTenant}::uuid` : sql``;
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)} ${filter}`.execute(tx);
      return rows[0].n;
    });
  } catch (err) {
    if ((err as { code?: string }).code === "42501") return 0; // insufficient_privilege
    throw err;
  }
}

async function rowsSeenByOwner(table: string, ofTenant: string): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`SELECT count(*)::int AS n FROM ${sql.table(table)} WHERE tenant_id = ${ofTenant}::uuid`.execute(srv.server.app.storage.db);
  return rows[0].n;
}

describe("row-level security (defence in depth)", () => {
  it("finds the tenant-owned tables in the catalog, tokens and projects among them", async () => {
    expect(await tenantOwnedTables()).toEqual(expect.arrayContaining(["tokens", "projects"]));
  });

  it("shows the application role acting for acme no row of beta's, in any table with a tenant_id", async () => {
    const seen: Record<string, number> = {};
    let betaRowsStored = 0;
    for (const table of await tenantOwnedTables()) {
      seen[table] = await rowsSeenByApp(table, acme.tenant.id, beta.tenant.id);
      betaRowsStored += await rowsSeenByOwner(table, beta.tenant.id);
    }
    expect(betaRowsStored).toBeGreaterThan(0); // there was something to hide
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((t) => [t, 0])));
  });

  it("still shows the application role acting for acme its own rows (the check above is not vacuous)", async () => {
    expect(await rowsSeenByApp("tokens", acme.tenant.id)).toBe(await rowsSeenByOwner("tokens", acme.tenant.id));
    expect(await rowsSeenByApp("projects", acme.tenant.id)).toBe(await rowsSeenByOwner("projects", acme.tenant.id));
  });

  it("shows the application role with no tenant set no row at all", async () => {
    const seen: Record<string, number> = {};
    for (const table of await tenantOwnedTables()) seen[table] = await rowsSeenByApp(table, undefined);
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((t) => [t, 0])));
  });

  it("shows the application role acting for acme only acme's own tenant row", async () => {
    const ids = await srv.server.app.storage.db.transaction().execute(async (tx) => {
      await sql`SELECT set_config('role', 'engine_app', true), set_config('engine.tenant_id', ${acme.tenant.id}, true)`.execute(
        tx,
      );
      return (await sql<{ id: string }>`SELECT id FROM tenants`.execute(tx)).rows.map((r) => r.id);
    });
    expect(ids).toEqual([acme.tenant.id]);
  });
});
