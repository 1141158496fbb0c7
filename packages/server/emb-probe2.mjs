import { PGlite } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";
import fs from "node:fs";
class SyncedNodeFS extends NodeFS {
  async init(pg, opts) {
    const r = await super.init(pg, opts);
    r.emscriptenOpts.preRun.push((mod) => {
      const N = mod.NODEFS;
      N.stream_ops.fsync = (stream) => { fs.fsyncSync(stream.nfd); return 0; };
      const mknod = N.node_ops.mknod;
      N.node_ops.mknod = (parent, name, mode, dev) => mknod(parent, name, mode & ~0o077, dev);
    });
    return r;
  }
}
const dir = process.argv[2];
const params = PGlite.defaultStartParams.filter((p) => p !== "-F");
const t0 = Date.now();
const pg = await PGlite.create({ fs: new SyncedNodeFS(dir), startParams: [...params, "-c", "wal_sync_method=fsync"] });
console.log("open ms", Date.now() - t0);
console.log((await pg.query("show fsync")).rows, (await pg.query("show wal_sync_method")).rows, (await pg.query("show synchronous_commit")).rows);
await pg.exec("create table if not exists t(x int)");
const t1 = Date.now();
for (let i = 0; i < 20; i++) await pg.query("insert into t values ($1)", [i]);
console.log("20 inserts ms", Date.now() - t1);
await pg.close();
