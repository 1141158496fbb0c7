import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { ProjectService, ProjectState } from "@engine-cloud/api";
import { useState } from "react";
import { useCan } from "../caller.js";
import { EmptyState, Field, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { formatTime } from "../time.js";

/** The project policy: which projects' runtimes may sync this tenant's credentials, and a dry run of the check. */
export function ProjectsPage() {
  const canWrite = useCan("projects.write");
  const canCheck = useCan("projects.check");
  const projects = useInfiniteQuery(ProjectService.method.listProjects, { pageToken: "", pageSize: 50 }, byPageToken);
  const allow = useMutation(ProjectService.method.allowProject);
  const deny = useMutation(ProjectService.method.denyProject);
  const [name, setName] = useState("");
  const rows = projects.data?.pages.flatMap((p) => p.projects) ?? [];
  return (
    <section>
      <PageTitle>Projects</PageTitle>
      {canWrite ? (
        <form className="panel" aria-labelledby="policy-title" onSubmit={(e) => e.preventDefault()}>
          <h2 id="policy-title">Allow or deny a project</h2>
          <div className="row">
            <Field label="Project name" value={name} onChange={setName} required />
            <button type="button" onClick={() => allow.mutate({ name })} disabled={!name}>
              Allow
            </button>
            <button type="button" onClick={() => deny.mutate({ name })} disabled={!name}>
              Deny
            </button>
          </div>
        </form>
      ) : null}
      <ErrorNotice error={projects.error ?? allow.error ?? deny.error} />
      <div className="panel">
        <h2>Policy</h2>
        {projects.isSuccess && rows.length === 0 ? (
          <EmptyState>
            No project has a policy yet: every project is unknown, and unknown projects are refused.{" "}
            {canWrite ? "Allow one above." : ""}
          </EmptyState>
        ) : null}
        <Table columns={["Project", "State", "Changed", "By"]} actions>
          {rows.map((p) => (
            <tr key={p.name} data-testid={`project-${p.name}`}>
              <td>{p.name}</td>
              <td>
                <span className={p.state === ProjectState.ALLOWED ? "badge ok" : "badge bad"}>
                  {ProjectState[p.state].toLowerCase()}
                </span>
              </td>
              <td>{formatTime(p.updatedAt)}</td>
              <td>{p.updatedBy}</td>
              <td>
                {canWrite ? (
                  p.state === ProjectState.ALLOWED ? (
                    <button type="button" onClick={() => deny.mutate({ name: p.name })}>
                      Deny {p.name}
                    </button>
                  ) : (
                    <button type="button" onClick={() => allow.mutate({ name: p.name })}>
                      Allow {p.name}
                    </button>
                  )
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        <MoreButton query={projects} />
      </div>
      {canCheck ? <CheckProject /> : null}
    </section>
  );
}

function CheckProject() {
  const [name, setName] = useState("");
  const check = useMutation(ProjectService.method.checkProject);
  return (
    <form
      className="panel"
      aria-labelledby="check-title"
      onSubmit={(e) => {
        e.preventDefault();
        check.mutate({ name });
      }}
    >
      <h2 id="check-title">Check a project</h2>
      <p>What a runtime of this project would be told, without it connecting.</p>
      <div className="row">
        <Field label="Project to check" value={name} onChange={setName} required />
        <button type="submit">Check</button>
      </div>
      <ErrorNotice error={check.error} />
      {check.data ? (
        <p role="status" className={check.data.allowed ? "notice ok" : "notice error"} data-testid="check-result">
          {check.data.allowed ? "Allowed" : "Refused"}
          {check.data.reason ? (
            <>
              {" "}
              <code className="reason">{check.data.reason}</code>
            </>
          ) : null}
          {check.data.message ? `: ${check.data.message}` : null}
        </p>
      ) : null}
    </form>
  );
}
