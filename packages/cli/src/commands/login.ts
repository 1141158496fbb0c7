import { WhoAmIResponseSchema } from "@engine-cloud/api";
import { askPasswords, flagOrAsk, passwordStdinOption } from "../sign-in/ask.js";
import { defineCommand, type CommandContext } from "../framework/command.js";
import { readSessionFile, type StoredSession } from "../sign-in/session-file.js";
import { describeSignedIn, storedSessionClient, storeSession } from "../sign-in/stored-session.js";

/** How long ending a replaced session may take; it is a courtesy, and the old server may be gone. */
const END_REPLACED_SESSION_TIMEOUT_MS = 5_000;

export const loginCommand = defineCommand({
  name: "login",
  summary: "Sign in as a person; the session is kept for later commands",
  options: {
    email: { type: "string", placeholder: "<email>", description: "Your email (default: asked)" },
    // Declared here, over the global flag, so help says what it means here; ENGINE_CLOUD_TENANT, often set
    // for administrator work, does not pick the tenant a person signs in to.
    tenant: {
      type: "string",
      placeholder: "<slug>",
      description: "The tenant to sign in to (default: your only one, or the one you joined first)",
    },
    "password-stdin": passwordStdinOption("the password (first line)"),
  },
  async run(ctx, _args, options) {
    // Flags first, so a script that forgot --email fails before it has fed its password to a prompt.
    const email = await flagOrAsk(ctx, options.email, "email", "Email: ");
    const [password] = await askPasswords(ctx, options["password-stdin"], [{ prompt: "Password: " }]);
    const server = ctx.globals.serverUrl;
    const opened = await ctx.clientWith({}).auth.login({ email, password, tenant: options.tenant ?? "" });
    const replaced = readReplacedSession(ctx);
    const me = await storeSession(ctx, server, opened);
    if (replaced) await endReplacedSession(ctx, replaced);
    ctx.out.result(WhoAmIResponseSchema, me, () => `Logged in to ${server} as ${describeSignedIn(me)}.`);
  },
});

/** The session this login replaces, if one is stored and readable; an unreadable one is simply overwritten. */
function readReplacedSession(ctx: CommandContext): StoredSession | undefined {
  try {
    return readSessionFile(ctx.configDir);
  } catch {
    return undefined;
  }
}

/** Ends the replaced session on its server, so its token is not left valid with nobody holding it. */
async function endReplacedSession(ctx: CommandContext, session: StoredSession): Promise<void> {
  try {
    await storedSessionClient(ctx, session).auth.logout({}, { timeoutMs: END_REPLACED_SESSION_TIMEOUT_MS });
  } catch {
    // Already ended, or its server is unreachable: then nobody holds its token any more, and it lapses when idle.
  }
}
