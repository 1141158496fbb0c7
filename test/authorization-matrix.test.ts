import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { getOption, type DescField, type DescMethod, type Message } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { access, Role, RoleSchema, TokenKind, TokenKindSchema } from "@engine-cloud/api";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callAnyMethod,
  describeOutcome,
  refusedByAccessCheck,
  renderForLeakCheck,
  type CallOutcome,
} from "./support/call-any-method.js";
import {
  fullMethodName as fullName,
  SDK_API_METHODS as API_METHODS,
  SDK_API_SERVICES as API_SERVICES,
} from "./support/api-descriptors.js";
import { buildValidRequest, type FieldValueRule } from "./support/request-builder.js";
import { addPerson, FAST_PASSWORD_HASH, signIn, type TestPerson } from "./support/test-people.js";
import { createTestTenant, putApiKey, uniqueSecret, type TestTenant } from "./support/test-tenant.js";
import { REPO_ROOT, startTestServer, type TestServer } from "./support/test-server.js";

// docs/MULTI_TENANT.md is the specification of who may call what; this suite
// parses its role × RPC table and holds the running server to it, cell by
// cell. RPCs come from the generated descriptors, so one added to the API
// without a row in the table fails here.

const PRINCIPALS = [
  "owner",
  "admin",
  "operator",
  "builder",
  "viewer",
  "tenant-admin token",
  "runtime token",
  "service token",
] as const;
type Principal = (typeof PRINCIPALS)[number];

const ROLE_OF: Partial<Record<Principal, Role>> = {
  owner: Role.OWNER,
  admin: Role.ADMIN,
  operator: Role.OPERATOR,
  builder: Role.BUILDER,
  viewer: Role.VIEWER,
};
const TOKEN_KIND_OF: Partial<Record<Principal, TokenKind>> = {
  "tenant-admin token": TokenKind.TENANT_ADMIN,
  "runtime token": TokenKind.RUNTIME,
  "service token": TokenKind.SERVICE,
};
const PEOPLE = PRINCIPALS.filter((p) => ROLE_OF[p] !== undefined);

interface TableRow {
  rpc: string;
  allowed: Record<Principal, boolean>;
  /** The access column as written, e.g. "permission `tokens.read`". */
  access: string;
}

/** The role × RPC table of docs/MULTI_TENANT.md: the one whose header starts "| RPC |". */
function parseRoleRpcTable(markdown: string): TableRow[] {
  const lines = markdown.split("\n");
  const start = lines.findIndex((l) => /^\|\s*RPC\s*\|/.test(l));
  if (start < 0) throw new Error('docs/MULTI_TENANT.md has no table whose header starts with "| RPC |"');
  const cellsOf = (line: string) =>
    line
      .trim()
      .replace(/^\|/, "")
      .replace(/\|$/, "")
      .split("|")
      .map((c) => c.trim());
  const header = cellsOf(lines[start]);
  const columnOf = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`the role × RPC table has no column "${name}"; its columns: ${header.join(", ")}`);
    return i;
  };
  const accessColumn = columnOf("access");
  const rows: TableRow[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith("|")) break;
    const cells = cellsOf(line);
    const rpc = cells[0].replace(/`/g, "");
    const allowed = {} as Record<Principal, boolean>;
    for (const p of PRINCIPALS) {
      const cell = cells[columnOf(p)];
      if (cell !== "✓" && cell !== "✗") throw new Error(`${rpc}, column ${p}: "${cell}" is neither ✓ nor ✗`);
      allowed[p] = cell === "✓";
    }
    rows.push({ rpc, allowed, access: cells[accessColumn] });
  }
  return rows;
}

const TABLE = parseRoleRpcTable(readFileSync(path.join(REPO_ROOT, "docs/MULTI_TENANT.md"), "utf8"));
const SPEC = new Map(TABLE.map((r) => [r.rpc, r]));

const ruleOf = (m: DescMethod) => getOption(m, access).rule;
/** The access rule as the table's last column writes it. */
function accessText(m: DescMethod): string {
  const rule = ruleOf(m);
  return rule.case === "permission" ? `permission \`${rule.value}\`` : String(rule.case);
}
const methodsWhere = (kinds: string[]) => API_METHODS.filter((m) => kinds.includes(ruleOf(m).case ?? "none"));

/** Nothing may be named like this in any tenant: ids in requests find nothing, so nothing is destroyed. */
const NOWHERE_ID = randomUUID();
const MATRIX_PROJECT = "matrix-project";

let srv: TestServer;
let acme: TestTenant;
let beta: TestTenant;
const people = {} as Record<Principal, TestPerson>;
const tokens = {} as Record<Principal, string>;

