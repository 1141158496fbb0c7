import http from "node:http";
import type { AddressInfo } from "node:net";
import { Role, TokenKind } from "@engine-cloud/api";
import type { CloudClient } from "@engine-cloud/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addPerson } from "../support/test-people.js";
import { putApiKey, uniqueSecret } from "../support/test-tenant.js";
import { expectNoProblems, goTo, screenshot, type ConsolePage, consoleSuite } from "./support/console-browser.js";

// What the cookie session must never allow, proven in the browser with server-side observables: another
// origin (http://localhost:<port>, another site than the console's http://127.0.0.1:<port>) driving RPCs with
// the victim's cookie; the session token reaching JavaScript; a CSP violation on any page; one tenant's data in
// another tenant's admin's pages.

const suite = consoleSuite();
let attacker: { origin: string; setPage(html: string): void; close(): Promise<void> };
beforeAll(async () => {
  attacker = await startAttackerSite();
});
afterAll(() => attacker?.close());

/** A tiny site on loopback, reached as http://localhost:<port>: whatever page the test gives it. */
async function startAttackerSite() {
  let page = "<!doctype html><title>empty</title>";
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    setPage: (html: string) => void (page = html),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const rpc = (method: string) => `${suite.srv.url}/engine.cloud.v1.${method}`;
const connectGet = (method: string, message: object) =>
  `${rpc(method)}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(message))}`;

/** The attacker's page: every way a page of another site can send a request, each to an RPC with a trace. */
function attackPage(credentialId: string): string {
  const createToken = rpc("TokenService/CreateToken");
  const body = JSON.stringify({ label: "stolen", kind: "TOKEN_KIND_TENANT_ADMIN" });
  const gets = [
    connectGet("CredentialService/GetCredential", { id: credentialId }),
    connectGet("AuditService/ListAuditEvents", {}),
    connectGet("TokenService/ListTokens", {}),
  ];
  return `<!doctype html><title>attacker</title><body>
<iframe name="sink"></iframe>
<form id="form-urlencoded" method="POST" action="${createToken}" target="sink"><input name="${body.replace(/"/g, "&quot;")}" value=""></form>
<form id="form-text" method="POST" action="${createToken}" enctype="text/plain" target="sink"><input name="${body.replace(/"/g, "&quot;")}" value=""></form>
${gets.map((u) => `<img src="${u.replace(/"/g, "&quot;")}">`).join("\n")}
<script>
const done = [];
const attempt = (p) => done.push(p.then(() => "sent", () => "blocked"));
attempt(fetch(${JSON.stringify(createToken)}, { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: ${JSON.stringify(body)} }));
attempt(fetch(${JSON.stringify(createToken)}, { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "text/plain" }, body: ${JSON.stringify(body)} }));
attempt(fetch(${JSON.stringify(createToken)}, { method: "POST", mode: "no-cors", credentials: "include", headers: { "content-type": "application/grpc-web+json" }, body: ${JSON.stringify(body)} }));
attempt(fetch(${JSON.stringify(createToken)}, { method: "POST", credentials: "include", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: new Uint8Array([0, 0, 0, 0, 0]) }));
${gets.map((u) => `attempt(fetch(${JSON.stringify(u)}, { credentials: "include" })); attempt(fetch(${JSON.stringify(u)}, { mode: "no-cors", credentials: "include" }));`).join("\n")}
document.getElementById("form-urlencoded").submit();
setTimeout(() => document.getElementById("form-text").submit(), 200);
Promise.all(done).then((r) => { document.title = "attacked " + r.length; });
</script></body>`;
}

/** What the victim's session did, by the server's own records: tokens created, audited reads and lists. */
async function tracesOf(admin: CloudClient, userId: string) {
  const tokens = (await admin.tokens.listTokens({ pageSize: 1000 })).tokens.filter((t) => t.label === "stolen");
  const events = (await admin.audit.listAuditEvents({ pageSize: 1000 })).events.filter((e) => e.actor?.id === userId);
  return { stolenTokens: tokens.length, actions: events.map((e) => e.action).filter((a) => a !== "session.login") };
}

describe("another site, with the victim's cookie", () => {
  it("cannot call any RPC: POST (JSON, text, forms), Connect GET (img, fetch, top-level link) or gRPC-Web", async () => {
    const { tenant, owner } = await suite.tenantWithPerson();
    const secret = uniqueSecret();
    const credential = await putApiKey(tenant.admin, { provider: "hubspot", alias: "work", project: "" }, secret);
    const victim = await suite.signIn(owner);
    const before = await tracesOf(tenant.admin, owner.userId);

    attacker.setPage(attackPage(credential.id));
    const page = await victim.context.newPage();
    await page.goto(attacker.origin);
    await page.waitForFunction(() => document.title.startsWith("attacked"));
    await page.waitForTimeout(500); // the delayed form and the images
    // Top-level navigations the attacker's page starts (a link the victim clicks, a script's location change):
    // SameSite=Lax sends the cookie on these, so only the server's same-origin rule stands in the way.
    for (const [how, url] of [
      ["link", connectGet("CredentialService/GetCredential", { id: credential.id })],
      ["location", connectGet("AuditService/ListAuditEvents", {})],
    ] as const) {
      await page.goto(attacker.origin);
      await Promise.all([
        page.waitForURL((u) => u.origin === suite.srv.url && u.pathname.startsWith("/engine.cloud.v1.")),
        page.evaluate(
          ([how, url]) => {
            if (how === "location") return void window.location.assign(url);
            const a = document.createElement("a");
            a.href = url;
            document.body.append(a);
            a.click();
          },
          [how, url] as const,
        ),
      ]);
      const answer = await page.content();
      expect(answer).not.toContain(secret);
      // Refused: GetCredential is never served over GET (secret-bearing), ListAuditEvents not to a cross-site cookie.
      expect(answer).toMatch(/"code":"(unauthenticated|invalid_argument)"/);
    }

    expect(await tracesOf(tenant.admin, owner.userId)).toEqual(before);

    // The oracle can fail: the console's own origin, same cookie, does leave these traces.
    await victim.page.evaluate(
      async ([u, body]) => {
        await fetch(u, {
          method: "POST",
          headers: { "content-type": "application/json", "connect-protocol-version": "1" },
          body,
        });
      },
      [rpc("TokenService/CreateToken"), JSON.stringify({ label: "stolen", kind: "TOKEN_KIND_TENANT_ADMIN" })] as const,
    );
    expect((await tracesOf(tenant.admin, owner.userId)).stolenTokens).toBe(1);
    await victim.close();
  });
});

describe("the session token", () => {
  it("is an HttpOnly cookie and never in document.cookie, localStorage or sessionStorage", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    const cookie = (await c.context.cookies()).find((k) => k.name.endsWith("ec_session"))!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe("Lax");
    const seen = await c.page.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      html: document.documentElement.outerHTML,
    }));
    for (const place of Object.values(seen)) expect(place).not.toContain(cookie.value);
    await c.close();
  });
});

/** Every page of the navigation, visited in order, with a screenshot of each. */
async function visitEveryPage(c: ConsolePage, prefix: string): Promise<string[]> {
  const labels = await c.page.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents();
  for (const label of labels) {
    await goTo(c.page, label);
    await c.page.waitForLoadState("networkidle");
    await screenshot(c.page, `${prefix}-${label.toLowerCase().replace(/\s+/g, "-")}`);
  }
  return labels;
}

describe("every page", () => {
  it("is served with the strict CSP and causes no violation or page error, as an owner", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.open();
    const res = await c.page.goto(`${suite.srv.url}/console/`);
    expect(res?.headers()["content-security-policy"]).toMatch(/script-src 'self'/);
    await c.page.getByLabel("Email", { exact: true }).fill(owner.email);
    await c.page.getByLabel("Password", { exact: true }).fill(owner.password);
    await c.page.getByRole("button", { name: "Sign in" }).click();
    await c.page.getByRole("button", { name: "Sign out" }).waitFor();
    const labels = await visitEveryPage(c, "owner");
    expect(labels).toEqual([
      "Overview",
      "Members",
      "Tokens",
      "Projects",
      "Credentials",
      "Connections",
      "Runtimes",
      "Audit log",
      "Sessions",
      "Account",
    ]);
    expectNoProblems(c);
    await c.close();
  });
});

describe("tenants", () => {
  it("never shows tenant B's data to tenant A's admin, on any page", async () => {
    const a = await suite.tenantWithPerson(Role.ADMIN);
    const b = await suite.tenantWithPerson();
    const marker = `bmark${uniqueSecret().slice(0, 8)}`;
    await b.tenant.admin.projects.allowProject({ name: `${marker}-project` });
    await b.tenant.admin.tokens.createToken({ label: `${marker}-token`, kind: TokenKind.SERVICE });
    await putApiKey(b.tenant.admin, { provider: `${marker}-provider`, alias: "x", project: "" }, uniqueSecret());
    await addPerson(suite.srv, b.tenant.admin, Role.VIEWER, { displayName: `${marker} Person` });
    const c = await suite.signIn(a.owner);
    const labels = await c.page.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents();
    for (const label of labels) {
      await goTo(c.page, label);
      await c.page.waitForLoadState("networkidle");
      expect(await c.page.content(), label).not.toContain(marker);
      expect(await c.page.content(), label).not.toContain(b.tenant.slug);
    }
    // And asking for B by name (switching to it) is refused, with the reason shown.
    await goTo(c.page, "Account");
    await c.page.getByLabel("Tenant slug", { exact: true }).fill(b.tenant.slug);
    await c.page.getByRole("button", { name: "Switch" }).click();
    await c.page.getByText("Could not switch").waitFor();
    expect(await c.page.getByTestId("tenant").textContent()).toBe(a.tenant.slug);
    await c.close();
  });
});
