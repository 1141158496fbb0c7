import { useQuery } from "@connectrpc/connect-query";
import { ServerService } from "@engine-cloud/api";
import { PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";

/** The server answering this console: version, API and protocols (GetServerInfo), polled as a health check. */
export function ServerPage() {
  const info = useQuery(ServerService.method.getServerInfo, {}, { refetchInterval: 10_000 });
  return (
    <section>
      <PageTitle>Server</PageTitle>
      <ErrorNotice error={info.error} title="Unhealthy" />
      {info.data ? (
        <dl className="facts" data-testid="server-info">
          <dt>Health</dt>
          <dd>
            <span className="badge ok">serving</span> (checked {new Date(info.dataUpdatedAt).toLocaleTimeString()})
          </dd>
          <dt>Version</dt>
          <dd>{info.data.version}</dd>
          <dt>API</dt>
          <dd>{info.data.api}</dd>
          <dt>Protocols</dt>
          <dd>{info.data.protocols.join(", ")}</dd>
        </dl>
      ) : null}
    </section>
  );
}
