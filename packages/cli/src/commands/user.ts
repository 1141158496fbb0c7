import { create } from "@bufbuild/protobuf";
import {
  AcceptInvitationResponseSchema,
  DisableUserResponseSchema,
  InvitationDelivery,
  InvitationStateSchema,
  InviteUserResponseSchema,
  ListInvitationsResponseSchema,
  ListMembersResponseSchema,
  RemoveMemberResponseSchema,
  RevokeInvitationResponseSchema,
  RoleSchema,
  SetMemberRoleResponseSchema,
  type Member,
  type Role,
} from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { askPasswords, passwordStdinOption } from "../sign-in/ask.js";
import { defineCommand, type CommandContext, type CommandGroup } from "../framework/command.js";
import { enumLabel, enumLabels, parseEnumLabel } from "../parse/enum-label.js";
import { programName } from "../framework/help.js";
import { formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";
import { UsageError } from "../framework/usage-error.js";

const memberArg = "user-id|email";

const invite = defineCommand({
  name: "invite",
  summary: "Invite a person to the tenant and print their one-time invitation code, once",
  args: ["email"],
  options: {
    role: {
      type: "string",
      required: true,
      placeholder: "<role>",
      description: `Their role: ${enumLabels(RoleSchema).join(", ")} (only an owner may invite an owner)`,
    },
  },
  async run(ctx, [email], options) {
    const role = parseRole(options.role, "--role");
    const res = await ctx.client().users.inviteUser({ email, role });
    if (res.delivery === InvitationDelivery.EMAILED) {
      // Only the invited mailbox holds the code: nothing to pass on.
      ctx.out.note(`Invited ${email} as ${options.role}; the server mailed them the link to accept.`);
      ctx.out.result(InviteUserResponseSchema, res, () => `emailed to ${email}`);
      return;
    }
    ctx.out.note(
      `Invited ${email} as ${options.role}; the code works once` +
        (res.expiresAt ? ` and expires ${formatRelative(res.expiresAt, ctx.now)}` : "") +
        `. They join with: ${programName} user accept <code>`,
    );
    ctx.out.note("warning: this is the only time the code is shown; pass it on now, it cannot be shown again.");
    // The code alone on stdout, so `engine-cloud user invite ... > file` keeps it and nothing else.
    ctx.out.result(InviteUserResponseSchema, res, () => res.invitationCode);
  },
});

const accept = defineCommand({
  name: "accept",
  summary: "Accept an invitation: creates your account if you have none (needs no credential)",
  args: ["code"],
  options: {
    name: {
      type: "string",
      placeholder: "<name>",
      description: "Your display name, for a new account (default: asked; not needed if you have an account)",
    },
    "password-stdin": passwordStdinOption("the password (first line): a new one, or your account's"),
  },
  async run(ctx, [invitationCode], options) {
    const displayName = await displayNameForAccept(ctx, options.name, options["password-stdin"]);
    // A name means a new account, whose password is new and so typed twice on a terminal.
    const [password] = await askPasswords(ctx, options["password-stdin"], [
      displayName
        ? { prompt: "Choose a password (12 or more characters): ", isNew: true }
        : { prompt: "Your account's password: " },
    ]);
    const res = await ctx.clientWith({}).users.acceptInvitation({ invitationCode, displayName, password });
    const member = res.member;
    ctx.out.result(AcceptInvitationResponseSchema, res, () =>
      member
        ? `Joined ${res.tenantSlug} as ${enumLabel(RoleSchema, member.role)} (${member.email}). ` +
          `Sign in with: ${programName} login --email ${member.email} --tenant ${res.tenantSlug}`
        : `Joined ${res.tenantSlug}.`,
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List the tenant's members, by email",
  async run(ctx) {
    const members = await listMembers(ctx.client());
    ctx.out.result(ListMembersResponseSchema, create(ListMembersResponseSchema, { members }), () =>
      members.length === 0
        ? "No members."
        : formatTable(
            ["user id", "email", "name", "role", "status", "joined", "last login"],
            members.map((m) => [
              m.userId,
              m.email,
              m.displayName,
              enumLabel(RoleSchema, m.role),
              m.disabled ? "disabled" : "active",
              formatRelative(m.createdAt, ctx.now),
              formatRelative(m.lastLoginAt, ctx.now, "never"),
            ]),
          ),
    );
  },
});

const invitations = defineCommand({
  name: "invitations",
  summary: "List the tenant's open invitations, newest first (never their codes)",
  options: { all: { type: "boolean", description: "Include accepted, revoked and expired invitations" } },
  async run(ctx, _args, options) {
    const found = await collectPages(async (pageToken) => {
      const res = await ctx.client().users.listInvitations({ pageToken, showInactive: options.all });
      return { items: res.invitations, nextPageToken: res.nextPageToken };
    });
    ctx.out.result(ListInvitationsResponseSchema, create(ListInvitationsResponseSchema, { invitations: found }), () =>
      found.length === 0
        ? options.all
          ? "No invitations."
          : "No open invitations."
        : formatTable(
            ["id", "email", "role", "state", "invited by", "created", "expires"],
            found.map((i) => [
              i.id,
              i.email,
              enumLabel(RoleSchema, i.role),
              enumLabel(InvitationStateSchema, i.state),
              i.createdBy,
              formatRelative(i.createdAt, ctx.now),
              formatRelative(i.expiresAt, ctx.now),
            ]),
          ),
    );
  },
});

const revokeInvitation = defineCommand({
  name: "revoke-invitation",
  summary: "Revoke an invitation: its code stops working at once",
  args: ["invitation-id"],
  async run(ctx, [id]) {
    const res = await ctx.client().users.revokeInvitation({ id });
    ctx.out.result(RevokeInvitationResponseSchema, res, () => `Revoked the invitation of ${res.invitation?.email ?? id}.`);
  },
});

const setRole = defineCommand({
  name: "set-role",
  summary: "Change a member's role (only an owner may grant or take away owner)",
  args: [memberArg, "role"],
  async run(ctx, [who, roleLabel]) {
    const role = parseRole(roleLabel, "<role>");
    const userId = await memberIdOf(ctx, who);
    const res = await ctx.client().users.setMemberRole({ userId, role });
    ctx.out.result(SetMemberRoleResponseSchema, res, () => `${who} is now ${enumLabel(RoleSchema, role)}.`);
  },
});

const remove = defineCommand({
  name: "remove",
  summary: "Remove a member from the tenant; their sessions in it end at once",
  args: [memberArg],
  async run(ctx, [who]) {
    const userId = await memberIdOf(ctx, who);
    const res = await ctx.client().users.removeMember({ userId });
    ctx.out.result(RemoveMemberResponseSchema, res, () => `Removed ${who} from the tenant; their sessions in it have ended.`);
  },
});

const disable = defineCommand({
  name: "disable",
  summary: "Disable a person everywhere: every session ends and login is refused (platform administrators)",
  args: ["user-id"],
  async run(ctx, [userId]) {
    const res = await ctx.client().users.disableUser({ userId });
    ctx.out.result(DisableUserResponseSchema, res, () => `Disabled user ${userId}; their sessions have ended.`);
  },
});

export const userCommands: CommandGroup = {
  name: "user",
  summary: "Invite people, accept invitations, and manage the tenant's members and roles",
  commands: [invite, accept, invitations, revokeInvitation, list, setRole, remove, disable],
};

function parseRole(label: string, what: string): Role {
  const role = parseEnumLabel(RoleSchema, label);
  if (role === undefined) throw new UsageError(`invalid ${what} "${label}": use one of ${enumLabels(RoleSchema).join(", ")}`);
  return role;
}

function listMembers(client: CloudClient): Promise<Member[]> {
  return collectPages(async (pageToken) => {
    const res = await client.users.listMembers({ pageToken });
    return { items: res.members, nextPageToken: res.nextPageToken };
  });
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A member named by user id as is, or by email through the tenant's member list. */
async function memberIdOf(ctx: CommandContext, who: string): Promise<string> {
  if (uuidPattern.test(who)) return who;
  const email = who.toLowerCase();
  const member = (await listMembers(ctx.client())).find((m) => m.email.toLowerCase() === email);
  if (!member) throw new Error(`no member with email "${who}" in this tenant; list them with: ${programName} user list`);
  return member.userId;
}

/**
 * The display name to accept with: the flag, else asked on a terminal. Empty means "I have an account": the
 * server then checks the password against it, and asks for a name only if the account is new after all.
 */
async function displayNameForAccept(ctx: CommandContext, given: string | undefined, passwordFromStdin: boolean) {
  if (given !== undefined) return given;
  if (passwordFromStdin || !ctx.prompter.interactive) return "";
  return ctx.prompter.line("Your name, for a new account (leave empty if you already have one): ");
}
