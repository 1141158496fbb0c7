import { create } from "@bufbuild/protobuf";
import { ErrorReason, LogoutResponseSchema, reasonOf } from "@engine-cloud/api";
import { Code, describeCloudError } from "@engine-cloud/sdk";
import { defineCommand } from "../framework/command.js";
import { deleteSessionFile, readSessionFile, SessionFileUnreadable, sessionFilePath } from "../sign-in/session-file.js";
import { storedSessionClient } from "../sign-in/stored-session.js";

export const logoutCommand = defineCommand({
  name: "logout",
  summary: "End the session of 'login' on the server and remove it from this machine",
  async run(ctx) {
    const loggedOut = create(LogoutResponseSchema, {});
    let session;
    try {
      session = readSessionFile(ctx.configDir);
    } catch (err) {
      // Logging out is how a person clears a damaged file; there is no session in it to end.
      if (!(err instanceof SessionFileUnreadable)) throw err;
      await deleteSessionFile(ctx.configDir);
      ctx.out.result(LogoutResponseSchema, loggedOut, () => `Removed the unreadable ${err.file}.`);
      return;
    }
    if (!session) throw new Error(`not logged in (no ${sessionFilePath(ctx.configDir)}); nothing to do`);

    let failure: unknown;
    try {
      await storedSessionClient(ctx, session).auth.logout({});
    } catch (err) {
      if (!sessionAlreadyEnded(err)) failure = err;
    }
    // The file goes whatever the server said: a person who logs out must not stay logged in on this machine.
    await deleteSessionFile(ctx.configDir);
    if (failure) {
      ctx.out.note(`Removed the session from this machine, but could not end it on ${session.server}:`);
      throw failure;
    }
    ctx.out.result(LogoutResponseSchema, loggedOut, () => `Logged out of ${session.server} (${session.email}).`);
  },
});

/** The server no longer takes the session (revoked, expired, membership removed…): it has ended already. */
function sessionAlreadyEnded(err: unknown): boolean {
  const details = describeCloudError(err);
  return details.code === Code.Unauthenticated || reasonOf(details.reason) === ErrorReason.MEMBERSHIP_REMOVED;
}