beforeAll(async () => {
  srv = await startTestServer({ env: FAST_PASSWORD_HASH });
  acme = await createTestTenant(srv, { allow: [MATRIX_PROJECT] });
  for (const p of PEOPLE) people[p] = await addPerson(srv, acme.admin, ROLE_OF[p]!);
  for (const [p, kind] of Object.entries(TOKEN_KIND_OF) as Array<[Principal, TokenKind]>) {
    tokens[p] = (await acme.token({ kind })).secret;
  }
  await populateBeta();
}, 120_000);
afterAll(() => srv?.stop());

/** The long-lived credential of a principal of acme. */
const credentialOf = (p: Principal) => (ROLE_OF[p] !== undefined ? people[p].token : tokens[p]);

/** A credential of its own, for calls that may end or change the one they are made with (Logout, SwitchTenant…). */
async function freshCredentialOf(p: Principal): Promise<string> {
  if (ROLE_OF[p] !== undefined) return (await signIn(srv, people[p].email, people[p].password, acme.slug)).token;
  return (await acme.token({ kind: TOKEN_KIND_OF[p] })).secret;
}

/** Whether a call of this RPC may change or end the credential that makes it. */
const touchesOwnCredential = (m: DescMethod) =>
  ruleOf(m).case === "authenticated" && m.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;

/** Acme's own values for a request: its slug, an allowed project, ids that exist nowhere. */
const acmeValueFor: FieldValueRule = (field: DescField) => {
  const name = field.name;
  if (name === "tenant" || name === "slug") return acme.slug;
  if (name === "name" || name === "project" || name === "projects") return MATRIX_PROJECT;
  if (name === "email") return `invitee-${randomUUID().slice(0, 8)}@example.com`;
  // CheckProject's optional token to check instead of the caller: empty, so the caller itself is checked.
  if (name === "token_id") return "";
  // ListRuntimes' tenant to list instead of the caller's (platform administrators only): empty, the caller's own.
  if (name === "tenant_id") return "";
  if (name === "id" || name.endsWith("_id")) return NOWHERE_ID;
  return undefined;
};

/**
 * A valid request, with the least powerful choice of the enums whose values
 * are themselves privileges: a runtime token, a viewer. Otherwise the builder's
 * first valid choice (a platform admin token, an owner) would be refused by the
 * handler's own escalation checks, and an allowed call would look refused.
 */
function requestFor(method: DescMethod, rule: FieldValueRule): Message {
  const request = buildValidRequest(method.input, rule) as Message & Record<string, unknown>;
  for (const field of method.input.fields) {
    if (field.fieldKind !== "enum" || field.oneof) continue;
    if (field.enum.typeName === TokenKindSchema.typeName) request[field.localName] = TokenKind.RUNTIME;
    if (field.enum.typeName === RoleSchema.typeName) request[field.localName] = Role.VIEWER;
  }
  return request;
}

/**
 * Whether the call got past the access check: neither refused for want of a
 * permission nor for who the caller is (a credential that stopped working
 * would make every ✓ look "not refused" while proving nothing).
 */
function passedAccessCheck(method: DescMethod, outcome: CallOutcome): boolean {
  if (refusedByAccessCheck(outcome)) return false;
  if (outcome.ok || ruleOf(method).case === "public") return true;
  const { codeName, reason } = outcome.error;
  return codeName !== "unauthenticated" && !["MEMBERSHIP_REMOVED", "TENANT_SUSPENDED"].includes(reason);
}

async function callAs(credential: string, method: DescMethod, request: Message, tenantHeader?: string): Promise<CallOutcome> {
  return callAnyMethod(srv.client(credential, { tenant: tenantHeader }).transport, method, request);
}

