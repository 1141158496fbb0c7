import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  CreateTenantResponseSchema,
  DeleteTenantResponseSchema,
  GetTenantResponseSchema,
  ListTenantsResponseSchema,
  ResumeTenantResponseSchema,
  SuspendTenantResponseSchema,
  TenantStateSchema,
  UpdateTenantResponseSchema,
  WhoAmIResponseSchema,
  type CloudClient,
  type Tenant,
} from "@engine-cloud/sdk";
import { defineCommand, type Command, type CommandGroup } from "../command.js";
import { enumLabel } from "../enum-label.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../output.js";
import { collectPages } from "../pages.js";
import { describeSignedIn, requireStoredSession, storedSessionClient, storeSession } from "../stored-session.js";

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

export const tenantCommands: CommandGroup = {
  name: "tenant",
  summary: "Create and manage tenants (platform administrators); switch the tenant of your session",
  commands: [createTenant, list, get, rename, suspend, resume, remove, switchTenant],
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
