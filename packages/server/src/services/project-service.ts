import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { CheckProjectResponseSchema, ErrorReason, ProjectService, reasonName } from "@engine-cloud/api";
import { actorLabelOf } from "../auth/caller.js";
import { notFound } from "../errors/domain-error.js";
import type { ProjectStateColumn } from "../store/schema.js";
import { listProjects } from "../store/projects.js";
import { changeProjectState, removeProject } from "../tenancy/project-changes.js";
import { getToken } from "../store/tokens.js";
import { decideProject } from "../tenancy/project-policy.js";
import { scopeOf, tenantScope } from "../tenancy/request-context.js";
import { tokenReachOf } from "../tenancy/token-reach.js";
import { withTenant } from "../store/with-tenant.js";
import type { HandlerContext } from "@connectrpc/connect";
import type { ServiceDeps } from "./deps.js";
import { decodePageToken, pageSizeOf, splitPage } from "./page-token.js";
import { projectToProto } from "../messages/projects.js";

const unknownProject = (name: string) =>
  notFound(ErrorReason.PROJECT_UNKNOWN, `project "${name}" is not in the tenant's policy; allow the project to sync it`, {
    project: name,
  });

export function createProjectService(deps: Pick<ServiceDeps, "db" | "feed" | "projects">): ServiceImpl<typeof ProjectService> {
  const { db, feed } = deps;

  const setState = async (name: string, state: ProjectStateColumn, ctx: HandlerContext) => {
    const { tenant } = tenantScope(ctx);
    const row = await withTenant(
      db,
      scopeOf(ctx),
      async (t) => {
        // Confirmed: every server caches the policy, and the change must hold on the next request to any of them.
        t.afterCommit(() => feed.publishConfirmed({ type: "project", tenantId: tenant.id, name }));
        t.audit.record({ action: state === "allowed" ? "project.allow" : "project.deny", target: `project:${name}` });
        return changeProjectState(t, name, state);
      },
      { signal: ctx.signal },
    );
    return { project: projectToProto(row) };
  };

  return {
    allowProject: (req, ctx) => setState(req.name, "allowed", ctx),
    denyProject: (req, ctx) => setState(req.name, "denied", ctx),
    async getProject(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const row = await deps.projects.find(tenant.id, req.name);
      if (!row) throw unknownProject(req.name);
      return { project: projectToProto(row) };
    },
    async listProjects(req, ctx) {
      const { tenant } = tenantScope(ctx);
      const size = pageSizeOf(req.pageSize);
      const after = decodePageToken<{ name: string }>(req.pageToken, ["name"]);
      const rows = await withTenant(db, scopeOf(ctx), ({ tx }) =>
        listProjects(tx, tenant.id, { limit: size + 1, after: after?.name }),
      );
      const { page, next } = splitPage(rows, size, (p) => ({ name: p.name }));
      return { projects: page.map(projectToProto), nextPageToken: next };
    },
    async deleteProject(req, ctx) {
      const { tenant } = tenantScope(ctx);
      await withTenant(
        db,
        scopeOf(ctx),
        async (t) => {
          if (!(await removeProject(t, req.name))) throw unknownProject(req.name);
          t.audit.record({ action: "project.delete", target: `project:${req.name}` });
          t.afterCommit(() => feed.publishConfirmed({ type: "project", tenantId: tenant.id, name: req.name }));
        },
        { signal: ctx.signal },
      );
      return {};
    },
    async checkProject(req, ctx) {
      const { caller, tenant } = tenantScope(ctx);
      const { row, scope } = await withTenant(db, scopeOf(ctx), async ({ tx }) => {
        // The same cached policy a runtime's calls are judged by.
        const project = await deps.projects.find(tenant.id, req.name, tx);
        if (!req.tokenId) return { row: project, scope: caller.projects };
        const token = await getToken(tx, tenant.id, req.tokenId, tokenReachOf(caller));
        if (!token) throw notFound(ErrorReason.TOKEN_NOT_FOUND, `no token ${req.tokenId} in this tenant`);
        return { row: project, scope: token.projects };
      });
      const decision = decideProject(req.name, row, scope);
      return create(CheckProjectResponseSchema, {
        allowed: decision.allowed,
        reason: decision.allowed ? "" : reasonName(decision.reason),
        message: decision.allowed ? `project "${req.name}" may sync` : decision.message,
        project: row ? projectToProto(row) : undefined,
      });
    },
  };
}