describe("the role × RPC table in docs/MULTI_TENANT.md", () => {
  it("reads every RPC of the engine.cloud.v1 services from the SDK's descriptors", () => {
    expect(API_SERVICES.map((s) => s.name)).toEqual(expect.arrayContaining(["AuthService", "UserService", "TokenService"]));
    expect(API_METHODS.length).toBeGreaterThanOrEqual(38);
  });

  it("has a row for every RPC of the API", () => {
    const missing = API_METHODS.map(fullName).filter((name) => !SPEC.has(name));
    expect(missing, "RPCs with no row in the table").toEqual([]);
  });

  it("names no RPC that does not exist", () => {
    const known = new Set(API_METHODS.map(fullName));
    expect(
      TABLE.map((r) => r.rpc).filter((name) => !known.has(name)),
      "rows naming no RPC",
    ).toEqual([]);
  });

  it("names each RPC once", () => {
    expect(TABLE.length).toBe(SPEC.size);
  });

  it("states each RPC's access rule as its proto declares it", () => {
    const drift = API_METHODS.filter((m) => SPEC.get(fullName(m))?.access !== accessText(m)).map(
      (m) => `${fullName(m)}: table says "${SPEC.get(fullName(m))?.access}", proto says "${accessText(m)}"`,
    );
    expect(drift).toEqual([]);
  });

  it("closes platform RPCs to every tenant principal and opens public and authenticated ones to all", () => {
    const wrong = API_METHODS.flatMap((m) => {
      const row = SPEC.get(fullName(m));
      const kind = ruleOf(m).case;
      if (!row || kind === "permission") return [];
      const expected = kind !== "platform";
      return PRINCIPALS.filter((p) => row.allowed[p] !== expected).map((p) => `${fullName(m)} (${kind}): ${p}`);
    });
    expect(wrong).toEqual([]);
  });
});

