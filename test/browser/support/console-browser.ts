import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { Role } from "@engine-cloud/api";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { startTestServer, type TestServer, type TestServerOptions } from "../../support/test-server.js";
import { addPerson, FAST_PASSWORD_HASH, type TestPerson } from "../../support/test-people.js";
import { createTestTenant, type TestTenant } from "../../support/test-tenant.js";
import { CONSOLE_DIST, SCREENSHOT_DIR } from "./console-paths.js";

/**
 * The browser: ENGINE_CHROME_BIN, else Debian's chromium-headless-shell, else /usr/bin/chromium. Missing is a
 * failure with the command that installs it, never a silent skip.
 */
export function chromeBinary(): string {
  const fromEnv = process.env.ENGINE_CHROME_BIN;
  if (fromEnv) return fromEnv;
  for (const name of ["chromium-headless-shell", "chromium"]) {
    try {
      const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (found) return found;
    } catch {
      // not on PATH; try the next
    }
  }
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  throw new Error(
    "no Chromium for the browser suite: apt-get install --no-install-recommends chromium-headless-shell, or set ENGINE_CHROME_BIN",
  );
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromeBinary() });
}

/** The real server (PGlite unless ENGINE_TEST_POSTGRES_URL), serving the console built by the global setup. */
export function startConsoleServer(options: TestServerOptions = {}): Promise<TestServer> {
  return startTestServer({
    ...options,
    env: { ENGINE_CLOUD_CONSOLE_DIR: CONSOLE_DIST, ...FAST_PASSWORD_HASH, ...options.env },
  });
}

export interface ConsoleSuite {
  readonly srv: TestServer;
  readonly browser: Browser;
  /** A new context on the console, nobody signed in. */
  open(): Promise<ConsolePage>;
  /** A new context with `who` signed in through the form. */
  signIn(who: { email: string; password: string }, tenant?: string): Promise<ConsolePage>;
  /** A tenant of the test's own with a person in `role` (owner by default). */
  tenantWithPerson(role?: Role): Promise<TenantWithOwner>;
}

/**
 * One server and one browser for a test file, started together before its tests and stopped after them;
 * `options` may be computed first (an SMTP server's URL, say). Each test opens its own context.
 */
export function consoleSuite(options: () => TestServerOptions | Promise<TestServerOptions> = () => ({})): ConsoleSuite {
  const suite = {
    open: () => openConsole(suite.browser, suite.srv),
    signIn: (who: { email: string; password: string }, tenant?: string) => signedInConsole(suite.browser, suite.srv, who, tenant),
    tenantWithPerson: (role?: Role) => tenantWithPerson(suite.srv, role),
  } as ConsoleSuite & { srv: TestServer; browser: Browser };
  beforeAll(async () => {
    [suite.srv, suite.browser] = await Promise.all([Promise.resolve(options()).then(startConsoleServer), launchBrowser()]);
  });
  afterAll(async () => {
    await suite.browser?.close();
    await suite.srv?.stop();
  });
  return suite;
}

export interface ConsolePage {
  page: Page;
  context: BrowserContext;
  /** Every CSP violation and console error the page reported: the suite expects none. */
  problems: string[];
  /** Opens a console path (e.g. "members") and waits for its heading. */
  open(path?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A fresh browser context (no cookies, no storage) at 1280×800 on the console, recording every CSP violation
 * (securitypolicyviolation, and the "Refused to …" console errors Chromium logs for them) and page error.
 */
export async function openConsole(browser: Browser, server: { url: string }): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems: string[] = [];
  // Only our server's pages count: a journey also passes through the loopback authorization server's.
  const ours = () => page.url().startsWith(`${server.url}/`);
  page.on("console", (msg) => {
    if (ours() && msg.type() === "error" && !expectedConsoleError(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => ours() && problems.push(`page error: ${err.message}`));
  await page.exposeFunction("__reportViolation", (v: string) => ours() && problems.push(`csp: ${v}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as unknown as { __reportViolation: (v: string) => void }).__reportViolation(
        `${e.violatedDirective} ${e.blockedURI}`,
      );
    });
  });
  return {
    page,
    context,
    problems,
    async open(to = "") {
      await page.goto(`${server.url}/console/${to}`);
    },
    close: () => context.close(),
  };
}

/**
 * Chromium logs every failed fetch as a console error ("Failed to load resource: … 401"); a call the server
 * refuses is part of a journey (the sign-in page asks WhoAmI first), and the page shows it.
 */
function expectedConsoleError(text: string): boolean {
  return /^Failed to load resource: the server responded with a status of (400|401|403|404|409|412|429)/.test(text);
}

/** Signs in through the form, as a person does, and waits for the shell. */
export async function signInThroughForm(page: Page, who: { email: string; password: string }, tenant = ""): Promise<void> {
  await page.getByLabel("Email", { exact: true }).fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  if (tenant) await page.getByLabel("Tenant (optional)", { exact: true }).fill(tenant);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** Opens the console in a new context and signs `who` in. */
export async function signedInConsole(
  browser: Browser,
  server: { url: string },
  who: { email: string; password: string },
  tenant = "",
) {
  const c = await openConsole(browser, server);
  await c.open();
  await signInThroughForm(c.page, who, tenant);
  return c;
}

/** Clicks a navigation entry and waits for its page's heading. */
export async function goTo(page: Page, label: string): Promise<void> {
  const nav = page.getByRole("navigation", { name: "Console" });
  await nav.getByRole("link", { name: label, exact: true }).click();
  await nav.locator('a[aria-current="page"]', { hasText: label }).waitFor();
  await page.locator("main h1").waitFor();
}

/** Writes test-results/screenshots/<name>.png at the context's 1280×800. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`) });
}

export interface TenantWithOwner {
  tenant: TestTenant;
  owner: TestPerson;
}

/** A tenant of the test's own with a person as owner (invited by the platform admin, accepted, password set). */
export async function tenantWithPerson(server: TestServer, role = Role.OWNER): Promise<TenantWithOwner> {
  const tenant = await createTestTenant(server);
  const owner = await addPerson(server, tenant.admin, role);
  return { tenant, owner };
}

/** No CSP violation, page error or unexpected console error was seen. */
export function expectNoProblems(c: ConsolePage): void {
  expect(c.problems).toEqual([]);
}
