import { useMutation } from "@connectrpc/connect-query";
import { UserService } from "@engine-cloud/api";
import { useState } from "react";
import { Field } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { navigate } from "../route.js";
import { SignInPage } from "./sign-in.js";

/** An invitation link (/console/accept#code=…): choose a name and password, then sign in to the tenant. */
export function AcceptPage({ code }: { code: string }) {
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const accept = useMutation(UserService.method.acceptInvitation, {
    // The code is spent: keep it out of the address bar and the history.
    onSuccess: () => window.history.replaceState(null, "", "/console/accept"),
  });
  if (accept.data) {
    return (
      <SignInPage
        notice={`Welcome to ${accept.data.tenantSlug}. Sign in with your new password.`}
        email={accept.data.member?.email}
        tenant={accept.data.tenantSlug}
        afterSignIn={() => navigate("", { replace: true })}
      />
    );
  }
  return (
    <main className="centered" id="main">
      <form
        className="card"
        aria-labelledby="accept-title"
        onSubmit={(e) => {
          e.preventDefault();
          accept.mutate({ invitationCode: code, displayName, password });
        }}
      >
        <h1 id="accept-title">Accept your invitation</h1>
        {!code ? (
          <div role="alert" className="notice error">
            This page needs the invitation code: open the whole link from the invitation.
          </div>
        ) : null}
        <Field label="Your name" value={displayName} onChange={setDisplayName} required autoComplete="name" />
        <Field
          label="Choose a password (12 characters or more)"
          type="password"
          value={password}
          onChange={setPassword}
          required
          autoComplete="new-password"
        />
        <ErrorNotice error={accept.error} title="Could not accept" />
        <button type="submit" className="primary" disabled={accept.isPending || !code}>
          Join
        </button>
        <p className="fine">
          Already a member?{" "}
          <a href="/console/" onClick={(e) => (e.preventDefault(), navigate(""))}>
            Sign in
          </a>
        </p>
      </form>
    </main>
  );
}
