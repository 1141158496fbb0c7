import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { CliEnv } from "../framework/args.js";

/** What `engine-cloud login` keeps between runs. Field names are the file's, stable across versions. */
export interface StoredSession {
  /** The server the session belongs to; it is only sent there. */
  server: string;
  /** The bearer session token ("ecu_…"). Never printed. */
  session_token: string;
  tenant_slug: string;
  email: string;
  user_id: string;
  /** Absolute expiry, ISO 8601; empty when the server gave none. */
  expires_at: string;
}

export const SESSION_FILE_NAME = "session.json";

// The session token is a bearer credential: whoever reads the file acts as the person.
const PRIVATE_FILE_MODE = 0o600;
const PRIVATE_DIR_MODE = 0o700;

const sessionFields = ["server", "session_token", "tenant_slug", "email", "user_id", "expires_at"] as const;

/** The session file cannot be used; `engine-cloud login` replaces it, `engine-cloud logout` removes it. */
export class SessionFileUnreadable extends Error {
  override readonly name = "SessionFileUnreadable";
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(
      `the stored session ${file} is unreadable (${problem}); ` +
        "run 'engine-cloud login' to replace it or 'engine-cloud logout' to remove it",
    );
  }
}

/** $ENGINE_CLOUD_CONFIG_DIR, else $XDG_CONFIG_HOME/engine-cloud, else ~/.config/engine-cloud. */
export function configDirOf(env: CliEnv, homeDir: string): string {
  if (env.ENGINE_CLOUD_CONFIG_DIR) return path.resolve(env.ENGINE_CLOUD_CONFIG_DIR);
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, "engine-cloud");
  return path.join(homeDir, ".config", "engine-cloud");
}

export function sessionFilePath(configDir: string): string {
  return path.join(configDir, SESSION_FILE_NAME);
}

/**
 * The stored session, or undefined when there is none. Synchronous, because the client factory that needs it
 * is; it is one small file read at most once per run.
 */
export function readSessionFile(configDir: string): StoredSession | undefined {
  const file = sessionFilePath(configDir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new SessionFileUnreadable(file, (err as Error).message);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SessionFileUnreadable(file, "not JSON");
  }
  return parseStoredSession(value, file);
}

function parseStoredSession(value: unknown, file: string): StoredSession {
  if (typeof value !== "object" || value === null) throw new SessionFileUnreadable(file, "not a JSON object");
  const record = value as Record<string, unknown>;
  for (const field of sessionFields) {
    if (typeof record[field] !== "string") throw new SessionFileUnreadable(file, `"${field}" is missing`);
  }
  if (record.server === "" || record.session_token === "") {
    throw new SessionFileUnreadable(file, "no server or token");
  }
  return Object.fromEntries(sessionFields.map((field) => [field, record[field]])) as unknown as StoredSession;
}

/**
 * Replaces the session file so that a reader (or a crash) sees the old session or the new, never a mix: a
 * temp file created 0600 beside it, fsynced, renamed over. The rename puts a new inode in place, so the mode is
 * 0600 even when the old file had been made readable to others.
 */
export async function writeSessionFile(configDir: string, session: StoredSession): Promise<void> {
  await mkdir(configDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  // mkdir leaves an existing directory as it was; this one is ours and holds a credential.
  await chmod(configDir, PRIVATE_DIR_MODE);
  const target = sessionFilePath(configDir);
  // Beside the target: rename is only atomic within one file system.
  const temp = path.join(configDir, `.${SESSION_FILE_NAME}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const file = await open(temp, "wx", PRIVATE_FILE_MODE);
  try {
    // The umask may have narrowed the mode, never widened it; set it exactly.
    await file.chmod(PRIVATE_FILE_MODE);
    await file.writeFile(`${JSON.stringify(session, [...sessionFields], 2)}\n`);
    await file.sync();
    await file.close();
    await rename(temp, target);
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/** Removes the session file; returns whether there was one. */
export async function deleteSessionFile(configDir: string): Promise<boolean> {
  try {
    await unlink(sessionFilePath(configDir));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}