describe("the server, held to the table, within the caller's own tenant", () => {
  it("has signed in one person of every role, who is what the table's column says", async () => {
    for (const p of PEOPLE) {
      const me = await srv.client(people[p].token).auth.whoAmI({});
      expect([me.principalType, me.role, me.tenantId]).toEqual(["user", p, acme.id]);
    }
  });

  describe.each(methodsWhere(["permission"]).map((m) => [fullName(m), m] as const))("%s", (_name, method) => {
    it("lets through exactly the principals marked ✓, and refuses the others with PERMISSION_DENIED", async () => {
      const row = SPEC.get(fullName(method))!;
      const permission = ruleOf(method).value as string;
      const mismatches: string[] = [];
      for (const p of PRINCIPALS) {
        const outcome = await callAs(credentialOf(p), method, requestFor(method, acmeValueFor));
        const refused = refusedByAccessCheck(outcome);
        if (row.allowed[p] && !passedAccessCheck(method, outcome))
          mismatches.push(`${p} (✓) was refused: ${describeOutcome(outcome)}`);
        if (!row.allowed[p] && !refused) mismatches.push(`${p} (✗) was let through: ${describeOutcome(outcome)}`);
        if (!row.allowed[p] && refused && !outcome.ok && outcome.error.metadata.permission !== permission) {
          mismatches.push(`${p} (✗) was refused without naming the permission ${permission}: ${describeOutcome(outcome)}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  });

  describe.each(methodsWhere(["platform"]).map((m) => [fullName(m), m] as const))("%s", (_name, method) => {
    it("refuses every tenant principal with PERMISSION_DENIED", async () => {
      const letThrough: string[] = [];
      for (const p of PRINCIPALS) {
        const outcome = await callAs(credentialOf(p), method, requestFor(method, acmeValueFor));
        if (!refusedByAccessCheck(outcome)) letThrough.push(`${p}: ${describeOutcome(outcome)}`);
      }
      expect(letThrough).toEqual([]);
    });
  });

  describe.each(methodsWhere(["authenticated", "public"]).map((m) => [fullName(m), m] as const))("%s", (_name, method) => {
    it("lets every principal through the access check", async () => {
      const refused: string[] = [];
      for (const p of PRINCIPALS) {
        const credential = touchesOwnCredential(method) ? await freshCredentialOf(p) : credentialOf(p);
        const outcome = await callAs(credential, method, requestFor(method, acmeValueFor));
        if (!passedAccessCheck(method, outcome)) refused.push(`${p}: ${describeOutcome(outcome)}`);
      }
      expect(refused).toEqual([]);
    });
  });
});

describe("a platform administrator person (AuthService.CompleteSetup)", () => {
  let platformPerson: string;
  beforeAll(async () => {
    const email = `platform-${randomUUID().slice(0, 8)}@example.com`;
    const password = `pw-${randomUUID()}`;
    const setup = srv.client().auth;
    const { sessionToken } = await setup.completeSetup({
      code: srv.server.app.bootstrap.setupCode!,
      email,
      password,
      displayName: "P",
    });
    platformPerson = sessionToken;
  });

  it("passes the platform rule as a platform admin token does, for reads of the platform", async () => {
    const tenants = srv.client(platformPerson).tenants;
    expect((await tenants.listTenants({})).tenants.map((t) => t.slug)).toContain(acme.slug);
    expect((await tenants.getTenant({ tenant: acme.slug })).tenant?.id).toBe(acme.id);
  });

  it("may name another tenant in the engine-tenant header, where a tenant's own owner may not", async () => {
    const members = await srv.client(platformPerson, { tenant: acme.slug }).users.listMembers({});
    expect(members.members.map((m) => m.email)).toContain(people.owner.email);
    const listMembers = API_METHODS.find((m) => fullName(m) === "engine.cloud.v1.UserService/ListMembers")!;
    const owner = await callAs(credentialOf("owner"), listMembers, requestFor(listMembers, acmeValueFor), beta.slug);
    expect(refusedByAccessCheck(owner)).toBe(true);
  });
});

// ── Across tenants ────────────────────────────────────────────────────────────
// test/tenant-isolation.test.ts sweeps the API with acme's API tokens; this
// sweep does the same with acme's people, one session per role, against a
// tenant full of people: beta's members, sessions and invitations.

let betaPeople: TestPerson[];
let betaPendingInvitee: string;
let betaSecret: string;
let betaCredentialId: string;
/** Every string that identifies something of beta's; none may reach acme's people. */
let betaIdentifiers: string[];
let betaBefore: string;

async function populateBeta(): Promise<void> {
  beta = await createTestTenant(srv, { allow: ["zephyr-ledger"], deny: ["orchid-payroll"] });
  const owner = await addPerson(srv, beta.admin, Role.OWNER, { displayName: "Ottoline Quarrie" });
  const admin = await addPerson(srv, owner.client, Role.ADMIN, { displayName: "Barnaby Whistlecroft" });
  const viewer = await addPerson(srv, admin.client, Role.VIEWER, { displayName: "Philippa Marchbanks" });
  betaPeople = [owner, admin, viewer];
  betaPendingInvitee = `pending-${randomUUID().slice(0, 8)}@example.com`;
  await admin.client.users.inviteUser({ email: betaPendingInvitee, role: Role.OPERATOR });
  betaSecret = uniqueSecret();
  betaCredentialId = (await putApiKey(admin.client, { provider: "kestrel", alias: "heron" }, betaSecret)).id;
  const sessions = (await owner.client.auth.listSessions({})).sessions;
  betaIdentifiers = [
    beta.id,
    beta.slug,
    betaPendingInvitee,
    betaSecret,
    betaCredentialId,
    "zephyr-ledger",
    "orchid-payroll",
    ...betaPeople.flatMap((p) => [p.userId, p.email, p.displayName, p.token, p.sessionId, p.password, p.invitationCode]),
    ...sessions.map((s) => s.displayPrefix),
  ];
  betaBefore = await betaSnapshot();
}

/** Beta as its own owner sees it: members and their roles, projects, credentials; and its sessions still work. */
async function betaSnapshot(): Promise<string> {
  const owner = betaPeople[0].client;
  const [members, projects, credentials] = await Promise.all([
    owner.users.listMembers({}),
    owner.projects.listProjects({}),
    owner.credentials.listCredentials({}),
  ]);
  const sessionsWork = await Promise.all(betaPeople.map((p) => p.client.auth.whoAmI({}).then((me) => me.tenantId === beta.id)));
  return renderForLeakCheck({
    members: members.members.map((m) => [m.userId, m.email, m.role, m.disabled]),
    projects: projects.projects.map((p) => [p.name, p.state]),
    credentials: credentials.credentials.map((c) => [c.id, c.version]),
    sessionsWork,
  });
}

/** Beta's values for a request: its slug, projects, a member's email, and `id` (any `*_id`) set to `betaId`. */
const betaValueFor =
  (betaId: string): FieldValueRule =>
  (field: DescField) => {
    const name = field.name;
    if (name === "tenant" || name === "slug") return beta.slug;
    if (name === "name" || name === "project" || name === "projects") return "zephyr-ledger";
    if (name === "email") return betaPeople[1].email;
    if (name === "display_name") return betaPeople[1].displayName;
    if (name === "provider") return "kestrel";
    if (name === "alias") return "heron";
    if (name === "id" || name.endsWith("_id")) return betaId;
    return undefined;
  };

/** One request per kind of beta id (a person, a session, a credential); requests without ids are built once. */
function betaRequests(method: DescMethod): Message[] {
  const ids = [betaPeople[1].userId, betaPeople[1].sessionId, betaCredentialId];
  const requests = ids.map((id) => requestFor(method, betaValueFor(id)));
  return requests.filter((r, i) => requests.findIndex((q) => renderForLeakCheck(q) === renderForLeakCheck(r)) === i);
}

const containsIdentifier = (text: string, id: string) =>
  new RegExp(`(^|[^A-Za-z0-9_.@-])${id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^A-Za-z0-9_.@-])`).test(text);

/**
 * Every text acme's own rows hold, in every table with a tenant_id: once the
 * sweep has made acme a project named like beta's, seeing that name is no leak.
 */
async function acmeOwnTexts(): Promise<Set<string>> {
  const db = srv.server.app.storage.db;
  const { rows: tables } = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.columns
    WHERE column_name = 'tenant_id' AND table_schema = current_schema()`.execute(db);
  const own = new Set<string>();
  const collect = (v: unknown): void => {
    if (typeof v === "string") own.add(v);
    else if (Array.isArray(v)) v.forEach(collect);
  };
  for (const { table_name } of tables) {
    const { rows } = await sql<
      Record<string, unknown>
    >`SELECT * FROM ${sql.table(table_name)} WHERE tenant_id = ${acme.id}::uuid`.execute(db);
    for (const row of rows) Object.values(row).forEach(collect);
  }
  return own;
}

/** Beta identifiers in what acme's caller saw, leaving out what it sent itself and what acme owns by the same name. */
async function leaksIn(seen: string, sent: string): Promise<string[]> {
  const candidates = betaIdentifiers.filter((id) => containsIdentifier(seen, id) && !sent.includes(id));
  if (candidates.length === 0) return [];
  const own = await acmeOwnTexts();
  return candidates.filter((id) => !own.has(id));
}

/** Answers that mean the call broke or was never really exercised. */
const BROKEN = ["internal", "unknown", "unimplemented", "invalid_argument", "data_loss"];

/**
 * What is wrong with an answer to one of acme's people, if anything. Public
 * calls may answer anything real. Naming beta in the header is refused.
 * Naming beta's resources in the body is refused, not found, or served from
 * acme's own tenant (leaks are checked apart).
 */
function wrongAnswer(method: DescMethod, outcome: CallOutcome, namedBetaIn: "body" | "header"): string | undefined {
  const isPublic = ruleOf(method).case === "public";
  if (outcome.ok)
    return namedBetaIn === "header" && !isPublic ? `served although the header names beta: ${outcome.text}` : undefined;
  const answered = `answered ${describeOutcome(outcome)}`;
  if (isPublic) return BROKEN.includes(outcome.error.codeName) ? answered : undefined;
  if (namedBetaIn === "header") return outcome.error.codeName === "permission_denied" ? undefined : answered;
  return ["permission_denied", "not_found"].includes(outcome.error.codeName) ? undefined : answered;
}

describe("across tenants: acme's people against beta", () => {
  it("would see a leak: beta's own answers, shown to acme, are flagged", async () => {
    const owner = betaPeople[0].client;
    const seen = renderForLeakCheck([await owner.users.listMembers({}), await owner.auth.listSessions({})]);
    expect(await leaksIn(seen, "")).toEqual(
      expect.arrayContaining([betaPeople[2].userId, betaPeople[2].email, betaPeople[0].sessionId]),
    );
  });

  describe.each(API_METHODS.map((m) => [fullName(m), m] as const))("%s", (_name, method) => {
    it("gives every role nothing of beta's when the request names beta's people, sessions and resources", async () => {
      const problems: string[] = [];
      for (const request of betaRequests(method)) {
        const sent = renderForLeakCheck(request);
        for (const p of PEOPLE) {
          const credential = touchesOwnCredential(method) ? await freshCredentialOf(p) : credentialOf(p);
          const outcome = await callAs(credential, method, request);
          const wrong = wrongAnswer(method, outcome, "body");
          if (wrong) problems.push(`${p}: ${wrong}`);
          const seen = await leaksIn(outcome.text, sent);
          if (seen.length > 0) problems.push(`${p}: the ${outcome.ok ? "response" : "error"} shows beta's ${seen.join(", ")}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it("refuses every role that names beta in the engine-tenant header, by slug or by id", async () => {
      const problems: string[] = [];
      const request = betaRequests(method)[0];
      for (const header of [beta.slug, beta.id]) {
        const sent = renderForLeakCheck(request) + header;
        for (const p of PEOPLE) {
          const credential = touchesOwnCredential(method) ? await freshCredentialOf(p) : credentialOf(p);
          const outcome = await callAs(credential, method, request, header);
          const wrong = wrongAnswer(method, outcome, "header");
          if (wrong) problems.push(`${p} naming ${header}: ${wrong}`);
          const seen = await leaksIn(outcome.text, sent);
          if (seen.length > 0) problems.push(`${p} naming ${header}: shows beta's ${seen.join(", ")}`);
        }
      }
      expect(problems).toEqual([]);
    });
  });

  it("leaves beta's members, roles, projects, credentials and sessions exactly as they were", async () => {
    expect(await betaSnapshot()).toEqual(betaBefore);
  });
});
