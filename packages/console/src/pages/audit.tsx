import { useInfiniteQuery } from "@connectrpc/connect-query";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AuditService, type AuditEvent, type AuditFilterSchema } from "@engine-cloud/api";
import { useEffect, useState } from "react";
import { consoleClient } from "../api.js";
import { useCaller } from "../caller.js";
import { EmptyState, Field, PageTitle } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { MoreButton } from "../more-button.js";
import { formatTime } from "../time.js";

type FilterInit = MessageInitShape<typeof AuditFilterSchema>;

/**
 * The tenant's audit chain (or the platform's, for platform administrators): filters, pages by sequence, a live
 * tail over the WatchAuditEvents stream, and the export the CLI verifies offline.
 */
export function AuditPage() {
  const caller = useCaller();
  const [draft, setDraft] = useState({ actor: "", action: "", target: "", outcome: "" });
  const [platform, setPlatform] = useState(false);
  const [filter, setFilter] = useState<FilterInit>({});
  const [live, setLive] = useState(false);
  const fullFilter: FilterInit = { ...filter, platform };
  return (
    <section>
      <PageTitle>Audit log</PageTitle>
      <form
        className="panel"
        aria-labelledby="audit-filter-title"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ ...draft });
        }}
      >
        <h2 id="audit-filter-title">Filter</h2>
        <div className="row">
          <Field
            label="Action"
            value={draft.action}
            onChange={(action) => setDraft({ ...draft, action })}
            placeholder="token.create"
          />
          <Field label="Actor" value={draft.actor} onChange={(actor) => setDraft({ ...draft, actor })} placeholder="user:<id>" />
          <Field label="Target" value={draft.target} onChange={(target) => setDraft({ ...draft, target })} />
          <Field label="Outcome" value={draft.outcome} onChange={(outcome) => setDraft({ ...draft, outcome })} placeholder="ok" />
          <button type="submit">Apply filter</button>
        </div>
        {caller.platformAdmin ? (
          <label className="check">
            <input type="checkbox" checked={platform} onChange={(e) => setPlatform(e.target.checked)} /> The platform chain
            (tenants, platform tokens, key rotation)
          </label>
        ) : null}
        <label className="check">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Live tail
        </label>
      </form>
      <ExportButton platform={platform} />
      {live ? (
        <LiveTail filter={fullFilter} />
      ) : (
        <EventPages filter={fullFilter} unfiltered={!filter.action && !filter.actor && !filter.target && !filter.outcome} />
      )}
    </section>
  );
}

function EventPages({ filter, unfiltered }: { filter: FilterInit; unfiltered: boolean }) {
  const events = useInfiniteQuery(
    AuditService.method.listAuditEvents,
    { filter, afterSeq: 0n, pageSize: 100 },
    { pageParamKey: "afterSeq", getNextPageParam: (p) => (p.nextAfterSeq > 0n ? p.nextAfterSeq : undefined) },
  );
  const rows = events.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <div className="panel">
      <ErrorNotice error={events.error} />
      {unfiltered && rows.length ? <ChainLinks events={rows} /> : null}
      {events.isSuccess && rows.length === 0 ? (
        <EmptyState>No event matches: clear the filter, or do something in this tenant.</EmptyState>
      ) : null}
      <EventTable events={rows} />
      <MoreButton query={events} />
    </div>
  );
}

/**
 * Whether each listed event names its predecessor's hash: a link missing or altered shows here. Recomputing
 * the hashes and checking the signed checkpoints needs node:crypto (@engine-cloud/api/audit-chain.js); that is
 * `engine-cloud audit verify`, offline on the export below.
 */
function ChainLinks({ events }: { events: AuditEvent[] }) {
  const broken = events.findIndex(
    (e, i) => i > 0 && events[i - 1]!.seq + 1n === e.seq && !sameBytes(e.prevHash, events[i - 1]!.hash),
  );
  return broken < 0 ? (
    <p className="notice ok" data-testid="chain-status">
      Chain links intact for the {events.length} events shown. Full verification: export, then{" "}
      <code>engine-cloud audit verify --file</code>.
    </p>
  ) : (
    <p role="alert" className="notice error" data-testid="chain-status">
      Chain broken at seq {events[broken]!.seq.toString()}: its previous hash is not the hash of seq{" "}
      {events[broken - 1]!.seq.toString()}.
    </p>
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function LiveTail({ filter }: { filter: FilterInit }) {
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    const abort = new AbortController();
    setEvents([]);
    setError(undefined);
    void (async () => {
      try {
        // From the start of the chain, keeping the last 200: the tail shows what happened just before, then live.
        for await (const r of consoleClient(AuditService).watchAuditEvents({ filter, afterSeq: 0n }, { signal: abort.signal })) {
          if (r.event) setEvents((prev) => [...prev.slice(-199), r.event!]);
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(err);
      }
    })();
    return () => abort.abort();
  }, [JSON.stringify(filter)]);
  return (
    <div className="panel" aria-live="polite">
      <p className="fine" data-testid="live-tail">
        Live: new events appear as they commit.
      </p>
      <ErrorNotice error={error} title="The live tail stopped" />
      <EventTable events={[...events].reverse()} />
    </div>
  );
}

function EventTable({ events }: { events: AuditEvent[] }) {
  return (
    <Table columns={["Seq", "Time", "Actor", "Action", "Target", "Outcome"]} className="audit">
      {events.map((e) => (
        <tr key={`${e.chain}:${e.seq}`} data-action={e.action}>
          <td>{e.seq.toString()}</td>
          <td>{formatTime(e.time)}</td>
          <td>{e.actor ? `${e.actor.kind}:${e.actor.id}` : ""}</td>
          <td>{e.action}</td>
          <td>{e.target}</td>
          <td>{e.outcome}</td>
        </tr>
      ))}
    </Table>
  );
}

/** The whole chain as JSON Lines with its checkpoints, downloaded as a file (a blob: URL, nothing leaves the page). */
function ExportButton({ platform }: { platform: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <div className="panel">
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            const parts: BlobPart[] = [];
            for await (const r of consoleClient(AuditService).exportAuditEvents({ platform })) parts.push(r.lines.slice());
            const url = URL.createObjectURL(new Blob(parts, { type: "application/x-ndjson" }));
            const a = document.createElement("a");
            a.href = url;
            a.download = `audit-${platform ? "platform" : "tenant"}.jsonl`;
            a.click();
            URL.revokeObjectURL(url);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? "Exporting…" : "Export (JSON Lines)"}
      </button>
      <ErrorNotice error={error} title="Export failed" />
    </div>
  );
}
