import type { EngineSyncProvider, SyncChange, SyncError } from "@engine-cloud/sdk/node";

/** The next change the provider applies that matches; listen before causing it. */
export function nextChange(p: EngineSyncProvider, match: (c: SyncChange) => boolean = () => true): Promise<SyncChange> {
  return new Promise((resolve) => {
    const off = p.onChange((c) => {
      if (match(c)) {
        off();
        resolve(c);
      }
    });
  });
}

/** The next problem the provider reports with this reason. */
export function nextError(p: EngineSyncProvider, reason: string): Promise<SyncError> {
  return new Promise((resolve) => {
    const off = p.onError((e) => {
      if (e.reason === reason) {
        off();
        resolve(e);
      }
    });
  });
}

/** The promise's value, or a failure naming what did not happen in time. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
