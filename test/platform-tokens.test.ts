import { randomUUID } from "node:crypto";
import { Role, TokenKind } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { addPerson, FAST_PASSWORD_HASH } from "./support/test-people.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let srv: TestServer;
/** The seeded platform admin token's id. */
let platformTokenId: string;
/** The administrators of the operator tenant ("default") who are not platform administrators. */
const TOKEN_ADMIN = "a tenant admin token of default";
const PERSON_ADMIN = "a person with the admin role in default";
const defaultAdmins = new Map<string, CloudClient>();

beforeAll(async () => {
  srv = await startTestServer({ env: FAST_PASSWORD_HASH });
  platformTokenId = (await srv.admin().auth.whoAmI({})).principalId;
  const { secret } = await srv.admin().tokens.createToken({ label: "default-admin", kind: TokenKind.TENANT_ADMIN });
  defaultAdmins.set(TOKEN_ADMIN, srv.client(secret));
  defaultAdmins.set(PERSON_ADMIN, (await addPerson(srv, srv.admin(), Role.ADMIN)).client);
});
afterAll(() => srv?.stop());

/** What the server answers for a token id that does not exist: the bar a platform token must meet. */
const unknownTokenAnswer = async (call: (id: string) => Promise<unknown>) => {
  const err = await failureOf(call(randomUUID()));
  return [err.codeName, err.reason];
};

describe("platform admin tokens, to administrators of the operator tenant", () => {
  it.each([TOKEN_ADMIN, PERSON_ADMIN])("are absent from ListTokens, inactive ones included, for %s", async (who) => {
    const client = defaultAdmins.get(who)!;
    const { tokens } = await client.tokens.listTokens({ showInactive: true, pageSize: 1000 });
    expect(tokens.length).toBeGreaterThan(0); // the tenant admin token itself is listed
    expect(tokens.filter((t) => t.kind === TokenKind.PLATFORM_ADMIN)).toEqual([]);
    expect(tokens.map((t) => t.id)).not.toContain(platformTokenId);
  });

  it.each([TOKEN_ADMIN, PERSON_ADMIN])("are NOT_FOUND to GetToken, as an unknown id is, for %s", async (who) => {
    const client = defaultAdmins.get(who)!;
    const err = await failureOf(client.tokens.getToken({ id: platformTokenId }));
    expect([err.codeName, err.reason]).toEqual(await unknownTokenAnswer((id) => client.tokens.getToken({ id })));
    expect([err.codeName, err.reason]).toEqual(["not_found", "TOKEN_NOT_FOUND"]);
  });

  it.each([TOKEN_ADMIN, PERSON_ADMIN])(
    "cannot be revoked by %s: NOT_FOUND as an unknown id, and the platform token keeps working",
    async (who) => {
      const client = defaultAdmins.get(who)!;
      const err = await failureOf(client.tokens.revokeToken({ id: platformTokenId }));
      expect([err.codeName, err.reason]).toEqual(await unknownTokenAnswer((id) => client.tokens.revokeToken({ id })));
      expect([err.codeName, err.reason]).toEqual(["not_found", "TOKEN_NOT_FOUND"]);
      expect((await srv.admin().auth.whoAmI({})).platformAdmin).toBe(true);
      expect((await srv.admin().tokens.getToken({ id: platformTokenId })).token!.revokedAt).toBeUndefined();
    },
  );

  it("cannot be named in CheckProject either", async () => {
    const client = defaultAdmins.get(TOKEN_ADMIN)!;
    const err = await failureOf(client.projects.checkProject({ name: "web", tokenId: platformTokenId }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "TOKEN_NOT_FOUND"]);
  });

  it("cannot be used as a page cursor to learn that a platform token id exists", async () => {
    const client = defaultAdmins.get(TOKEN_ADMIN)!;
    const { token } = await srv.admin().tokens.createToken({ label: "cursor", kind: TokenKind.PLATFORM_ADMIN });
    // The newest token, so the platform admin's first page of one ends at it.
    const first = await srv.admin().tokens.listTokens({ pageSize: 1 });
    expect(first.tokens.map((t) => t.id)).toEqual([token!.id]);
    // Tokens older than it that this admin may see exist (its own), yet a cursor at a platform token finds nothing.
    const page = await client.tokens.listTokens({ pageSize: 1000, pageToken: first.nextPageToken });
    expect(page.tokens).toEqual([]);
  });

  it("cannot be created", async () => {
    for (const client of defaultAdmins.values()) {
      const err = await failureOf(client.tokens.createToken({ label: "up", kind: TokenKind.PLATFORM_ADMIN }));
      expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
    }
  });
});

describe("platform admin tokens, to platform administrators", () => {
  it("are listed, read and revoked as before", async () => {
    const { token, secret } = await srv.admin().tokens.createToken({ label: "second-platform", kind: TokenKind.PLATFORM_ADMIN });
    const listed = await srv.admin().tokens.listTokens({ pageSize: 1000 });
    expect(listed.tokens.map((t) => t.id)).toEqual(expect.arrayContaining([token!.id, platformTokenId]));
    expect((await srv.admin().tokens.getToken({ id: token!.id })).token!.kind).toBe(TokenKind.PLATFORM_ADMIN);
    await srv.admin().tokens.revokeToken({ id: token!.id });
    expect((await failureOf(srv.client(secret).auth.whoAmI({}))).reason).toBe("TOKEN_REVOKED");
  });
});
