/** Runs a write whenever asked, but never two at once, and never more than needed. */
export interface CoalescedWriter {
  /** Asks for a write of the latest state; returns at once. */
  schedule(): void;
  /** Resolves once no write is in flight and none is pending. */
  flush(): Promise<void>;
}

/**
 * At most one write in flight; requests arriving meanwhile collapse into one
 * follow-up write, which reads the state when it starts, so the last write is
 * always of the latest state. A burst of 1,000 changes costs two writes, not 1,000.
 */
export function createCoalescedWriter(write: () => Promise<void>, onError: (err: unknown) => void): CoalescedWriter {
  let pending = false;
  let running: Promise<void> | undefined;

  async function drain(): Promise<void> {
    while (pending) {
      pending = false;
      try {
        await write();
      } catch (err) {
        onError(err);
      }
    }
    running = undefined;
  }

  return {
    schedule() {
      pending = true;
      running ??= drain();
    },
    async flush() {
      while (running) await running;
    },
  };
}
