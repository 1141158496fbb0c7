import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Session, WhoAmIResponse } from "@engine-cloud/api";
import type { CommandContext } from "../framework/command.js";
import { programName } from "../framework/help.js";
import { readSessionFile, sessionFilePath, writeSessionFile, type StoredSession } from "./session-file.js";

/** A session the server just opened (Login, SwitchTenant): its token is shown once, to us. */
export interface OpenedSession {
  sessionToken: string;
  session?: Session;
}

/**
 * Keeps a newly opened session as the stored one, and returns who it is. The server's answer names the tenant
 * by id only, so WhoAmI, asked with the new token, supplies the slug and the role to show.
 */
export async function storeSession(ctx: CommandContext, server: string, opened: OpenedSession): Promise<WhoAmIResponse> {
  const me = await ctx.clientWith({ server, token: opened.sessionToken }).auth.whoAmI({});
  await writeSessionFile(ctx.configDir, {
    server,
    session_token: opened.sessionToken,
    tenant_slug: me.tenantSlug,
    email: me.displayName,
    user_id: me.principalId,
    expires_at: opened.session?.expiresAt ? timestampDate(opened.session.expiresAt).toISOString() : "",
  });
  ctx.out.note(`Session saved to ${sessionFilePath(ctx.configDir)}.`);
  return me;
}

/** The session of `engine-cloud login`, for the commands that act on it alone (logout, tenant switch). */
export function requireStoredSession(ctx: CommandContext): StoredSession {
  const session = readSessionFile(ctx.configDir);
  if (!session) throw new Error(`not logged in (no ${sessionFilePath(ctx.configDir)}); run '${programName} login'`);
  return session;
}

/** A client for the stored session's own server, whatever --server says: a session belongs to one server. */
export function storedSessionClient(ctx: CommandContext, session: StoredSession) {
  return ctx.clientWith({ server: session.server, token: session.session_token });
}

/** "ann@acme.com, owner of acme": who a session is, in one phrase. */
export function describeSignedIn(me: WhoAmIResponse): string {
  return `${me.displayName}, ${me.role || "member"} of ${me.tenantSlug}`;
}
