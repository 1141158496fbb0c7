import { fsyncSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";
import { ownerOnlyMode } from "./owner-only-modes.js";

/** The parts of Emscripten's NODEFS (PGlite's file layer on Node) this module adjusts. */
interface EmscriptenNodeFS {
  /** Runs a Node fs call, turning its error into the errno postgres sees. */
  tryFSOperation<T>(fn: () => T): T;
  node_ops: {
    mknod(parent: unknown, name: string, mode: number, dev: number): unknown;
    setattr(node: { mode: number }, attr: { mode?: number }): void;
  };
  stream_ops: {
    setattr(stream: { node: { mode: number } }, attr: { mode?: number }): void;
    fsync?: (stream: { nfd: number }) => number;
  };
}

type NodeFSOptions = Parameters<NodeFS["init"]>[1];
type NodeFSInit = ReturnType<NodeFS["init"]>;

/**
 * PGlite's Node file layer (Emscripten's NODEFS) with two holes closed:
 *
 *  - fsync: NODEFS has no fsync, so postgres's fsync of the WAL at commit
 *    returned without reaching the disk (and PGlite starts postgres with -F,
 *    fsync off, besides). Here fsync is the real one; postgresStartParams()
 *    turns postgres's fsync on. fdatasync stays a no-op in Emscripten, hence
 *    wal_sync_method=fsync.
 *  - modes: files came out 0666 and directories 0755. Every mode NODEFS
 *    creates or sets is made owner-only, whatever the process umask.
 *
 * Both are patches of Emscripten internals, checked by
 * test/embedded-database.test.ts (modes, and fsync per commit under strace).
 */
export class DurableNodeFS extends NodeFS {
  constructor(
    dataDir: string,
    private readonly options: { fsync: boolean },
  ) {
    super(dataDir);
  }

  override async init(pg: PGlite, opts: NodeFSOptions): NodeFSInit {
    const result = await super.init(pg, opts);
    const { fsync } = this.options;
    const preRun = [...(result.emscriptenOpts.preRun ?? [])];
    preRun.unshift((mod: { NODEFS: EmscriptenNodeFS }) => patchNodeFS(mod.NODEFS, { fsync }));
    return { emscriptenOpts: { ...result.emscriptenOpts, preRun } };
  }
}

function patchNodeFS(nodefs: EmscriptenNodeFS, options: { fsync: boolean }): void {
  const { node_ops: nodeOps, stream_ops: streamOps } = nodefs;
  const mknod = nodeOps.mknod;
  nodeOps.mknod = (parent, name, mode, dev) => mknod(parent, name, ownerOnlyMode(mode), dev);
  const setNodeAttr = nodeOps.setattr;
  nodeOps.setattr = (node, attr) => setNodeAttr(node, ownerOnlyAttr(node.mode, attr));
  const setStreamAttr = streamOps.setattr;
  streamOps.setattr = (stream, attr) => setStreamAttr(stream, ownerOnlyAttr(stream.node.mode, attr));
  if (options.fsync) {
    streamOps.fsync = (stream) => nodefs.tryFSOperation(() => (fsyncSync(stream.nfd), 0));
  }
}

/** A chmod may name only the permission bits; the node's own type decides file or directory. */
function ownerOnlyAttr<A extends { mode?: number }>(currentMode: number, attr: A): A {
  if (attr.mode == null) return attr;
  const typed = (currentMode & ~0o7777) | (attr.mode & 0o7777);
  return { ...attr, mode: (attr.mode & ~0o7777) | (ownerOnlyMode(typed) & 0o7777) };
}

/**
 * PGlite's start parameters with postgres's fsync left on (PGlite passes -F)
 * when durability is asked for.
 */
export function postgresStartParams(options: { fsync: boolean }): string[] {
  const params = PGlite.defaultStartParams as string[];
  if (!options.fsync) return params;
  return [...params.filter((p) => p !== "-F"), "-c", "fsync=on", "-c", "wal_sync_method=fsync", "-c", "synchronous_commit=on"];
}
