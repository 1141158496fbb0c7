import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { TokenKind, TokenService, type CreateTokenResponse } from "@engine-cloud/api";
import { useState } from "react";
import { useCan, useCaller } from "../caller.js";
import { ConfirmButton, CopyButton, Dialog, EmptyState, Field, PageTitle, Select } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { formatTime, relativeTime } from "../time.js";

const kindLabels: Record<TokenKind, string> = {
  [TokenKind.UNSPECIFIED]: "—",
  [TokenKind.PLATFORM_ADMIN]: "platform admin",
  [TokenKind.TENANT_ADMIN]: "tenant admin",
  [TokenKind.RUNTIME]: "runtime",
  [TokenKind.SERVICE]: "service",
};

/** API tokens: runtimes' keys and automation's. The secret is shown once, at creation; lists never show it. */
export function TokensPage() {
  const canCreate = useCan("tokens.create");
  const canRevoke = useCan("tokens.revoke");
  const [showInactive, setShowInactive] = useState(false);
  const tokens = useInfiniteQuery(TokenService.method.listTokens, { pageToken: "", pageSize: 50, showInactive }, byPageToken);
  const revoke = useMutation(TokenService.method.revokeToken);
  const rows = tokens.data?.pages.flatMap((p) => p.tokens) ?? [];
  return (
    <section>
      <PageTitle>Tokens</PageTitle>
      {canCreate ? <CreateToken /> : null}
      <div className="panel">
        <h2>Tokens of this tenant</h2>
        <label className="check">
          <input type="checkbox" checked={showInactive} onChange={(e) => setShowInactive(e.target.checked)} /> Show revoked and
          expired
        </label>
        <ErrorNotice error={tokens.error ?? revoke.error} />
        {tokens.isSuccess && rows.length === 0 ? (
          <EmptyState>
            No tokens yet.{" "}
            {canCreate ? "Create one above: a runtime needs one as its ENGINE_OAUTH_API_KEY." : "An admin can create one."}
          </EmptyState>
        ) : null}
        <Table columns={["Label", "Kind", "Prefix", "Projects", "Last used", "Expires"]} actions>
          {rows.map((t) => (
            <tr key={t.id} data-testid={`token-${t.label}`}>
              <td>{t.label}</td>
              <td>{kindLabels[t.kind]}</td>
              <td>
                <code>{t.displayPrefix}</code>
              </td>
              <td>{t.projects.join(", ") || "all"}</td>
              <td>{t.lastUsedAt ? relativeTime(t.lastUsedAt) : "never"}</td>
              <td>
                {t.revokedAt ? <span className="badge bad">revoked {formatTime(t.revokedAt)}</span> : formatTime(t.expiresAt)}
              </td>
              <td>
                {canRevoke && !t.revokedAt ? (
                  <ConfirmButton
                    label="Revoke"
                    confirm={`Revoke “${t.label}”? Whatever uses it is refused from its next request, and open streams end.`}
                    onConfirm={() => revoke.mutate({ id: t.id })}
                  />
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        <MoreButton query={tokens} />
      </div>
    </section>
  );
}

/** Token kinds a caller may mint here: platform tokens only for platform administrators. */
function kindOptions(platformAdmin: boolean) {
  const kinds = [
    TokenKind.RUNTIME,
    TokenKind.SERVICE,
    TokenKind.TENANT_ADMIN,
    ...(platformAdmin ? [TokenKind.PLATFORM_ADMIN] : []),
  ];
  return kinds.map((value) => ({ value, label: kindLabels[value] }));
}

function CreateToken() {
  const caller = useCaller();
  const [label, setLabel] = useState("");
  const [kind, setKind] = useState<TokenKind>(TokenKind.RUNTIME);
  const [projects, setProjects] = useState("");
  const [created, setCreated] = useState<CreateTokenResponse | undefined>();
  const create = useMutation(TokenService.method.createToken, {
    onSuccess: (res) => {
      setCreated(res);
      setLabel("");
      setProjects("");
    },
  });
  return (
    <form
      className="panel"
      aria-labelledby="create-token-title"
      onSubmit={(e) => {
        e.preventDefault();
        const names = projects
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean);
        create.mutate({ label, kind, projects: names });
      }}
    >
      <h2 id="create-token-title">Create a token</h2>
      <div className="row">
        <Field label="Label" value={label} onChange={setLabel} required />
        <Select label="Kind" value={kind} options={kindOptions(caller.platformAdmin)} onChange={setKind} />
        <Field label="Projects (comma-separated)" value={projects} onChange={setProjects} placeholder="billing, crm" />
        <button type="submit" disabled={create.isPending}>
          Create
        </button>
      </div>
      <ErrorNotice error={create.error} title="Not created" />
      {/* The secret lives only in this dialog's state: closing it drops it for good. */}
      <Dialog title="Your new token" open={created !== undefined} onClose={() => setCreated(undefined)}>
        <p>
          Copy <strong>{created?.token?.label}</strong> now: it is shown this once and never again.
        </p>
        <div className="row">
          <input
            aria-label="Token secret"
            readOnly
            value={created?.secret ?? ""}
            data-testid="token-secret"
            className="secret"
            onFocus={(e) => e.target.select()}
          />
          <CopyButton value={created?.secret ?? ""} />
        </div>
        <div className="actions">
          <button type="button" className="primary" onClick={() => setCreated(undefined)}>
            I have copied it
          </button>
        </div>
      </Dialog>
    </form>
  );
}
