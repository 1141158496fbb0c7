import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ResourceKind, RuntimeInfoSchema, WatchResponse } from "@engine-cloud/api";
import { describeCloudError, type CloudClient, type CloudErrorDetails } from "@engine-cloud/sdk";

type RuntimeInfoInit = MessageInitShape<typeof RuntimeInfoSchema>;

export interface WatchRecorder {
  /** Every event the stream sent so far, in order. */
  readonly events: WatchResponse[];
  /**
   * The first event, already received or still to come, that matches. Rejects
   * (listing what did arrive) after `timeoutMs`, or when the stream ends first.
   */
  until(match: (e: WatchResponse) => boolean, timeoutMs?: number): Promise<WatchResponse>;
  /** Resolves when the stream ends: undefined if it ended cleanly or was closed, else what its error said. */
  readonly ended: Promise<CloudErrorDetails | undefined>;
  /** performance.now() when the client saw the stream end. */
  readonly endedAt: number | undefined;
  close(): Promise<void>;
}

/**
 * Opens a Watch stream and reads it in the background, recording every event.
 * `timeoutMs` sets a deadline on the call, which the server serves on its
 * generic stream path rather than the binary fast path.
 */
export function recordWatch(
  client: CloudClient,
  request: { project: string; sinceRevision?: bigint; kinds?: ResourceKind[]; runtimeId?: string; runtime?: RuntimeInfoInit },
  options: { timeoutMs?: number } = {},
): WatchRecorder {
  const abort = new AbortController();
  const events: WatchResponse[] = [];
  const listeners = new Set<() => void>();
  let endedAt: number | undefined;
  let finished = false;
  const notify = () => {
    for (const l of listeners) l();
  };
  const ended = (async () => {
    try {
      for await (const event of client.sync.watch(request, { signal: abort.signal, timeoutMs: options.timeoutMs })) {
        events.push(event);
        notify();
      }
      return undefined;
    } catch (err) {
      return abort.signal.aborted ? undefined : describeCloudError(err);
    } finally {
      endedAt = performance.now();
      finished = true;
      notify();
    }
  })();

  return {
    events,
    ended,
    get endedAt() {
      return endedAt;
    },
    until(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          const hit = events.find(match);
          if (!hit && !finished) return;
          listeners.delete(check);
          clearTimeout(timer);
          if (hit) resolve(hit);
          else reject(new Error(`the stream ended without the event awaited; it sent: ${describeEvents(events)}`));
        };
        timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no such event within ${timeoutMs} ms; the stream sent: ${describeEvents(events)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async close() {
      abort.abort();
      await ended;
    },
  };
}

/**
 * Reads an iterator of a stream the test holds itself until an event matches,
 * returning what it read; fails after `timeoutMs` rather than hanging.
 */
export async function readUntil(
  stream: AsyncIterator<WatchResponse>,
  stop: (e: WatchResponse) => boolean,
  timeoutMs = 10_000,
): Promise<WatchResponse[]> {
  const read: WatchResponse[] = [];
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), deadline - performance.now())));
    const next = await Promise.race([stream.next(), timeout]).finally(() => clearTimeout(timer));
    if (next === "timeout") break;
    if (next.done) throw new Error(`the stream ended before the event awaited; it sent: ${describeEvents(read)}`);
    read.push(next.value);
    if (stop(next.value)) return read;
  }
  throw new Error(`no such event within ${timeoutMs} ms; the stream sent: ${describeEvents(read)}`);
}

/** Awaits the first event of a stream; for calls whose refusal only shows once the stream is read. */
export async function firstEvent<T>(stream: AsyncIterable<T>): Promise<T | undefined> {
  for await (const event of stream) return event;
  return undefined;
}

export const isCaughtUp = (e: WatchResponse) => e.event.case === "caughtUp";
export const isHeartbeat = (e: WatchResponse) => e.event.case === "heartbeat";
export const isChange = (e: WatchResponse) => e.event.case === "upsert" || e.event.case === "delete";

/** The id of the credential a change event is about ("" for markers). */
export function changedId(e: WatchResponse): string {
  return e.event.case === "upsert" || e.event.case === "delete" ? e.event.value.id : "";
}

/** Matches the upsert or tombstone of credential `id`. */
export const changeOf = (id: string) => (e: WatchResponse) => changedId(e) === id;

/** The change events (upserts and tombstones) among `events`. */
export const changesIn = (events: WatchResponse[]) => events.filter(isChange);

/** The events after the first CAUGHT_UP. */
export function afterCaughtUp(events: WatchResponse[]): WatchResponse[] {
  const i = events.findIndex(isCaughtUp);
  return i < 0 ? [] : events.slice(i + 1);
}

/** The events up to, not including, the first CAUGHT_UP: what Pull returns. */
export function beforeCaughtUp(events: WatchResponse[]): WatchResponse[] {
  const i = events.findIndex(isCaughtUp);
  return i < 0 ? [...events] : events.slice(0, i);
}

/** One line per event, for failure messages. */
export function describeEvents(events: WatchResponse[]): string {
  const shown = events.map((e) => `${e.event.case}@${e.revision}${changedId(e) ? `(${changedId(e).slice(0, 8)})` : ""}`);
  return shown.length > 60 ? `${shown.slice(0, 30).join(" ")} … ${shown.slice(-30).join(" ")}` : shown.join(" ") || "(nothing)";
}
