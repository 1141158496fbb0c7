import { useMutation, useQuery } from "@connectrpc/connect-query";
import { AuthService } from "@engine-cloud/api";
import { ConfirmButton, EmptyState, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { formatTime, relativeTime } from "../time.js";

/** Your open sessions (this browser and others, e.g. the CLI's); revoking one ends it on its next request. */
export function SessionsPage() {
  const sessions = useQuery(AuthService.method.listSessions, {});
  const revoke = useMutation(AuthService.method.revokeSession);
  return (
    <section>
      <PageTitle>Sessions</PageTitle>
      <ErrorNotice error={sessions.error ?? revoke.error} />
      {sessions.data?.sessions.length === 0 ? <EmptyState>No open sessions.</EmptyState> : null}
      <Table columns={["Session", "Started", "Last used", "Idle expiry", "Ends"]} actions>
        {sessions.data?.sessions.map((s) => (
          <tr key={s.id}>
            <td>
              <code>{s.displayPrefix}</code> {s.current ? <span className="badge">this browser</span> : null}
            </td>
            <td>{formatTime(s.createdAt)}</td>
            <td>{relativeTime(s.lastUsedAt)}</td>
            <td>{relativeTime(s.idleExpiresAt)}</td>
            <td>{formatTime(s.expiresAt)}</td>
            <td>
              {s.current ? null : (
                <ConfirmButton
                  label="Revoke"
                  confirm={`Revoke session ${s.displayPrefix}? It stops working at once.`}
                  onConfirm={() => revoke.mutate({ id: s.id })}
                />
              )}
            </td>
          </tr>
        ))}
      </Table>
    </section>
  );
}
