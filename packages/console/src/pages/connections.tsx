import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { ConnectionService, ConnectionStatus, OAuthAppService, type Connection } from "@engine-cloud/api";
import { useState } from "react";
import { useCan } from "../caller.js";
import { ConfirmButton, EmptyState, Field, PageTitle, Select } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { useRoute } from "../route.js";
import { formatTime, relativeTime } from "../time.js";

const statusClass: Record<ConnectionStatus, string> = {
  [ConnectionStatus.UNSPECIFIED]: "badge",
  [ConnectionStatus.ACTIVE]: "badge ok",
  [ConnectionStatus.DEGRADED]: "badge warn",
  [ConnectionStatus.STALE]: "badge warn",
  [ConnectionStatus.NEEDS_REAUTH]: "badge bad loud",
  [ConnectionStatus.DISCONNECTED]: "badge",
};

/**
 * Provider accounts connected through the hub. Connecting is a full-page trip: StartConnect gives the provider's
 * authorization URL, the provider sends the browser to the server's callback, which links back here. A
 * connection that needs reauthorization says so loudly; /console/connections/<id> (the hub's reauthorize URL)
 * puts that one first.
 */
export function ConnectionsPage() {
  const canWrite = useCan("connections.write");
  const canReadApps = useCan("oauth_apps.read");
  const route = useRoute();
  const focusId = route.rest[0];
  return (
    <section>
      <PageTitle>Connections</PageTitle>
      {canWrite ? <ConnectForm /> : null}
      <ConnectionList canWrite={canWrite} focusId={focusId} />
      {canReadApps ? <OAuthApps /> : null}
    </section>
  );
}

function ConnectForm() {
  const providers = useQuery(ConnectionService.method.listProviders, {});
  const [provider, setProvider] = useState("");
  const [project, setProject] = useState("");
  const [alias, setAlias] = useState("default");
  const start = useMutation(ConnectionService.method.startConnect, {
    onSuccess: (res) => window.location.assign(res.authorizationUrl),
  });
  // Providers with an OAuth app of this tenant come first: only those can be connected right away.
  const apps = useQuery(OAuthAppService.method.listOAuthApps, {}, { enabled: useCan("oauth_apps.read") });
  const withApp = new Set(apps.data?.apps.map((a) => a.provider) ?? []);
  const options = (providers.data?.providers ?? [])
    .map((p) => ({
      value: p.id,
      label: `${p.displayName || p.id}${withApp.has(p.id) ? "" : " (no OAuth app yet)"}`,
      ready: withApp.has(p.id),
    }))
    .sort((a, b) => Number(b.ready) - Number(a.ready));
  const chosen = provider || options[0]?.value || "";
  return (
    <form
      className="panel"
      aria-labelledby="connect-title"
      onSubmit={(e) => {
        e.preventDefault();
        start.mutate({ provider: chosen, project, alias });
      }}
    >
      <h2 id="connect-title">Connect an account</h2>
      <ErrorNotice error={providers.error} />
      {providers.isSuccess && options.length === 0 ? (
        <EmptyState>No provider is configured: add an OAuth app below first.</EmptyState>
      ) : null}
      {options.length ? (
        <div className="row">
          <Select label="Provider" value={chosen} options={options} onChange={setProvider} />
          <Field label="Project (empty: every project)" value={project} onChange={setProject} />
          <Field label="Alias" value={alias} onChange={setAlias} required />
          <button type="submit" disabled={start.isPending}>
            {start.isPending ? "Opening the provider…" : "Connect"}
          </button>
        </div>
      ) : null}
      <ErrorNotice error={start.error} title="Could not start" />
    </form>
  );
}

