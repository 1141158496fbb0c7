import { useMutation } from "@connectrpc/connect-query";
import { AuthService } from "@engine-cloud/api";
import { useState } from "react";
import { consoleQueryClient } from "../api.js";
import { useCaller } from "../caller.js";
import { Field, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { navigate } from "../route.js";

/** Your role, switching tenant (a new session for the other tenant, in the cookie) and changing your password. */
export function AccountPage() {
  const caller = useCaller();
  return (
    <section>
      <PageTitle>Account</PageTitle>
      <p>
        You are <strong>{caller.role || "—"}</strong> in <strong>{caller.tenantSlug}</strong>.
      </p>
      <SwitchTenant />
      <ChangePassword />
    </section>
  );
}

function SwitchTenant() {
  const [tenant, setTenant] = useState("");
  const switchTenant = useMutation(AuthService.method.switchTenant, {
    onSuccess: () => {
      navigate("");
      void consoleQueryClient.resetQueries();
    },
  });
  return (
    <form
      className="panel"
      aria-labelledby="switch-title"
      onSubmit={(e) => {
        e.preventDefault();
        switchTenant.mutate({ tenant });
      }}
    >
      <h2 id="switch-title">Switch tenant</h2>
      <Field label="Tenant slug" value={tenant} onChange={setTenant} required />
      <ErrorNotice error={switchTenant.error} title="Could not switch" />
      <button type="submit" disabled={switchTenant.isPending}>
        Switch
      </button>
    </form>
  );
}

function ChangePassword() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const change = useMutation(AuthService.method.changePassword, {
    onSuccess: () => {
      setCurrent("");
      setNext("");
    },
  });
  return (
    <form
      className="panel"
      aria-labelledby="password-title"
      onSubmit={(e) => {
        e.preventDefault();
        change.mutate({ currentPassword: current, newPassword: next });
      }}
    >
      <h2 id="password-title">Change password</h2>
      <Field
        label="Current password"
        type="password"
        value={current}
        onChange={setCurrent}
        required
        autoComplete="current-password"
      />
      <Field
        label="New password (12 characters or more)"
        type="password"
        value={next}
        onChange={setNext}
        required
        autoComplete="new-password"
      />
      <ErrorNotice error={change.error} title="Password not changed" />
      {change.isSuccess ? (
        <p role="status" className="notice ok">
          Password changed. Your other sessions were signed out.
        </p>
      ) : null}
      <button type="submit" disabled={change.isPending}>
        Change password
      </button>
    </form>
  );
}
