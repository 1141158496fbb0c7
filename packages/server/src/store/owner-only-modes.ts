import { chmodSync, lstatSync, readdirSync } from "node:fs";
import path from "node:path";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/**
 * The embedded data directory holds password hashes, the token key and rows
 * anyone could rewrite: nobody but the owner may read or enter it. A mode
 * with the group and other bits (and a file's execute bits) cleared; the
 * type bits are kept.
 */
export function ownerOnlyMode(mode: number): number {
  const isDir = (mode & S_IFMT) === S_IFDIR;
  return (mode & ~0o7777) | (mode & (isDir ? 0o700 : 0o600));
}

/**
 * Walks the tree and takes group and other permissions away wherever they
 * are set (a data directory from before modes were restricted was 0755 with
 * files 0666). Symbolic links are neither followed nor changed: chmod would
 * act on their target. Returns the paths it changed, relative to root, so the
 * caller can say once what it fixed.
 */
export function restrictTreeToOwner(root: string): string[] {
  const changed: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    const wanted = ownerOnlyMode(st.mode);
    if (wanted !== st.mode) {
      chmodSync(p, wanted & 0o7777);
      changed.push(path.relative(root, p) || ".");
    }
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
  };
  visit(root);
  return changed;
}
