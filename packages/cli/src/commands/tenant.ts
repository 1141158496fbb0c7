import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  CreateTenantResponseSchema,
  DeleteTenantResponseSchema,
  GetTenantLimitsResponseSchema,
  GetTenantResponseSchema,
  ListTenantsResponseSchema,
  ResumeTenantResponseSchema,
  SetTenantLimitsResponseSchema,
  SuspendTenantResponseSchema,
  TenantLimitsSchema,
  TenantStateSchema,
  UpdateTenantResponseSchema,
  WhoAmIResponseSchema,
  type Tenant,
  type TenantLimits,
  type TenantLimitSettings,
  type TenantLimitsUsage,
} from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { defineCommand, type Command, type CommandGroup } from "../framework/command.js";
import { enumLabel } from "../parse/enum-label.js";
import { parseKeyValues } from "../parse/key-value.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";
import { describeSignedIn, requireStoredSession, storedSessionClient, storeSession } from "../sign-in/stored-session.js";
import { UsageError } from "../framework/usage-error.js";
import { parseWholeNumber } from "../parse/whole-number.js";

/** The verbs that take one tenant (slug or id) and answer with it. */
function tenantCommand<Desc extends DescMessage>(spec: {
  name: string;
  summary: string;
  schema: Desc;
  call(client: CloudClient, tenant: string): Promise<MessageShape<Desc> & { tenant?: Tenant }>;
  /** The text for people, given the tenant as the server returned it. */
  describe(tenant: Tenant, now: Date): string;
}): Command {
  return defineCommand({
    name: spec.name,
    summary: spec.summary,
    args: ["slug-or-id"],
    async run(ctx, [tenant]) {
      const res = await spec.call(ctx.client(), tenant);
      ctx.out.result(spec.schema, res, () => (res.tenant ? spec.describe(res.tenant, ctx.now) : ""));
    },
  });
}

