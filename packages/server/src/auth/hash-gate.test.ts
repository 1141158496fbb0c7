import { describe, expect, it } from "vitest";
import { HashGate } from "./hash-gate.js";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const settle = () => new Promise((r) => setImmediate(r));

/** A gate whose tasks each wait for their own `release(i)`; `started` records the order they ran in. */
function blockingGate(concurrency: number, maxQueued: number) {
  const gate = new HashGate(concurrency, maxQueued);
  const started: string[] = [];
  const blockers = new Map<string, ReturnType<typeof deferred>>();
  const submit = (key: string, name: string) => {
    const b = deferred();
    blockers.set(name, b);
    return gate.run(key, async () => {
      started.push(name);
      await b.promise;
      return name;
    });
  };
  const release = async (name: string) => {
    blockers.get(name)!.resolve();
    await settle();
  };
  return { gate, started, submit, release };
}

describe("HashGate", () => {
  it("runs at most its concurrency at once and refuses, without running, beyond its queue", async () => {
    const { gate, started, submit, release } = blockingGate(2, 2);
    const runs = ["a", "b", "c", "d", "e"].map((n) => submit("k", n));
    await settle();
    expect(started).toEqual(["a", "b"]);
    expect(gate.queued).toBe(2);
    expect(await runs[4]).toBeUndefined();
    await release("b");
    expect(await runs[1]).toEqual({ value: "b" });
    expect(started).toEqual(["a", "b", "c"]);
    for (const n of ["a", "c", "d"]) await release(n);
    expect(await Promise.all(runs.slice(0, 4))).toEqual(["a", "b", "c", "d"].map((value) => ({ value })));
    expect(gate.queued).toBe(0);
  });

  it("gives free slots to waiting keys in turn, so one key's backlog does not delay another's first", async () => {
    const { started, submit, release } = blockingGate(1, 10);
    void submit("flood", "running");
    for (let i = 0; i < 4; i++) void submit("flood", `f${i}`);
    void submit("office", "o0");
    void submit("office", "o1");
    void submit("home", "h0");
    await settle();
    for (const n of ["running", "f0", "o0", "h0", "f1", "o1", "f2"]) await release(n);
    expect(started).toEqual(["running", "f0", "o0", "h0", "f1", "o1", "f2", "f3"]);
  });

  it("lets no newcomer jump the queue when a slot frees", async () => {
    const { started, submit, release } = blockingGate(1, 10);
    void submit("a", "first");
    void submit("b", "queued");
    await settle();
    await release("first");
    void submit("c", "late");
    await settle();
    expect(started).toEqual(["first", "queued"]);
  });

  it("frees the slot when a task throws", async () => {
    const gate = new HashGate(1, 0);
    await expect(gate.run("k", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run("k", async () => 7)).toEqual({ value: 7 });
  });
});
