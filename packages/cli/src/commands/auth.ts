import {
  ChangePasswordResponseSchema,
  ListSessionsResponseSchema,
  RevokeSessionResponseSchema,
  type Session,
} from "@engine-cloud/api";
import { askPasswords, passwordStdinOption } from "../sign-in/ask.js";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { programName } from "../framework/help.js";
import { formatRelative, formatTable } from "../framework/output.js";

const sessions = defineCommand({
  name: "sessions",
  summary: "List your open sessions, newest first; the one making the call is marked current",
  async run(ctx) {
    const res = await ctx.client().auth.listSessions({});
    ctx.out.result(ListSessionsResponseSchema, res, () =>
      formatTable(
        ["id", "current", "tenant", "prefix", "created", "last used", "ends"],
        res.sessions.map((s) => [
          s.id,
          s.current ? "yes" : "no",
          s.tenantId,
          s.displayPrefix,
          formatRelative(s.createdAt, ctx.now),
          formatRelative(s.lastUsedAt, ctx.now, "never"),
          formatRelative(sessionEnd(s), ctx.now),
        ]),
      ),
    );
  },
});

const revokeSession = defineCommand({
  name: "revoke-session",
  summary: "End one of your sessions, e.g. on a lost laptop",
  args: ["id"],
  async run(ctx, [id]) {
    const res = await ctx.client().auth.revokeSession({ id });
    ctx.out.result(RevokeSessionResponseSchema, res, () => `Ended session ${id}.`);
  },
});

const changePassword = defineCommand({
  name: "change-password",
  summary: "Change your password; your other sessions end",
  options: { "password-stdin": passwordStdinOption("the current password, then the new one, one per line") },
  async run(ctx, _args, options) {
    const [currentPassword, newPassword] = await askPasswords(ctx, options["password-stdin"], [
      { prompt: "Current password: " },
      { prompt: "New password (12 or more characters): ", isNew: true },
    ]);
    const res = await ctx.client().auth.changePassword({ currentPassword, newPassword });
    ctx.out.result(
      ChangePasswordResponseSchema,
      res,
      () => `Password changed. Your other sessions have ended; sign them in again with: ${programName} login`,
    );
  },
});

export const authCommands: CommandGroup = {
  name: "auth",
  summary: "Your sessions and password (sign in and out with login and logout)",
  commands: [sessions, revokeSession, changePassword],
};

/** When a session ends if unused: the idle limit, unless the absolute one comes first. */
function sessionEnd(session: Session) {
  const { idleExpiresAt: idle, expiresAt: absolute } = session;
  if (!idle || !absolute) return idle ?? absolute;
  return idle.seconds <= absolute.seconds ? idle : absolute;
}
