import { useMutation } from "@connectrpc/connect-query";
import { AuthService } from "@engine-cloud/api";
import { useState } from "react";
import { consoleQueryClient } from "../api.js";
import { Field } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { navigate } from "../route.js";

/**
 * First run: the server printed /console/setup#code=… once; the code (in the fragment, so it never reaches a
 * log) creates the first platform administrator and signs them in.
 */
export function SetupPage({ code }: { code: string }) {
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const setup = useMutation(AuthService.method.completeSetup, {
    onSuccess: () => {
      navigate("", { replace: true });
      void consoleQueryClient.resetQueries();
    },
  });
  return (
    <main className="centered" id="main">
      <form
        className="card"
        aria-labelledby="setup-title"
        onSubmit={(e) => {
          e.preventDefault();
          setup.mutate({ code, email, password, displayName, browserSession: true });
        }}
      >
        <h1 id="setup-title">Set up Engine Cloud</h1>
        <p>Create the first platform administrator. This link works once, for an hour.</p>
        {!code ? (
          <div role="alert" className="notice error">
            This page needs the setup code: open the whole link the server printed at start-up.
          </div>
        ) : null}
        <Field label="Email" type="email" value={email} onChange={setEmail} required autoComplete="username" />
        <Field label="Name" value={displayName} onChange={setDisplayName} required autoComplete="name" />
        <Field
          label="Password (12 characters or more)"
          type="password"
          value={password}
          onChange={setPassword}
          required
          autoComplete="new-password"
        />
        <ErrorNotice error={setup.error} title="Setup failed" />
        <button type="submit" className="primary" disabled={setup.isPending || !code}>
          Create administrator and sign in
        </button>
      </form>
    </main>
  );
}