function ConnectionList({ canWrite, focusId }: { canWrite: boolean; focusId?: string }) {
  const connections = useInfiniteQuery(ConnectionService.method.listConnections, { pageToken: "", pageSize: 50 }, byPageToken);
  const refresh = useMutation(ConnectionService.method.refreshConnection);
  const disconnect = useMutation(ConnectionService.method.disconnectConnection);
  // Reconnecting is connecting again under the same name: the hub replaces the grant of the same connection.
  const reconnect = useMutation(ConnectionService.method.startConnect, {
    onSuccess: (res) => window.location.assign(res.authorizationUrl),
  });
  const rows = connections.data?.pages.flatMap((p) => p.connections) ?? [];
  const ordered = focusId ? [...rows.filter((c) => c.id === focusId), ...rows.filter((c) => c.id !== focusId)] : rows;
  const needReauth = rows.filter((c) => c.status === ConnectionStatus.NEEDS_REAUTH);
  return (
    <div className="panel">
      <h2>Connected accounts</h2>
      {needReauth.length ? (
        <div role="alert" className="notice error loud">
          {needReauth.length === 1 ? "1 connection needs" : `${needReauth.length} connections need`} to be reconnected: runtimes
          get no fresh tokens for {needReauth.map((c) => `${c.provider}/${c.alias}`).join(", ")} until someone connects again.
        </div>
      ) : null}
      <ErrorNotice error={connections.error ?? refresh.error ?? disconnect.error ?? reconnect.error} />
      {connections.isSuccess && rows.length === 0 ? (
        <EmptyState>No connections yet. {canWrite ? "Connect an account above." : ""}</EmptyState>
      ) : null}
      <Table columns={["Account", "Status", "Project", "Token expires", "Last refresh"]} actions>
        {ordered.map((c) => (
          <ConnectionRow
            key={c.id}
            c={c}
            focused={c.id === focusId}
            canWrite={canWrite}
            onRefresh={() => refresh.mutate({ id: c.id })}
            onDisconnect={() => disconnect.mutate({ id: c.id })}
            onReconnect={() => reconnect.mutate({ provider: c.provider, project: c.project, alias: c.alias })}
          />
        ))}
      </Table>
      <MoreButton query={connections} />
    </div>
  );
}

function ConnectionRow(props: {
  c: Connection;
  focused: boolean;
  canWrite: boolean;
  onRefresh: () => void;
  onDisconnect: () => void;
  onReconnect: () => void;
}) {
  const { c } = props;
  return (
    <tr data-testid={`connection-${c.provider}/${c.alias}`} className={props.focused ? "focused" : undefined}>
      <td>
        {c.provider}/{c.alias} {c.externalAccount ? <span className="fine">({c.externalAccount})</span> : null}
      </td>
      <td>
        <span className={statusClass[c.status]}>{ConnectionStatus[c.status].toLowerCase().replace("_", " ")}</span>
        {c.statusDescription ? <div className="fine">{c.statusDescription}</div> : null}
      </td>
      <td>{c.project || "all"}</td>
      <td>{relativeTime(c.accessTokenExpiresAt)}</td>
      <td>{formatTime(c.lastRefreshAt)}</td>
      <td>
        {props.canWrite && c.status !== ConnectionStatus.DISCONNECTED ? (
          <>
            {c.status === ConnectionStatus.NEEDS_REAUTH ? (
              <button type="button" className="primary" onClick={props.onReconnect}>
                Reconnect
              </button>
            ) : (
              <button type="button" onClick={props.onRefresh}>
                Refresh
              </button>
            )}
            <ConfirmButton
              label="Disconnect"
              confirm={`Disconnect ${c.provider}/${c.alias}? The grant is revoked at the provider where it allows.`}
              onConfirm={props.onDisconnect}
            />
          </>
        ) : null}
      </td>
    </tr>
  );
}

function OAuthApps() {
  const canWrite = useCan("oauth_apps.write");
  const apps = useQuery(OAuthAppService.method.listOAuthApps, {});
  const remove = useMutation(OAuthAppService.method.deleteOAuthApp);
  const set = useMutation(OAuthAppService.method.setOAuthApp);
  const [provider, setProvider] = useState("");
  const [clientId, setClientId] = useState("");
  const [clientSecret, setClientSecret] = useState("");
  return (
    <div className="panel">
      <h2>OAuth apps</h2>
      <ErrorNotice error={apps.error ?? remove.error ?? set.error} />
      {apps.isSuccess && apps.data.apps.length === 0 ? (
        <EmptyState>No OAuth app yet: register your app's client id and secret for a provider.</EmptyState>
      ) : null}
      <ul className="plain">
        {apps.data?.apps.map((a) => (
          <li key={a.id}>
            <strong>{a.provider}</strong> client <code>{a.clientId}</code> {a.hasClientSecret ? "(secret set)" : "(no secret)"}{" "}
            {a.scopes.join(" ")}{" "}
            {canWrite ? (
              <ConfirmButton
                label="Delete app"
                confirm={`Delete the OAuth app of ${a.provider}?`}
                onConfirm={() => remove.mutate({ provider: a.provider })}
              />
            ) : null}
          </li>
        ))}
      </ul>
      {canWrite ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            set.mutate({ provider, clientId, clientSecret }, { onSuccess: () => setClientSecret("") });
          }}
        >
          <div className="row">
            <Field label="App provider" value={provider} onChange={setProvider} required placeholder="hubspot" />
            <Field label="Client id" value={clientId} onChange={setClientId} required />
            <Field label="Client secret" type="password" value={clientSecret} onChange={setClientSecret} autoComplete="off" />
            <button type="submit">Save app</button>
          </div>
        </form>
      ) : null}
    </div>
  );
}