const createTenant = defineCommand({
  name: "create",
  summary: "Create a tenant",
  args: ["slug"],
  options: { name: { type: "string", placeholder: "<name>", description: "Display name (default: the slug)" } },
  async run(ctx, [slug], options) {
    const res = await ctx.client().tenants.createTenant({ slug, displayName: options.name ?? "" });
    ctx.out.result(CreateTenantResponseSchema, res, () =>
      res.tenant ? `Created tenant ${res.tenant.slug} ("${res.tenant.displayName}", id ${res.tenant.id}).` : "",
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List tenants, oldest first",
  options: { all: { type: "boolean", description: "Include deleted tenants" } },
  async run(ctx, _args, options) {
    const tenants = await collectPages(async (pageToken) => {
      const res = await ctx.client().tenants.listTenants({ pageToken, showDeleted: options.all });
      return { items: res.tenants, nextPageToken: res.nextPageToken };
    });
    ctx.out.result(ListTenantsResponseSchema, create(ListTenantsResponseSchema, { tenants }), () =>
      tenants.length === 0
        ? "No tenants."
        : formatTable(
            ["id", "slug", "name", "state", "created"],
            tenants.map((t) => [
              t.id,
              t.slug,
              t.displayName,
              enumLabel(TenantStateSchema, t.state),
              formatRelative(t.createdAt, ctx.now),
            ]),
          ),
    );
  },
});

const get = tenantCommand({
  name: "get",
  summary: "Show one tenant",
  schema: GetTenantResponseSchema,
  call: (client, tenant) => client.tenants.getTenant({ tenant }),
  describe: formatTenantFields,
});

const suspend = tenantCommand({
  name: "suspend",
  summary: "Suspend a tenant: its tokens stop working on their next request",
  schema: SuspendTenantResponseSchema,
  call: (client, tenant) => client.tenants.suspendTenant({ tenant }),
  describe: (t) => `Suspended tenant ${t.slug}; its tokens are refused (TENANT_SUSPENDED) until it is resumed.`,
});

const resume = tenantCommand({
  name: "resume",
  summary: "Resume a suspended tenant",
  schema: ResumeTenantResponseSchema,
  call: (client, tenant) => client.tenants.resumeTenant({ tenant }),
  describe: (t) => `Resumed tenant ${t.slug}.`,
});

const remove = tenantCommand({
  name: "delete",
  summary: "Delete a tenant for good: its tokens stop at once; the slug stays taken",
  schema: DeleteTenantResponseSchema,
  call: (client, tenant) => client.tenants.deleteTenant({ tenant }),
  describe: (t) => `Deleted tenant ${t.slug}.`,
});

const rename = defineCommand({
  name: "rename",
  summary: "Change a tenant's display name",
  args: ["slug-or-id", "name"],
  async run(ctx, [tenant, displayName]) {
    const res = await ctx.client().tenants.updateTenant({ tenant, displayName });
    ctx.out.result(UpdateTenantResponseSchema, res, () =>
      res.tenant ? `Renamed tenant ${res.tenant.slug} to "${res.tenant.displayName}".` : "",
    );
  },
});

const switchTenant = defineCommand({
  name: "switch",
  summary: "Move your session of 'login' to another tenant you belong to",
  args: ["slug-or-id"],
  async run(ctx, [tenant]) {
    const session = requireStoredSession(ctx);
    // The server ends the current session as it opens the new one, so the new one must replace it here too.
    const opened = await storedSessionClient(ctx, session).auth.switchTenant({ tenant });
    const me = await storeSession(ctx, session.server, opened);
    ctx.out.result(WhoAmIResponseSchema, me, () => `Switched: you are now ${describeSignedIn(me)}.`);
  },
});

/** The limit names are the proto field names: the server's, the config's (ENGINE_CLOUD_LIMIT_<NAME>) and ours agree. */
const LIMIT_FIELDS = TenantLimitsSchema.fields;

const limits = defineCommand({
  name: "limits",
  summary: "Show a tenant's limits and what it uses; platform administrators change them with --set",
  optionalArgs: ["slug-or-id"],
  options: {
    set: {
      type: "string",
      multiple: true,
      placeholder: "<name=value>",
      description: `Override a limit (value "default" drops the override); repeat for more. Names: ${LIMIT_FIELDS.map((f) => f.name).join(", ")}`,
    },
  },
  async run(ctx, [tenant], options) {
    if (options.set.length === 0) {
      // Without a name: the credential's own tenant, or the one of --tenant.
      const client = tenant ? ctx.clientWith({ token: ctx.credential().token, tenant }) : ctx.client();
      const res = await client.tenants.getTenantLimits({});
      ctx.out.result(GetTenantLimitsResponseSchema, res, () => formatLimits(res.settings, res.usage));
      return;
    }
    if (!tenant) throw new UsageError("name the tenant whose limits to set: tenant limits <slug-or-id> --set name=value");
    const res = await ctx.client().tenants.setTenantLimits({ tenant, overrides: limitOverrides(options.set) });
    ctx.out.result(SetTenantLimitsResponseSchema, res, () => formatLimits(res.settings));
  },
});

/** `--set name=value` flags as the request's overrides: 0 (from "default") clears one. */
function limitOverrides(flags: readonly string[]): Partial<TenantLimits> {
  const overrides: Record<string, number> = {};
  for (const [name, text] of Object.entries(parseKeyValues("set", flags))) {
    const field = LIMIT_FIELDS.find((f) => f.name === name);
    if (!field)
      throw new UsageError(`invalid --set: no limit "${name}"; the limits: ${LIMIT_FIELDS.map((f) => f.name).join(", ")}`);
    overrides[field.localName] = text === "default" ? 0 : Number(parseWholeNumber("set", text, 1));
  }
  return overrides;
}

function formatLimits(settings: TenantLimitSettings | undefined, usage?: TenantLimitsUsage): string {
  if (!settings) return "";
  const valueOf = (m: object | undefined, localName: string) =>
    (m as Record<string, number | undefined> | undefined)?.[localName];
  const rows = LIMIT_FIELDS.map((f) => {
    const override = valueOf(settings.overrides, f.localName);
    const used = valueOf(usage, f.localName);
    return [
      f.name,
      String(valueOf(settings.effective, f.localName) ?? ""),
      String(valueOf(settings.defaults, f.localName) ?? ""),
      override === undefined ? "-" : String(override),
      ...(usage ? [used === undefined ? "-" : String(used)] : []),
    ];
  });
  const headers = ["limit", "effective", "default", "override", ...(usage ? ["in use"] : [])];
  return `Limits of tenant ${settings.tenantId}:\n${formatTable(headers, rows)}`;
}

export const tenantCommands: CommandGroup = {
  name: "tenant",
  summary: "Create and manage tenants (platform administrators); switch the tenant of your session",
  commands: [createTenant, list, get, rename, suspend, resume, remove, limits, switchTenant],
};

function formatTenantFields(tenant: Tenant, now: Date): string {
  return formatFields([
    ["ID", tenant.id],
    ["Slug", tenant.slug],
    ["Name", tenant.displayName],
    ["State", enumLabel(TenantStateSchema, tenant.state)],
    ["Created", formatInstant(tenant.createdAt, now)],
    ["Updated", formatInstant(tenant.updatedAt, now)],
    ["Deleted", formatInstant(tenant.deletedAt, now, "no")],
  ]);
}
