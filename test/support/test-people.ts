import { randomBytes } from "node:crypto";
import { Role } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { createCloudClient } from "@engine-cloud/sdk/node";

/**
 * scrypt at its lowest allowed cost (2^14), so suites that sign many people in
 * stay fast. Pass it in every test server's env.
 */
export const FAST_PASSWORD_HASH = { ENGINE_CLOUD_PASSWORD_HASH_LOG_N: "14" } as const;

/** A password no other test uses, so finding it anywhere is a leak of this very password. */
export function uniquePassword(): string {
  return `pw-${randomBytes(12).toString("hex")}`;
}

/** An email no other test uses. */
export function uniqueEmail(hint = "person"): string {
  return `${hint}-${randomBytes(4).toString("hex")}@example.com`;
}

export interface SignedIn {
  /** The session token (ecu_…), shown once by Login. */
  token: string;
  sessionId: string;
  client: CloudClient;
}

export interface TestPerson extends SignedIn {
  userId: string;
  email: string;
  password: string;
  displayName: string;
  /** The invitation code that brought them in (used by now). */
  invitationCode: string;
}

/** Signs a person in through Login, optionally to a named tenant. */
export async function signIn(server: { url: string }, email: string, password: string, tenant = ""): Promise<SignedIn> {
  const { sessionToken, session } = await createCloudClient({ baseUrl: server.url }).auth.login({ email, password, tenant });
  return { token: sessionToken, sessionId: session!.id, client: createCloudClient({ baseUrl: server.url, token: sessionToken }) };
}

/**
 * A new person in a tenant, the whole way a real one arrives: `inviter` (a
 * client allowed to invite in that tenant) invites them with `role`, they
 * accept with a new password, and sign in. `signInVia` lets the sign-in go to
 * another server process on the same database.
 */
export async function addPerson(
  server: { url: string },
  inviter: CloudClient,
  role: Role,
  options: { email?: string; password?: string; displayName?: string; signInVia?: { url: string } } = {},
): Promise<TestPerson> {
  const email = options.email ?? uniqueEmail(Role[role].toLowerCase());
  const password = options.password ?? uniquePassword();
  const displayName = options.displayName ?? `Person ${randomBytes(3).toString("hex")}`;
  const { invitationCode } = await inviter.users.inviteUser({ email, role });
  const { member, tenantSlug } = await createCloudClient({ baseUrl: server.url }).users.acceptInvitation({
    invitationCode,
    displayName,
    password,
  });
  const session = await signIn(options.signInVia ?? server, email, password, tenantSlug);
  return { ...session, userId: member!.userId, email, password, displayName, invitationCode };
}
