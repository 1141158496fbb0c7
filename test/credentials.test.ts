import { CredentialType, TokenKind, type Credential } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import {
  apiKeyRequest,
  clientOf,
  createTestTenant,
  jsonText,
  putApiKey,
  uniqueSecret,
  type CredentialName,
  type TestTenant,
} from "./support/test-tenant.js";

let srv: TestServer;
/** Tenant A: projects p1 and p2 allowed, p3 denied. */
let tenant: TestTenant;
/** A second tenant, to check that A's credentials never leak into it. */
let other: TestTenant;
beforeAll(async () => {
  srv = await startTestServer();
  tenant = await createTestTenant(srv, { allow: ["p1", "p2"], deny: ["p3"] });
  other = await createTestTenant(srv, { allow: ["p1"] });
});
afterAll(() => srv?.stop());

let providers = 0;
/** A provider name no other test uses, so each test sees only its own credentials. */
const freshProvider = () => `prov-${++providers}`;

/** A client of tenant A acting with a new token of the given kind and project scope. */
async function tokenClient(t: TestTenant, kind: TokenKind, projects: string[] = []): Promise<CloudClient> {
  return clientOf(srv, (await t.token({ kind, projects })).secret);
}

const getByName = (client: CloudClient, name: CredentialName) =>
  client.credentials.getCredential({ project: name.project ?? "", provider: name.provider, alias: name.alias ?? "" });

