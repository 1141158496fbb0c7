import type { Interceptor } from "@connectrpc/connect";
import { ErrorReason } from "@engine-cloud/api";
import { DomainError } from "../errors/domain-error.js";

/** The error of a request whose body did not arrive in time. */
function bodyTimedOut(ms: number): DomainError {
  return new DomainError(
    "deadline_exceeded",
    ErrorReason.REQUEST_BODY_TIMEOUT,
    `the request message did not arrive within ${ms} ms of the request headers; send it with the headers`,
  );
}

/**
 * The body, failing with DEADLINE_EXCEEDED / REQUEST_BODY_TIMEOUT unless it ends within `ms` of
 * the first read. A stream's credential is checked when its headers arrive: a client that holds
 * the body back must not keep that stream (and a verified credential) waiting indefinitely.
 *
 * The source is left unread, not destroyed, on timeout: destroying a node request resets its
 * HTTP/2 stream, and the caller still has to send the error.
 */
export async function* bodyWithin<T>(body: AsyncIterable<T>, ms: number): AsyncGenerator<T> {
  const source = body[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(bodyTimedOut(ms)), ms);
  });
  try {
    for (;;) {
      const next = await Promise.race([source.next(), expired]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Puts the deadline of bodyWithin on every streaming request the connect adapter serves (Watch). */
export function createBodyDeadlineInterceptor(ms: number): Interceptor {
  return (next) => (req) => (req.stream ? next({ ...req, message: bodyWithin(req.message, ms) }) : next(req));
}
