import { describe, expect, it } from "vitest";
import { consoleSuite, goTo } from "./support/console-browser.js";

// A session that ends while the page is open: idle expiry at 5 s here (time enough to sign in on a loaded
// machine). The next call is refused, and the console says why on the sign-in page, not with a page of errors.

const suite = consoleSuite(() => ({ configure: (c) => (c.sessionIdleMs = 5_000) }));

describe("an idle session", () => {
  it("ends while the page is open: the warning shows, then the next page asks to sign in again and says why", async () => {
    const { owner } = await suite.tenantWithPerson();
    const c = await suite.signIn(owner);
    await c.page.locator(".session-warning").waitFor();
    await new Promise((r) => setTimeout(r, 6_000));
    await goTo(c.page, "Members").catch(() => undefined);
    await c.page.getByRole("heading", { name: "Sign in to Engine Cloud" }).waitFor();
    expect(await c.page.getByRole("status").textContent()).toBe("Your session ended. Sign in again.");
    await c.close();
  });
});
