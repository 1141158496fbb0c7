import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { CredentialService, CredentialType, type Credential } from "@engine-cloud/api";
import { useState } from "react";
import { useCan } from "../caller.js";
import { ConfirmButton, EmptyState, Field, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { relativeTime } from "../time.js";

/** The key name a manual API key is stored under, as `engine-cloud credential put --type api_key` does. */
const API_KEY = "api_key";

/**
 * Credentials of the tenant with their metadata; secret values never come with the list. Revealing one is an
 * explicit click that calls GetCredential, which the server audits as a secret read.
 */
export function CredentialsPage() {
  const canWrite = useCan("credentials.write");
  const canReveal = useCan("credentials.read_secret");
  const [project, setProject] = useState("");
  const credentials = useInfiniteQuery(
    CredentialService.method.listCredentials,
    { pageToken: "", pageSize: 50, project },
    byPageToken,
  );
  const remove = useMutation(CredentialService.method.deleteCredential);
  const rows = credentials.data?.pages.flatMap((p) => p.credentials) ?? [];
  return (
    <section>
      <PageTitle>Credentials</PageTitle>
      {canWrite ? <ApiKeyForm /> : null}
      <div className="panel">
        <h2>Stored credentials</h2>
        <Field label="Filter by project" value={project} onChange={setProject} />
        <ErrorNotice error={credentials.error ?? remove.error} />
        {credentials.isSuccess && rows.length === 0 ? (
          <EmptyState>No credentials yet. Add an API key above, or connect a provider under Connections.</EmptyState>
        ) : null}
        <Table columns={["Name", "Type", "Project", "Keys", "Identity", "Version", "Changed"]} actions>
          {rows.map((c) => (
            <tr key={c.id} data-testid={`credential-${c.provider}/${c.alias}`}>
              <td>
                {c.provider}/{c.alias}
              </td>
              <td>{CredentialType[c.type].toLowerCase()}</td>
              <td>{c.project || "all"}</td>
              <td>{Object.keys(c.keys).join(", ")}</td>
              <td>
                {Object.entries(c.identity)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(", ")}
              </td>
              <td>{c.version.toString()}</td>
              <td>{relativeTime(c.updatedAt)}</td>
              <td>
                {canReveal ? <Reveal credential={c} /> : null}
                {canWrite ? (
                  <ConfirmButton
                    label="Delete"
                    confirm={`Delete ${c.provider}/${c.alias}? Runtimes lose it at their next sync.`}
                    onConfirm={() => remove.mutate({ id: c.id })}
                  />
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        <MoreButton query={credentials} />
      </div>
    </section>
  );
}

/** Shows the secret values only after the click, which the server records as a secret read by you. */
function Reveal({ credential }: { credential: Credential }) {
  const get = useMutation(CredentialService.method.getCredential);
  if (get.data?.credential) {
    return (
      <div className="revealed" data-testid="revealed">
        {Object.entries(get.data.credential.keys).map(([name, key]) => (
          <div key={name}>
            {name}: <code className="secret">{key.value}</code>
          </div>
        ))}
        <button type="button" onClick={() => get.reset()}>
          Hide
        </button>
      </div>
    );
  }
  return (
    <>
      <button type="button" onClick={() => get.mutate({ id: credential.id })} disabled={get.isPending}>
        Reveal
      </button>
      <ErrorNotice error={get.error} />
    </>
  );
}

/** A manual API key: creating one for a provider/alias that exists rotates it (a new version). */
function ApiKeyForm() {
  const [provider, setProvider] = useState("");
  const [alias, setAlias] = useState("default");
  const [project, setProject] = useState("");
  const [secret, setSecret] = useState("");
  const put = useMutation(CredentialService.method.putCredential, { onSuccess: () => setSecret("") });
  return (
    <form
      className="panel"
      aria-labelledby="api-key-title"
      onSubmit={(e) => {
        e.preventDefault();
        put.mutate({ provider, alias, project, type: CredentialType.API_KEY, keys: { [API_KEY]: { value: secret } } });
      }}
    >
      <h2 id="api-key-title">Add or rotate an API key</h2>
      <div className="row">
        <Field label="Provider" value={provider} onChange={setProvider} required placeholder="openai" />
        <Field label="Alias" value={alias} onChange={setAlias} required />
        <Field label="Project (empty: every project)" value={project} onChange={setProject} />
        <Field label="API key" type="password" value={secret} onChange={setSecret} required autoComplete="off" />
        <button type="submit" disabled={put.isPending}>
          Save key
        </button>
      </div>
      <ErrorNotice error={put.error} title="Not saved" />
      {put.data?.credential ? (
        <p role="status" className="notice ok">
          Saved {put.data.credential.provider}/{put.data.credential.alias}, version {put.data.credential.version.toString()}.
        </p>
      ) : null}
    </form>
  );
}