/** Every credential of a listing, following next_page_token. */
async function listAll(
  client: CloudClient,
  filter: { project?: string; provider?: string },
  pageSize = 0,
): Promise<Credential[]> {
  const all: Credential[] = [];
  let pageToken = "";
  do {
    const page = await client.credentials.listCredentials({ ...filter, pageSize, pageToken });
    all.push(...page.credentials);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

describe("PutCredential", () => {
  it("creates version 1 and returns the secrets", async () => {
    const secret = uniqueSecret();
    const created = await putApiKey(tenant.admin, { project: "p1", provider: freshProvider() }, secret);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect([created.version, created.alias, created.type]).toEqual([1n, "default", CredentialType.API_KEY]);
    expect(created.keys.api_key.value).toBe(secret);
    expect(created.revision).toBeGreaterThan(0n);
  });

  it("replaces it as version 2, same id, at a higher revision", async () => {
    const name = { project: "p1", provider: freshProvider() };
    const v1 = await putApiKey(tenant.admin, name, uniqueSecret());
    const secret = uniqueSecret();
    const v2 = await putApiKey(tenant.admin, name, secret);
    expect([v2.id, v2.version]).toEqual([v1.id, 2n]);
    expect(v2.revision).toBeGreaterThan(v1.revision);
    expect((await getByName(tenant.admin, name)).credential!.keys.api_key.value).toBe(secret);
  });

  it("refuses a stale expected_version with ABORTED VERSION_CONFLICT and writes nothing", async () => {
    const name = { project: "p1", provider: freshProvider() };
    const secret = uniqueSecret();
    const v1 = await putApiKey(tenant.admin, name, secret);
    const err = await failureOf(putApiKey(tenant.admin, name, uniqueSecret(), { expectedVersion: 7n }));
    expect([err.codeName, err.reason]).toEqual(["aborted", "VERSION_CONFLICT"]);
    const stored = (await getByName(tenant.admin, name)).credential!;
    expect([stored.version, stored.revision, stored.keys.api_key.value]).toEqual([1n, v1.revision, secret]);
  });

  it("refuses expected_version 0 (create only) when the credential exists", async () => {
    const name = { project: "p1", provider: freshProvider() };
    const secret = uniqueSecret();
    await putApiKey(tenant.admin, name, secret);
    const err = await failureOf(putApiKey(tenant.admin, name, uniqueSecret(), { expectedVersion: 0n }));
    expect([err.codeName, err.reason]).toEqual(["aborted", "VERSION_CONFLICT"]);
    expect((await getByName(tenant.admin, name)).credential!.keys.api_key.value).toBe(secret);
  });

  it("writes when expected_version is the stored version", async () => {
    const name = { project: "p1", provider: freshProvider() };
    const v1 = await putApiKey(tenant.admin, name, uniqueSecret(), { expectedVersion: 0n });
    const v2 = await putApiKey(tenant.admin, name, uniqueSecret(), { expectedVersion: v1.version });
    expect(v2.version).toBe(2n);
  });
});

describe("GetCredential", () => {
  it("returns a credential by id, secrets included", async () => {
    const secret = uniqueSecret();
    const created = await putApiKey(tenant.admin, { project: "p1", provider: freshProvider() }, secret, {
      identity: { email: "ops@acme.example" },
    });
    const { credential } = await tenant.admin.credentials.getCredential({ id: created.id });
    expect(credential!.keys.api_key.value).toBe(secret);
    expect(credential!.identity).toEqual({ email: "ops@acme.example" });
  });

  it("returns a credential by provider and alias, in its project or tenant-wide", async () => {
    const provider = freshProvider();
    const secrets = { p1: uniqueSecret(), p2: uniqueSecret(), wide: uniqueSecret() };
    await putApiKey(tenant.admin, { project: "p1", provider, alias: "work" }, secrets.p1);
    await putApiKey(tenant.admin, { project: "p2", provider, alias: "work" }, secrets.p2);
    await putApiKey(tenant.admin, { provider, alias: "work" }, secrets.wide);
    const valueIn = async (project: string) =>
      (await getByName(tenant.admin, { project, provider, alias: "work" })).credential!.keys.api_key.value;
    expect([await valueIn("p1"), await valueIn("p2"), await valueIn("")]).toEqual([secrets.p1, secrets.p2, secrets.wide]);
  });

  it('finds alias "default" when the alias is left empty', async () => {
    const provider = freshProvider();
    const created = await putApiKey(tenant.admin, { project: "p1", provider }, uniqueSecret());
    const { credential } = await getByName(tenant.admin, { project: "p1", provider, alias: "default" });
    expect(credential!.id).toBe(created.id);
  });
});

describe("ListCredentials", () => {
  it("never carries a secret value, but names the keys", async () => {
    const provider = freshProvider();
    const secret = uniqueSecret();
    await putApiKey(tenant.admin, { project: "p1", provider }, secret, {
      keys: { access_token: { value: secret }, refresh_token: { value: `${secret}-refresh` } },
      type: CredentialType.OAUTH2,
    });
    const listed = await tenant.admin.credentials.listCredentials({ provider });
    expect(listed.credentials).toHaveLength(1);
    expect(Object.keys(listed.credentials[0].keys).sort()).toEqual(["access_token", "refresh_token"]);
    expect(jsonText(listed)).not.toContain(secret);
  });

  it("lists a project's own and the tenant-wide credentials, not other projects'", async () => {
    const provider = freshProvider();
    const own = await putApiKey(tenant.admin, { project: "p1", provider }, uniqueSecret());
    const wide = await putApiKey(tenant.admin, { provider }, uniqueSecret());
    await putApiKey(tenant.admin, { project: "p2", provider }, uniqueSecret());
    const listed = await listAll(tenant.admin, { project: "p1", provider });
    expect(listed.map((c) => c.id).sort()).toEqual([own.id, wide.id].sort());
  });

  it("filters by provider", async () => {
    const [wanted, unwanted] = [freshProvider(), freshProvider()];
    const a = await putApiKey(tenant.admin, { project: "p1", provider: wanted }, uniqueSecret());
    const b = await putApiKey(tenant.admin, { project: "p2", provider: wanted, alias: "second" }, uniqueSecret());
    await putApiKey(tenant.admin, { project: "p1", provider: unwanted }, uniqueSecret());
    const listed = await listAll(tenant.admin, { provider: wanted });
    expect(listed.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
  });

  it("pages through without repeats or gaps", async () => {
    const provider = freshProvider();
    const ids: string[] = [];
    for (const [project, alias] of [
      ["p1", "a"],
      ["p1", "b"],
      ["p2", "a"],
      ["", "a"],
      ["", "c"],
    ]) {
      ids.push((await putApiKey(tenant.admin, { project, provider, alias }, uniqueSecret())).id);
    }
    const first = await tenant.admin.credentials.listCredentials({ provider, pageSize: 2 });
    expect(first.credentials).toHaveLength(2);
    expect(first.nextPageToken).not.toBe("");
    const paged = await listAll(tenant.admin, { provider }, 2);
    expect(paged.map((c) => c.id).sort()).toEqual([...ids].sort());
    expect(paged.map((c) => c.id)).toEqual((await listAll(tenant.admin, { provider }, 1000)).map((c) => c.id));
  });
});

describe("DeleteCredential", () => {
  it("makes the credential NOT_FOUND with CREDENTIAL_NOT_FOUND", async () => {
    const created = await putApiKey(tenant.admin, { project: "p1", provider: freshProvider() }, uniqueSecret());
    await tenant.admin.credentials.deleteCredential({ id: created.id });
    const err = await failureOf(tenant.admin.credentials.getCredential({ id: created.id }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "CREDENTIAL_NOT_FOUND"]);
  });

  it("leaves a tombstone that Pull reports after the previous revision", async () => {
    const created = await putApiKey(tenant.admin, { project: "p1", provider: freshProvider(), alias: "gone" }, uniqueSecret());
    const { revision } = await tenant.admin.credentials.deleteCredential({ id: created.id });
    expect(revision).toBeGreaterThan(created.revision);
    const pulled = await tenant.admin.sync.pull({ project: "p1", sinceRevision: created.revision });
    const tombstone = pulled.events.find((e) => e.event.case === "delete" && e.event.value.id === created.id);
    expect(tombstone?.revision).toBe(revision);
    expect(tombstone?.event.value).toMatchObject({ provider: created.provider, alias: "gone", project: "p1" });
    expect(pulled.events.some((e) => e.event.case === "upsert" && e.event.value.id === created.id)).toBe(false);
  });
});

describe("input limits", () => {
  const tooManyKeys = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, { value: "v" }]));
  const seventeenIdentities = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`id${i}`, "x"]));
  const sixteenKiBAndOne = "x".repeat(16 * 1024 + 1);
  // Each value within its own limit, together over the 64 KiB a credential may seal.
  const fiveLargeKeys = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, { value: "x".repeat(15 * 1024) }]));

  it.each([
    { what: "more than 32 keys", field: "keys", change: { keys: tooManyKeys } },
    {
      what: "a key value over 16 KiB",
      field: 'keys["api_key"].value',
      change: { keys: { api_key: { value: sixteenKiBAndOne } } },
    },
    { what: "key values over 64 KiB together", field: "keys", change: { keys: fiveLargeKeys } },
    { what: "17 identity entries", field: "identity", change: { identity: seventeenIdentities } },
  ])("refuses $what with INVALID_ARGUMENT naming the field, and writes nothing", async ({ field, change }) => {
    const provider = freshProvider();
    const request = apiKeyRequest({ project: "p1", provider }, uniqueSecret(), change);
    const err = await failureOf(tenant.admin.credentials.putCredential(request));
    expect([err.codeName, err.reason, err.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", field]);
    expect(await listAll(tenant.admin, { provider })).toEqual([]);
  });

  it("refuses a provider name outside [a-z0-9_-] with INVALID_ARGUMENT naming provider, and writes nothing", async () => {
    const before = await listAll(tenant.admin, {});
    const err = await failureOf(putApiKey(tenant.admin, { project: "p1", provider: "Bad Provider!" }, uniqueSecret()));
    expect([err.codeName, err.reason, err.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "provider"]);
    expect((await listAll(tenant.admin, {})).map((c) => c.id)).toEqual(before.map((c) => c.id));
  });
});

