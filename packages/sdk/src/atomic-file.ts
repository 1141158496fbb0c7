import { randomBytes } from "node:crypto";
import { link, mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";

/** Files holding secrets are readable by their owner only. */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates the directory (and parents) as owner-only; an existing directory keeps its mode. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** A temp file beside `target`: rename is only atomic within one file system. */
async function writeTempBeside(target: string, data: Uint8Array | string): Promise<string> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const file = await open(temp, "wx", PRIVATE_FILE_MODE);
  try {
    // The umask may have narrowed the mode, never widened it; set it exactly.
    await file.chmod(PRIVATE_FILE_MODE);
    await file.writeFile(data);
    await file.sync();
  } catch (err) {
    await file.close();
    await unlink(temp).catch(() => {});
    throw err;
  }
  await file.close();
  return temp;
}

/** Makes a rename or link durable: without it, a crash can forget the new directory entry. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch (err) {
    // Some platforms (Windows, a few network file systems) cannot fsync a directory.
    if (!["EINVAL", "EISDIR", "EPERM", "ENOTSUP"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `target` so that a reader (or a crash) sees the old content or the
 * new, never a mix: temp file (mode 0600) + fsync, rename over, fsync the directory.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  const temp = await writeTempBeside(target, data);
  try {
    await rename(temp, target);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  await syncDir(path.dirname(target));
}

/**
 * Creates `target` with this content unless it exists; returns false if it
 * did. link() fails when the name is taken, so two processes racing to
 * create it never see each other's half-written file.
 */
export async function createFileAtomic(target: string, data: Uint8Array | string): Promise<boolean> {
  const temp = await writeTempBeside(target, data);
  try {
    await link(temp, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
  await syncDir(path.dirname(target));
  return true;
}
