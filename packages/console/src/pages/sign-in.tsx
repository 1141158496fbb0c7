import { useMutation } from "@connectrpc/connect-query";
import { AuthService } from "@engine-cloud/api";
import { useState } from "react";
import { consoleQueryClient } from "../api.js";
import { Field } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";

/** Email and password; the session arrives as an HttpOnly cookie (browser_session), never in the page. */
export function SignInPage({
  notice,
  email: initialEmail = "",
  tenant: initialTenant = "",
  afterSignIn,
}: {
  notice?: string;
  email?: string;
  tenant?: string;
  /** Where to go once signed in, e.g. away from the invitation page. */
  afterSignIn?: () => void;
}) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState("");
  const [tenant, setTenant] = useState(initialTenant);
  const login = useMutation(AuthService.method.login, {
    onSuccess: () => {
      afterSignIn?.();
      void consoleQueryClient.resetQueries();
    },
  });
  return (
    <main className="centered" id="main">
      <form
        className="card"
        aria-labelledby="sign-in-title"
        onSubmit={(e) => {
          e.preventDefault();
          login.mutate({ email, password, tenant, browserSession: true });
        }}
      >
        <h1 id="sign-in-title">Sign in to Engine Cloud</h1>
        {notice ? (
          <div role="status" className="notice warning">
            {notice}
          </div>
        ) : null}
        <Field label="Email" type="email" value={email} onChange={setEmail} required autoComplete="username" />
        <Field
          label="Password"
          type="password"
          value={password}
          onChange={setPassword}
          required
          autoComplete="current-password"
        />
        <Field label="Tenant (optional)" value={tenant} onChange={setTenant} placeholder="your first tenant if empty" />
        <ErrorNotice error={login.error} title="Sign-in failed" />
        <button type="submit" className="primary" disabled={login.isPending}>
          {login.isPending ? "Signing in…" : "Sign in"}
        </button>
        <p className="fine">First start of a new server? Open the setup link the server printed (…/console/setup#code=…).</p>
      </form>
    </main>
  );
}