describe("tokens limited to projects", () => {
  it("cannot read another project's credential: PERMISSION_DENIED PROJECT_NOT_IN_TOKEN_SCOPE", async () => {
    const secret = uniqueSecret();
    const p2 = await putApiKey(tenant.admin, { project: "p2", provider: freshProvider() }, secret);
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME, ["p1"]);
    const err = await failureOf(runtime.credentials.getCredential({ id: p2.id }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PROJECT_NOT_IN_TOKEN_SCOPE"]);
    expect(jsonText(err)).not.toContain(secret);
  });

  it("reads tenant-wide credentials", async () => {
    const secret = uniqueSecret();
    const wide = await putApiKey(tenant.admin, { provider: freshProvider() }, secret);
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME, ["p1"]);
    expect((await runtime.credentials.getCredential({ id: wide.id })).credential!.keys.api_key.value).toBe(secret);
  });

  it("cannot write a tenant-wide credential", async () => {
    const provider = freshProvider();
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME, ["p1"]);
    const err = await failureOf(putApiKey(runtime, { provider }, uniqueSecret()));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PROJECT_NOT_IN_TOKEN_SCOPE"]);
    expect(await listAll(tenant.admin, { provider })).toEqual([]);
  });

  it("lists only its projects' and the tenant-wide credentials", async () => {
    const provider = freshProvider();
    const own = await putApiKey(tenant.admin, { project: "p1", provider }, uniqueSecret());
    const wide = await putApiKey(tenant.admin, { provider }, uniqueSecret());
    await putApiKey(tenant.admin, { project: "p2", provider }, uniqueSecret());
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME, ["p1"]);
    expect((await listAll(runtime, { provider })).map((c) => c.id).sort()).toEqual([own.id, wide.id].sort());
  });
});

