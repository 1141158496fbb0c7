import { Code, ConnectError } from "@connectrpc/connect";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { AuthService, type WhoAmIResponse } from "@engine-cloud/api";
import { useEffect, useState, type ReactNode } from "react";
import { useActingTenant } from "./acting-tenant.js";
import { actIn, consoleQueryClient } from "./api.js";
import { CallerContext } from "./caller.js";
import { ErrorNotice } from "./error-notice.js";
import { AcceptPage } from "./pages/accept.js";
import { AccountPage } from "./pages/account.js";
import { AuditPage } from "./pages/audit.js";
import { ConnectionsPage } from "./pages/connections.js";
import { CredentialsPage } from "./pages/credentials.js";
import { MembersPage } from "./pages/members.js";
import { OverviewPage } from "./pages/overview.js";
import { ProjectsPage } from "./pages/projects.js";
import { RuntimesPage } from "./pages/runtimes.js";
import { ServerPage } from "./pages/server.js";
import { SessionsPage } from "./pages/sessions.js";
import { SetupPage } from "./pages/setup.js";
import { SignInPage } from "./pages/sign-in.js";
import { TenantsPage } from "./pages/tenants.js";
import { TokensPage } from "./pages/tokens.js";
import { navigate, useRoute } from "./route.js";
import { SessionExpiry } from "./session-expiry.js";

interface NavItem {
  page: string;
  label: string;
  /** Offered only to callers holding this permission, or platform administrators ("platform"). */
  needs?: string;
  render: () => ReactNode;
}

const nav: NavItem[] = [
  { page: "", label: "Overview", render: () => <OverviewPage /> },
  { page: "members", label: "Members", needs: "users.read", render: () => <MembersPage /> },
  { page: "tokens", label: "Tokens", needs: "tokens.read", render: () => <TokensPage /> },
  { page: "projects", label: "Projects", needs: "projects.read", render: () => <ProjectsPage /> },
  { page: "credentials", label: "Credentials", needs: "credentials.read", render: () => <CredentialsPage /> },
  { page: "connections", label: "Connections", needs: "connections.read", render: () => <ConnectionsPage /> },
  { page: "runtimes", label: "Runtimes", needs: "runtimes.read", render: () => <RuntimesPage /> },
  { page: "audit", label: "Audit log", needs: "audit.read", render: () => <AuditPage /> },
  { page: "sessions", label: "Sessions", render: () => <SessionsPage /> },
  { page: "account", label: "Account", render: () => <AccountPage /> },
  { page: "tenants", label: "Tenants", needs: "platform", render: () => <TenantsPage /> },
  { page: "server", label: "Server", needs: "platform", render: () => <ServerPage /> },
];

function allowed(item: NavItem, caller: WhoAmIResponse): boolean {
  if (!item.needs) return true;
  if (item.needs === "platform") return caller.platformAdmin;
  return caller.permissions.includes(item.needs);
}

export function App() {
  const route = useRoute();
  // Pages reached from a link, before anyone is signed in: the first-run setup and an invitation.
  if (route.page === "setup") return <SetupPage code={route.fragment.get("code") ?? ""} />;
  if (route.page === "accept") return <AcceptPage code={route.fragment.get("code") ?? ""} />;
  return <SignedInOnly />;
}

function SignedInOnly() {
  const whoAmI = useQuery(AuthService.method.whoAmI, {});
  const [signedOut, setSignedOut] = useState<string | undefined>();
  const sessionGone = whoAmI.error instanceof ConnectError && whoAmI.error.code === Code.Unauthenticated;
  useEffect(() => {
    // A session that was there and is gone (expired, revoked elsewhere): say so on the sign-in page.
    if (sessionGone && whoAmI.dataUpdatedAt > 0) setSignedOut("Your session ended. Sign in again.");
  }, [sessionGone, whoAmI.dataUpdatedAt]);
  // Only the very first answer is waited for: a later refetch (after a failed sign-in, say) must not unmount the
  // sign-in form and lose what it shows.
  if (whoAmI.isPending && whoAmI.dataUpdatedAt === 0 && whoAmI.errorUpdatedAt === 0) return <p className="loading">Loading…</p>;
  if (sessionGone || !whoAmI.data) {
    if (whoAmI.error && !sessionGone) return <ErrorNotice error={whoAmI.error} title="The server did not answer" />;
    return <SignInPage notice={signedOut} />;
  }
  return (
    <CallerContext.Provider value={whoAmI.data}>
      <Shell caller={whoAmI.data} />
    </CallerContext.Provider>
  );
}

function Shell({ caller }: { caller: WhoAmIResponse }) {
  const route = useRoute();
  const items = nav.filter((i) => allowed(i, caller));
  const item = items.find((i) => i.page === route.page);
  const acting = useActingTenant();
  const logout = useMutation(AuthService.method.logout, {
    onSuccess: () => actIn(""),
  });
  useEffect(() => {
    const current = document.querySelector("main h1");
    if (current instanceof HTMLElement) current.focus();
  }, [route.page]);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span className="brand">Engine Cloud</span>
        <span className="tenant" data-testid="tenant">
          {caller.tenantSlug}
        </span>
        <span className="who">
          {caller.displayName} ·{" "}
          <span data-testid="role">{caller.platformAdmin ? `${caller.role || "platform"} · platform admin` : caller.role}</span>
        </span>
        <SessionExpiry caller={caller} />
        <button type="button" onClick={() => logout.mutate({})} disabled={logout.isPending}>
          Sign out
        </button>
      </header>
      {acting ? (
        <div role="status" className="notice warning acting">
          Acting in <strong>{acting}</strong> as a platform administrator: every change here is that tenant's.{" "}
          <button type="button" onClick={() => actIn("")}>
            Back to my tenant
          </button>
        </div>
      ) : null}
      <nav aria-label="Console">
        <ul>
          {items.map((i) => (
            <li key={i.page}>
              <a
                href={`/console/${i.page}`}
                aria-current={i === item ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(i.page);
                }}
              >
                {i.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">
        <ErrorNotice error={logout.error} title="Sign out failed" />
        {item ? item.render() : <NotOffered page={route.page} />}
      </main>
    </div>
  );
}

function NotOffered({ page }: { page: string }) {
  return (
    <section>
      <h1 tabIndex={-1}>Not available</h1>
      <p>
        There is no page “{page}” for your role in this tenant. <a href="/console/">Back to the overview</a>.
      </p>
    </section>
  );
}
