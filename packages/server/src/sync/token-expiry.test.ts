import { reasonName } from "@engine-cloud/api";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { syncViewOf } from "./sync-events.js";
import type { DomainError } from "../errors/domain-error.js";
import type { SyncWatcher } from "./sync-hub.js";
import { createTokenExpiry } from "./token-expiry.js";

interface Ended {
  name: string;
  at: number;
  reason: string;
}

/** A stream that records when it was ended and why. */
function watcherLog() {
  const ended: Ended[] = [];
  const watcher = (name: string): SyncWatcher => ({
    tenantId: "t",
    project: "p",
    view: syncViewOf("p", []),
    principalId: name,
    bearer: "b",
    offer() {},
    terminate(err: DomainError) {
      ended.push({ name, at: Date.now(), reason: reasonName(err.reason) });
    },
  });
  return { ended, watcher };
}

const DAY_MS = 24 * 3600_000;

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("token expiry", () => {
  it("ends a stream the moment its token expires, with TOKEN_EXPIRED, and not before", () => {
    const { ended, watcher } = watcherLog();
    const expiry = createTokenExpiry();
    expiry.track(watcher("a"), new Date(Date.now() + 1_000));
    vi.advanceTimersByTime(999);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ended).toEqual([{ name: "a", at: 1_001_000, reason: "TOKEN_EXPIRED" }]);
    expect(expiry.size).toBe(0);
  });

  it("ends streams in expiry order, however they were tracked, each at its own time", () => {
    const { ended, watcher } = watcherLog();
    const expiry = createTokenExpiry();
    const offsets = [500, 100, 900, 300, 700, 200];
    for (const ms of offsets) expiry.track(watcher(`+${ms}`), new Date(Date.now() + ms));
    vi.advanceTimersByTime(1_000);
    expect(ended.map((e) => [e.name, e.at - 1_000_000])).toEqual([...offsets].sort((a, b) => a - b).map((ms) => [`+${ms}`, ms]));
  });

  it("never ends an untracked stream, and keeps the others in order (removal from inside the heap)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat()),
        (offsets, removals) => {
          vi.setSystemTime(1_000_000);
          const { ended, watcher } = watcherLog();
          const expiry = createTokenExpiry();
          const tracked = offsets.map((ms, i) => ({ w: watcher(`w${i}`), at: Date.now() + ms }));
          for (const t of tracked) expiry.track(t.w, new Date(t.at));
          const removed = new Set<string>();
          for (const r of removals) {
            const t = tracked[r % tracked.length];
            expiry.untrack(t.w);
            removed.add(t.w.principalId);
          }
          expect(expiry.size).toBe(tracked.length - removed.size);
          vi.advanceTimersByTime(10_000);

          const kept = tracked.filter((t) => !removed.has(t.w.principalId));
          expect(ended.map((e) => e.name).sort()).toEqual(kept.map((t) => t.w.principalId).sort());
          for (const e of ended) expect(e.at).toBe(kept.find((t) => t.w.principalId === e.name)!.at);
          expect(expiry.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("does not end at once a stream whose token expires months from now (past the 32-bit timer range)", () => {
    const { ended, watcher } = watcherLog();
    const expiry = createTokenExpiry();
    expiry.track(watcher("long"), new Date(Date.now() + 90 * DAY_MS));
    vi.advanceTimersByTime(89 * DAY_MS);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(DAY_MS);
    expect(ended.map((e) => e.name)).toEqual(["long"]);
  });

  it("keeps a stream's first expiry when it is tracked again", () => {
    const { ended, watcher } = watcherLog();
    const expiry = createTokenExpiry();
    const w = watcher("a");
    expiry.track(w, new Date(Date.now() + 1_000));
    expiry.track(w, new Date(Date.now() + 10));
    vi.advanceTimersByTime(999);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ended.map((e) => e.name)).toEqual(["a"]);
  });

  it("holds no timer once every stream is untracked, so an idle process can exit", () => {
    const { watcher } = watcherLog();
    const expiry = createTokenExpiry();
    const w = watcher("a");
    expiry.track(w, new Date(Date.now() + 1_000));
    expect(vi.getTimerCount()).toBe(1);
    expiry.untrack(w);
    expect(vi.getTimerCount()).toBe(0);
  });
});