describe("runtime tokens and the project policy", () => {
  it("cannot read a credential of a denied project: PERMISSION_DENIED PROJECT_DENIED", async () => {
    const secret = uniqueSecret();
    const denied = await putApiKey(tenant.admin, { project: "p3", provider: freshProvider() }, secret);
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME);
    const err = await failureOf(runtime.credentials.getCredential({ id: denied.id }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PROJECT_DENIED"]);
    expect(jsonText(err)).not.toContain(secret);
  });

  /** Credentials of one fresh provider in an allowed (p1), a denied (p3) and an unknown project (p9), and tenant-wide. */
  async function acrossThePolicy() {
    const provider = freshProvider();
    const put = (project: string) => putApiKey(tenant.admin, { project, provider }, uniqueSecret());
    return { provider, allowed: await put("p1"), denied: await put("p3"), unknown: await put("p9"), wide: await put("") };
  }

  it("lists, unfiltered, only what it may sync: no credential of a denied or unknown project", async () => {
    const c = await acrossThePolicy();
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME);
    const listed = await listAll(runtime, { provider: c.provider }, 1);
    expect(listed.map((x) => x.id).sort()).toEqual([c.allowed.id, c.wide.id].sort());
    expect(jsonText(listed)).not.toMatch(/"p3"|"p9"/);
  });

  it("lists no credential of a denied project even when its token is limited to that project", async () => {
    const c = await acrossThePolicy();
    const runtime = await tokenClient(tenant, TokenKind.RUNTIME, ["p1", "p3"]);
    expect((await listAll(runtime, { provider: c.provider })).map((x) => x.id).sort()).toEqual([c.allowed.id, c.wide.id].sort());
  });

  it("leaves administrators' listings whole: every project's credentials", async () => {
    const c = await acrossThePolicy();
    const listed = await listAll(tenant.admin, { provider: c.provider });
    expect(listed).toHaveLength(4);
  });
});

describe("tenant isolation", () => {
  /** A's credential, with a secret and identity that must never reach tenant B. */
  async function credentialOfA(): Promise<{ credential: Credential; secret: string; leaks: string[] }> {
    const secret = uniqueSecret();
    const email = `${uniqueSecret()}@a.example`;
    const credential = await putApiKey(tenant.admin, { project: "p1", provider: freshProvider() }, secret, {
      identity: { email },
    });
    return { credential, secret, leaks: [secret, email] };
  }

  /** The clients tenant B has: its administrator and a runtime token of its project p1. */
  const clientsOfB = async () => ({
    admin: await tokenClient(other, TokenKind.TENANT_ADMIN),
    runtime: await tokenClient(other, TokenKind.RUNTIME),
  });

  const expectNoLeak = (what: unknown, leaks: string[]) => {
    for (const value of leaks) expect(jsonText(what)).not.toContain(value);
  };

  it.each(["admin", "runtime"] as const)("does not let tenant B's %s get A's credential by id", async (who) => {
    const a = await credentialOfA();
    const err = await failureOf((await clientsOfB())[who].credentials.getCredential({ id: a.credential.id }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "CREDENTIAL_NOT_FOUND"]);
    expectNoLeak(err, a.leaks);
  });

  it.each(["admin", "runtime"] as const)("does not let tenant B's %s get A's credential by name", async (who) => {
    const a = await credentialOfA();
    const err = await failureOf(getByName((await clientsOfB())[who], a.credential));
    expect([err.codeName, err.reason]).toEqual(["not_found", "CREDENTIAL_NOT_FOUND"]);
    expectNoLeak(err, [...a.leaks, a.credential.id]);
  });

  it.each(["admin", "runtime"] as const)("does not show A's credentials in a listing of tenant B's %s", async (who) => {
    const a = await credentialOfA();
    const client = (await clientsOfB())[who];
    const listings = [await listAll(client, {}), await listAll(client, { project: "p1", provider: a.credential.provider })];
    expect(listings[1]).toEqual([]);
    expectNoLeak(listings, [...a.leaks, a.credential.id]);
  });

  it.each(["admin", "runtime"] as const)("does not let tenant B's %s delete A's credential", async (who) => {
    const a = await credentialOfA();
    const err = await failureOf((await clientsOfB())[who].credentials.deleteCredential({ id: a.credential.id }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "CREDENTIAL_NOT_FOUND"]);
    expectNoLeak(err, a.leaks);
    expect((await tenant.admin.credentials.getCredential({ id: a.credential.id })).credential!.keys.api_key.value).toBe(a.secret);
  });

  it("refuses tenant B's admin naming tenant A in the tenant header, without saying anything of A", async () => {
    const a = await credentialOfA();
    const { secret } = await other.token({ kind: TokenKind.TENANT_ADMIN });
    const intruder = clientOf(srv, secret, { tenant: tenant.slug });
    for (const call of [intruder.credentials.getCredential({ id: a.credential.id }), intruder.credentials.listCredentials({})]) {
      const err = await failureOf(call);
      expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
      expectNoLeak(err, [...a.leaks, a.credential.provider]);
    }
  });
});
