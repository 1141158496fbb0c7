import { useInfiniteQuery } from "@connectrpc/connect-query";
import { RuntimeService, RuntimeState } from "@engine-cloud/api";
import { useState } from "react";
import { EmptyState, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { formatTime, relativeTime } from "../time.js";

/** Runtimes holding a sync stream now (and, on request, those gone offline), refreshed every few seconds. */
export function RuntimesPage() {
  const [includeOffline, setIncludeOffline] = useState(true);
  const runtimes = useInfiniteQuery(
    RuntimeService.method.listRuntimes,
    { pageToken: "", pageSize: 50, includeOffline },
    { ...byPageToken, refetchInterval: 3_000 },
  );
  const rows = runtimes.data?.pages.flatMap((p) => p.runtimes) ?? [];
  return (
    <section>
      <PageTitle>Runtimes</PageTitle>
      <label className="check">
        <input type="checkbox" checked={includeOffline} onChange={(e) => setIncludeOffline(e.target.checked)} /> Show offline
        runtimes
      </label>
      <ErrorNotice error={runtimes.error} />
      {runtimes.isSuccess && rows.length === 0 ? (
        <EmptyState>
          No runtime is connected. Start one with a runtime token (Tokens page) as its ENGINE_OAUTH_API_KEY.
        </EmptyState>
      ) : null}
      <Table columns={["Runtime", "State", "Project", "Token", "Connected since", "Offline since", "Revision lag"]}>
        {rows.map((r) => (
          <tr key={r.streamId} data-testid={`runtime-${r.tokenLabel}`} data-state={RuntimeState[r.state].toLowerCase()}>
            <td>
              {r.info?.name || r.runtimeId || r.streamId.slice(0, 8)}
              {r.info ? (
                <div className="fine">
                  {[r.info.host, r.info.sdk && `${r.info.sdk} ${r.info.sdkVersion}`].filter(Boolean).join(" · ")}
                </div>
              ) : null}
            </td>
            <td>
              <span className={r.state === RuntimeState.CONNECTED ? "badge ok" : "badge"}>
                {RuntimeState[r.state].toLowerCase()}
              </span>
            </td>
            <td>{r.project}</td>
            <td>{r.tokenLabel}</td>
            <td>{formatTime(r.connectedSince)}</td>
            <td>{r.offlineSince ? relativeTime(r.offlineSince) : "—"}</td>
            <td>{r.revisionLag.toString()}</td>
          </tr>
        ))}
      </Table>
      <MoreButton query={runtimes} />
    </section>
  );
}
