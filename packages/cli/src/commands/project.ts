import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  AllowProjectResponseSchema,
  CheckProjectResponseSchema,
  DeleteProjectResponseSchema,
  DenyProjectResponseSchema,
  GetProjectResponseSchema,
  ListProjectsResponseSchema,
  ProjectStateSchema,
  type Project,
} from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { commandHint } from "../framework/command-hints.js";
import { defineCommand, type Command, type CommandGroup } from "../framework/command.js";
import { enumLabel } from "../parse/enum-label.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";

/** allow and deny: set a project's policy, creating its row if needed. */
function setPolicyCommand<Desc extends DescMessage>(spec: {
  name: string;
  summary: string;
  schema: Desc;
  call(client: CloudClient, name: string): Promise<MessageShape<Desc> & { project?: Project }>;
}): Command {
  return defineCommand({
    name: spec.name,
    summary: spec.summary,
    args: ["name"],
    async run(ctx, [name]) {
      const res = await spec.call(ctx.client(), name);
      ctx.out.result(spec.schema, res, () =>
        res.project ? `Project "${name}" is ${enumLabel(ProjectStateSchema, res.project.state)}.` : "",
      );
    },
  });
}

const allow = setPolicyCommand({
  name: "allow",
  summary: "Allow a project to sync",
  schema: AllowProjectResponseSchema,
  call: (client, name) => client.projects.allowProject({ name }),
});

const deny = setPolicyCommand({
  name: "deny",
  summary: "Deny a project: runtimes are refused with PROJECT_DENIED",
  schema: DenyProjectResponseSchema,
  call: (client, name) => client.projects.denyProject({ name }),
});

const get = defineCommand({
  name: "get",
  summary: "Show one project's policy",
  args: ["name"],
  async run(ctx, [name]) {
    const res = await ctx.client().projects.getProject({ name });
    ctx.out.result(GetProjectResponseSchema, res, () => (res.project ? formatProjectFields(res.project, ctx.now) : ""));
  },
});

const remove = defineCommand({
  name: "delete",
  summary: "Remove a project's policy row; the project becomes unknown and is refused",
  args: ["name"],
  async run(ctx, [name]) {
    const res = await ctx.client().projects.deleteProject({ name });
    ctx.out.result(
      DeleteProjectResponseSchema,
      res,
      () => `Deleted project "${name}"; it is now unknown and refused (PROJECT_UNKNOWN).`,
    );
  },
});

const check = defineCommand({
  name: "check",
  summary: "Dry run: would this project sync for you, or for the token named, and if not, why",
  args: ["name"],
  options: {
    "token-id": {
      type: "string",
      placeholder: "<id>",
      description: "Check for this token of the tenant (e.g. a runtime token) instead of yourself",
    },
  },
  async run(ctx, [name], options) {
    const res = await ctx.client().projects.checkProject({ name, tokenId: options["token-id"] ?? "" });
    // A refusal is the answer to the question asked, not a failed call, so it still exits 0.
    const hint = res.allowed ? undefined : commandHint(res.reason, { project: name });
    ctx.out.result(CheckProjectResponseSchema, res, () =>
      res.allowed
        ? `allowed: project "${name}" would sync.`
        : `refused: project "${name}" would not sync (reason=${res.reason}).\n${res.message}${hint ? `\nhint: ${hint}` : ""}`,
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List the tenant's project policy, by name",
  async run(ctx) {
    const projects = await collectPages(async (pageToken) => {
      const res = await ctx.client().projects.listProjects({ pageToken });
      return { items: res.projects, nextPageToken: res.nextPageToken };
    });
    ctx.out.result(ListProjectsResponseSchema, create(ListProjectsResponseSchema, { projects }), () =>
      projects.length === 0
        ? "No projects. Every project is refused until one is allowed."
        : formatTable(
            ["name", "state", "updated", "updated by"],
            projects.map((p) => [
              p.name,
              enumLabel(ProjectStateSchema, p.state),
              formatRelative(p.updatedAt, ctx.now),
              p.updatedBy,
            ]),
          ),
    );
  },
});

export const projectCommands: CommandGroup = {
  name: "project",
  summary: "Allow, deny and check the projects that may sync",
  commands: [allow, deny, get, remove, check, list],
};

function formatProjectFields(project: Project, now: Date): string {
  return formatFields([
    ["Name", project.name],
    ["State", enumLabel(ProjectStateSchema, project.state)],
    ["Created", formatInstant(project.createdAt, now)],
    ["Updated", `${formatInstant(project.updatedAt, now)} by ${project.updatedBy || "unknown"}`],
  ]);
}
