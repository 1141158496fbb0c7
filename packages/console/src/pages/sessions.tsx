import { useMutation, useQuery } from "@connectrpc/connect-query";
import { AuthService } from "@engine-cloud/api";
import { ConfirmButton, EmptyState, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
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
      <table>
        <thead>
          <tr>
            <th scope="col">Session</th>
            <th scope="col">Started</th>
            <th scope="col">Last used</th>
            <th scope="col">Idle expiry</th>
            <th scope="col">Ends</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
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
        </tbody>
      </table>
    </section>
  );
}
