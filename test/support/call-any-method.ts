import type { DescMethod, Message } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { describeCloudError, type CloudErrorDetails } from "@engine-cloud/sdk";

/** What a call came back with; `text` is everything a caller saw, for leak checks. */
export type CallOutcome = { ok: true; text: string } | { ok: false; error: CloudErrorDetails; text: string };

/** JSON of anything a call returns, bigints and bytes included. */
export function renderForLeakCheck(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
  );
}

type AnyCall = (input: unknown, options?: { signal?: AbortSignal }) => unknown;

/**
 * Calls any method from its descriptor alone, whatever its streaming kind. A
 * server stream that stays open for `streamWindowMs` counts as answered: the
 * access check had already let it through.
 */
export async function callAnyMethod(
  transport: Transport,
  method: DescMethod,
  request: Message,
  streamWindowMs = 500,
): Promise<CallOutcome> {
  const fn = (createClient(method.parent, transport) as unknown as Record<string, AnyCall>)[method.localName];
  const input = method.methodKind === "unary" || method.methodKind === "server_streaming" ? request : oneMessage(request);
  const failed = (err: unknown): CallOutcome => {
    const error = describeCloudError(err);
    return { ok: false, error, text: `${error.message} ${renderForLeakCheck(error.metadata)}` };
  };
  if (method.methodKind === "unary" || method.methodKind === "client_streaming") {
    try {
      return { ok: true, text: renderForLeakCheck(await fn(input)) };
    } catch (err) {
      return failed(err);
    }
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), streamWindowMs);
  const received: unknown[] = [];
  try {
    for await (const m of fn(input, { signal: abort.signal }) as AsyncIterable<unknown>) {
      received.push(m);
      if (received.length >= 10) break;
    }
    return { ok: true, text: renderForLeakCheck(received) };
  } catch (err) {
    return abort.signal.aborted ? { ok: true, text: renderForLeakCheck(received) } : failed(err);
  } finally {
    clearTimeout(timer);
  }
}

async function* oneMessage(m: Message) {
  yield m;
}

/** Refused by the access check itself: PERMISSION_DENIED with reason PERMISSION_DENIED. */
export function refusedByAccessCheck(outcome: CallOutcome): boolean {
  return !outcome.ok && outcome.error.codeName === "permission_denied" && outcome.error.reason === "PERMISSION_DENIED";
}

/** "ok", or "code REASON: message", for failure lists. */
export function describeOutcome(outcome: CallOutcome): string {
  return outcome.ok ? "ok" : `${outcome.error.codeName} ${outcome.error.reason}: ${outcome.error.message}`;
}
