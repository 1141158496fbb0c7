import { ProjectState, TokenKind } from "@engine-cloud/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureOf } from "./support/expect-error.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(() => srv?.stop());

const projects = () => srv.admin().projects;

let counter = 0;
/** A project name no other test uses, so tests do not depend on each other's policy rows. */
const freshName = (stem: string) => `${stem}-${++counter}`;

const runtimeToken = async (projectsInScope: string[] = []) =>
  srv.admin().tokens.createToken({ label: "rt", kind: TokenKind.RUNTIME, projects: projectsInScope });

describe("project policy", () => {
  it("allows a project and returns it with who changed it", async () => {
    const name = freshName("allowed");
    const me = await srv.admin().auth.whoAmI({});
    const { project } = await projects().allowProject({ name });
    expect(project).toMatchObject({ name, state: ProjectState.ALLOWED, updatedBy: `token:${me.principalId}` });
    const got = await projects().getProject({ name });
    expect(got.project!.state).toBe(ProjectState.ALLOWED);
  });

  it("denies a project that has no row yet, creating it as denied", async () => {
    const name = freshName("denied");
    const { project } = await projects().denyProject({ name });
    expect(project!.state).toBe(ProjectState.DENIED);
    expect((await projects().getProject({ name })).project!.state).toBe(ProjectState.DENIED);
  });

  it("answers GetProject for an unknown project with NOT_FOUND PROJECT_UNKNOWN", async () => {
    const err = await failureOf(projects().getProject({ name: freshName("never-seen") }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "PROJECT_UNKNOWN"]);
  });

  it("checks an allowed project as allowed, with no reason", async () => {
    const name = freshName("check-allowed");
    await projects().allowProject({ name });
    const check = await projects().checkProject({ name });
    expect([check.allowed, check.reason]).toEqual([true, ""]);
    expect(check.project!.name).toBe(name);
  });

  it("tells an unknown project from a denied one, each with its own reason and a next step", async () => {
    const denied = freshName("check-denied");
    await projects().denyProject({ name: denied });
    const unknown = freshName("check-unknown");

    const d = await projects().checkProject({ name: denied });
    const u = await projects().checkProject({ name: unknown });
    expect([d.allowed, d.reason]).toEqual([false, "PROJECT_DENIED"]);
    expect([u.allowed, u.reason]).toEqual([false, "PROJECT_UNKNOWN"]);
    // The next step in words any client can show; the CLI adds its command (test/cli.test.ts, "engine-cloud project").
    expect(d.message).toContain("allow the project");
    expect(u.message).toContain("allow the project");
    expect(d.message + u.message).not.toContain("engine-cloud");
    expect(d.project!.state).toBe(ProjectState.DENIED);
    expect(u.project).toBeUndefined();
  });

  it("applies a change on the very next check: allowed, denied, allowed again", async () => {
    const name = freshName("flip");
    const states: Array<[boolean, string]> = [];
    for (const change of [projects().allowProject, projects().denyProject, projects().allowProject]) {
      await change({ name });
      const c = await projects().checkProject({ name });
      states.push([c.allowed, c.reason]);
    }
    expect(states).toEqual([
      [true, ""],
      [false, "PROJECT_DENIED"],
      [true, ""],
    ]);
  });

  it("applies a change on the next check made by a runtime token, not only by the admin", async () => {
    const name = freshName("flip-runtime");
    const runtime = srv.client((await runtimeToken()).secret).projects;
    await projects().allowProject({ name });
    expect((await runtime.checkProject({ name })).allowed).toBe(true);
    await projects().denyProject({ name });
    expect((await runtime.checkProject({ name })).reason).toBe("PROJECT_DENIED");
  });

  it("deletes a project: it becomes unknown and is refused again", async () => {
    const name = freshName("deleted");
    await projects().allowProject({ name });
    await projects().deleteProject({ name });
    const check = await projects().checkProject({ name });
    expect([check.allowed, check.reason]).toEqual([false, "PROJECT_UNKNOWN"]);
    const err = await failureOf(projects().getProject({ name }));
    expect(err.reason).toBe("PROJECT_UNKNOWN");
  });

  it("answers deleting an unknown project with NOT_FOUND PROJECT_UNKNOWN", async () => {
    const err = await failureOf(projects().deleteProject({ name: freshName("delete-unknown") }));
    expect([err.codeName, err.reason]).toEqual(["not_found", "PROJECT_UNKNOWN"]);
  });

  it("lists the policy by name, page by page, without repeats or gaps", async () => {
    const { tenant } = await srv.admin().tenants.createTenant({ slug: "paging" });
    const admin = srv.admin(tenant!.slug).projects;
    const names = ["delta", "alpha", "echo", "charlie", "bravo"];
    for (const name of names) await admin.allowProject({ name });
    await admin.denyProject({ name: "foxtrot" });

    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await admin.listProjects({ pageSize: 2, pageToken });
      expect(page.projects.length).toBeLessThanOrEqual(2);
      seen.push(...page.projects.map((p) => p.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual([...names, "foxtrot"].sort());
  });

  it("lists denied projects with their state", async () => {
    const { tenant } = await srv.admin().tenants.createTenant({ slug: "states" });
    const admin = srv.admin(tenant!.slug).projects;
    await admin.allowProject({ name: "open" });
    await admin.denyProject({ name: "shut" });
    const { projects: listed } = await admin.listProjects({});
    expect(listed.map((p) => [p.name, p.state])).toEqual([
      ["open", ProjectState.ALLOWED],
      ["shut", ProjectState.DENIED],
    ]);
  });

  it("refuses a page token it did not issue, naming the field", async () => {
    const err = await failureOf(projects().listProjects({ pageToken: "not-a-cursor" }));
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "page_token"]);
  });

  it("checks a project outside a runtime token's scope as PROJECT_NOT_IN_TOKEN_SCOPE, given the token id", async () => {
    const inScope = freshName("scoped-in");
    const outside = freshName("scoped-out");
    await projects().allowProject({ name: inScope });
    await projects().allowProject({ name: outside });
    const { token } = await runtimeToken([inScope]);

    const out = await projects().checkProject({ name: outside, tokenId: token!.id });
    const inside = await projects().checkProject({ name: inScope, tokenId: token!.id });
    expect([out.allowed, out.reason]).toEqual([false, "PROJECT_NOT_IN_TOKEN_SCOPE"]);
    expect([inside.allowed, inside.reason]).toEqual([true, ""]);
  });

  it("checks a project outside its own scope as PROJECT_NOT_IN_TOKEN_SCOPE when the runtime token asks", async () => {
    const inScope = freshName("self-in");
    const outside = freshName("self-out");
    await projects().allowProject({ name: inScope });
    await projects().allowProject({ name: outside });
    const runtime = srv.client((await runtimeToken([inScope])).secret).projects;

    const out = await runtime.checkProject({ name: outside });
    const inside = await runtime.checkProject({ name: inScope });
    expect([out.allowed, out.reason]).toEqual([false, "PROJECT_NOT_IN_TOKEN_SCOPE"]);
    expect(out.message).toContain(inScope);
    expect([inside.allowed, inside.reason]).toEqual([true, ""]);
  });

  it("still refuses a denied project that is inside a runtime token's scope", async () => {
    const name = freshName("scoped-denied");
    await projects().denyProject({ name });
    const runtime = srv.client((await runtimeToken([name])).secret).projects;
    const check = await runtime.checkProject({ name });
    expect([check.allowed, check.reason]).toEqual([false, "PROJECT_DENIED"]);
  });

  it("answers a check for a token id the tenant does not have with NOT_FOUND", async () => {
    const err = await failureOf(
      projects().checkProject({ name: freshName("any"), tokenId: "00000000-0000-4000-8000-000000000000" }),
    );
    expect(err.codeName).toBe("not_found");
  });

  it.each([
    ["an empty name", ""],
    ["a name starting with a hyphen", "-leading"],
    ["a name with a space", "has space"],
    ["a name with a slash", "a/b"],
    ["a name of 101 characters", "p".repeat(101)],
  ])("refuses %s to AllowProject with INVALID_ARGUMENT on field name", async (_what, name) => {
    const err = await failureOf(projects().allowProject({ name }));
    expect([err.codeName, err.reason, err.field]).toEqual(["invalid_argument", "INVALID_ARGUMENT", "name"]);
  });

  it("refuses an invalid name to DenyProject with INVALID_ARGUMENT on field name", async () => {
    const err = await failureOf(projects().denyProject({ name: "no spaces allowed" }));
    expect([err.codeName, err.field]).toEqual(["invalid_argument", "name"]);
  });

  it("refuses an empty name to GetProject, CheckProject and DeleteProject with field name", async () => {
    const errs = await Promise.all([
      failureOf(projects().getProject({ name: "" })),
      failureOf(projects().checkProject({ name: "" })),
      failureOf(projects().deleteProject({ name: "" })),
    ]);
    expect(errs.map((e) => [e.codeName, e.field])).toEqual(Array(3).fill(["invalid_argument", "name"]));
  });

  it("does not let a runtime token change the policy", async () => {
    const runtime = srv.client((await runtimeToken()).secret).projects;
    const err = await failureOf(runtime.allowProject({ name: freshName("runtime-allow") }));
    expect([err.codeName, err.reason]).toEqual(["permission_denied", "PERMISSION_DENIED"]);
  });

  it("lets a service token read the policy but not change it", async () => {
    const { secret } = await srv.admin().tokens.createToken({ label: "svc", kind: TokenKind.SERVICE });
    const service = srv.client(secret).projects;
    const name = freshName("service-read");
    await projects().allowProject({ name });
    expect((await service.getProject({ name })).project!.name).toBe(name);
    const err = await failureOf(service.denyProject({ name }));
    expect(err.reason).toBe("PERMISSION_DENIED");
  });
});
