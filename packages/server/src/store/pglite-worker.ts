/**
 * The worker thread that owns the embedded database (started by
 * store/pglite-in-worker.ts). PGlite's file layer makes synchronous fs calls,
 * fsync included; here they block this thread only, never the one serving
 * requests.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openEmbeddedPGlite, type EmbeddedOptions } from "./embedded-database.js";
import { serializeError, type WorkerReply, type WorkerRequest } from "./pglite-worker-protocol.js";

const port = parentPort!;
const { pgdata, options } = workerData as { pgdata: string; options: EmbeddedOptions };
const post = (reply: WorkerReply) => port.postMessage(reply);

try {
  const pglite = await openEmbeddedPGlite(pgdata, options);
  const unlistens = new Map<number, () => Promise<void>>();

  const run = async (req: WorkerRequest): Promise<unknown> => {
    switch (req.op) {
      case "query": {
        const r = await pglite.query(req.sql, req.params);
        return { rows: r.rows, affectedRows: r.affectedRows };
      }
      case "exec":
        return (await pglite.exec(req.sql)).map((r) => ({ rows: r.rows, affectedRows: r.affectedRows }));
      case "listen": {
        const { listenId } = req;
        unlistens.set(listenId, await pglite.listen(req.channel, (payload) => post({ kind: "notify", listenId, payload })));
        return undefined;
      }
      case "unlisten":
        await unlistens.get(req.listenId)?.();
        unlistens.delete(req.listenId);
        return undefined;
      case "close":
        await pglite.close();
        return undefined;
    }
  };

  port.on("message", (req: WorkerRequest) => {
    run(req).then(
      (result) => {
        post({ kind: "result", id: req.id, result });
        // Closing the port lets the thread end once the database is closed.
        if (req.op === "close") port.close();
      },
      (err: unknown) => post({ kind: "error", id: req.id, error: serializeError(err) }),
    );
  });
  post({ kind: "ready" });
} catch (err) {
  post({ kind: "failed", error: serializeError(err) });
}
