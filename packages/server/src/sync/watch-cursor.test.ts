import { create } from "@bufbuild/protobuf";
import { WatchResponseSchema } from "@engine-cloud/api";
import { describe, expect, it } from "vitest";
import { markerEvent, SyncEvent } from "./sync-events.js";
import { WatchCursor } from "./watch-cursor.js";

/** A credential deletion at `revision`: the smallest change event there is. */
const change = (revision: number) =>
  new SyncEvent(revision, "credential", "", () =>
    create(WatchResponseSchema, { revision: BigInt(revision), event: { case: "delete", value: { id: `c${revision}` } } }),
  );
const reset = (revision: number) => markerEvent("reset", revision, "snapshot");

/** Each event as `kind@revision`, the order a runtime sees. */
const seen = (events: (SyncEvent | undefined)[]) =>
  events.map((e) => (e ? `${e.messageFor("credentials").event.case}@${e.revision}` : "nothing"));

describe("WatchCursor: catch-up", () => {
  it("starts needing a catch-up from the revision the runtime asked for", () => {
    const cursor = new WatchCursor(5);
    expect(cursor.needsCatchUp).toBe(true);
    expect(cursor.beginCatchUp()).toBe(5);
    expect(cursor.needsCatchUp).toBe(false);
  });

  it("sends the changes of its first catch-up, then CAUGHT_UP at the revision reached", () => {
    const cursor = new WatchCursor(5);
    cursor.beginCatchUp();
    const sent = cursor.finishCatchUp({ events: [change(6), change(8)], revision: 9 });
    expect(seen(sent)).toEqual(["delete@6", "delete@8", "caughtUp@9"]);
    expect(cursor.position).toBe(9);
  });

  it("sends CAUGHT_UP once: a later catch-up of changes missed while live sends only the changes", () => {
    const cursor = new WatchCursor(0);
    cursor.finishCatchUp({ events: [], revision: 3 });
    cursor.needsCatchUp = true;
    expect(seen(cursor.finishCatchUp({ events: [change(4), change(5)], revision: 5 }))).toEqual(["delete@4", "delete@5"]);
  });

  it("sends CAUGHT_UP again after every later snapshot, so a runtime knows when to swap it in", () => {
    const cursor = new WatchCursor(0);
    cursor.finishCatchUp({ events: [], revision: 3 });
    const sent = cursor.finishCatchUp({ events: [reset(10), change(10)], revision: 10 });
    expect(seen(sent)).toEqual(["reset@10", "delete@10", "caughtUp@10"]);
  });

  it("follows a snapshot down to a lower revision (a restored database) rather than skipping what follows", () => {
    const cursor = new WatchCursor(50);
    cursor.finishCatchUp({ events: [reset(20)], revision: 20 });
    expect(cursor.position).toBe(20);
    expect(seen([cursor.next(change(21))])).toEqual(["delete@21"]);
  });
});

describe("WatchCursor: live events", () => {
  it("skips a live change the catch-up already sent, and sends each later one once, in order", () => {
    const cursor = new WatchCursor(0);
    cursor.finishCatchUp({ events: [change(1), change(2)], revision: 2 });
    const sent = [change(2), change(3), change(3), change(1), change(4)].map((e) => cursor.next(e));
    expect(seen(sent)).toEqual(["nothing", "delete@3", "nothing", "nothing", "delete@4"]);
    expect(cursor.position).toBe(4);
  });

  it("passes the hub's shared heartbeat on unchanged when the stream is not ahead of it", () => {
    const cursor = new WatchCursor(0);
    cursor.finishCatchUp({ events: [], revision: 7 });
    const shared = markerEvent("heartbeat", 9);
    expect(cursor.next(shared)).toBe(shared);
    expect(cursor.position).toBe(9);
  });

  it("sends a heartbeat carrying its own revision when the stream is ahead of the hub's", () => {
    const cursor = new WatchCursor(0);
    cursor.finishCatchUp({ events: [], revision: 12 });
    const shared = markerEvent("heartbeat", 9);
    const sent = cursor.next(shared);
    expect(sent).not.toBe(shared);
    expect(seen([sent])).toEqual(["heartbeat@12"]);
    expect(sent?.messageFor("credentials").revision).toBe(12n);
    expect(cursor.position).toBe(12);
  });
});
