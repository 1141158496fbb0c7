import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  configDirOf,
  deleteSessionFile,
  readSessionFile,
  SessionFileUnreadable,
  sessionFilePath,
  writeSessionFile,
  type StoredSession,
} from "./session-file.js";

const session: StoredSession = {
  server: "http://127.0.0.1:7070",
  session_token: "ecu_test_secret",
  tenant_slug: "acme",
  email: "ann@acme.com",
  user_id: "0b0e2f1c-3d4a-4f5b-8c6d-7e8f9a0b1c2d",
  expires_at: "2026-12-01T00:00:00.000Z",
};

const modeOf = (file: string) => statSync(file).mode & 0o777;

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "engine-cloud-session-"));
  dir = path.join(root, "config", "engine-cloud");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("configDirOf", () => {
  it("prefers ENGINE_CLOUD_CONFIG_DIR", () => {
    expect(configDirOf({ ENGINE_CLOUD_CONFIG_DIR: "/tmp/ec", XDG_CONFIG_HOME: "/xdg" }, "/home/ann")).toBe("/tmp/ec");
  });

  it("uses $XDG_CONFIG_HOME/engine-cloud next", () => {
    expect(configDirOf({ XDG_CONFIG_HOME: "/xdg" }, "/home/ann")).toBe("/xdg/engine-cloud");
  });

  it("falls back to ~/.config/engine-cloud, also when XDG_CONFIG_HOME is empty or relative", () => {
    expect(configDirOf({}, "/home/ann")).toBe("/home/ann/.config/engine-cloud");
    expect(configDirOf({ XDG_CONFIG_HOME: "" }, "/home/ann")).toBe("/home/ann/.config/engine-cloud");
    expect(configDirOf({ XDG_CONFIG_HOME: "rel" }, "/home/ann")).toBe("/home/ann/.config/engine-cloud");
  });
});

describe("writeSessionFile", () => {
  it("creates the directory 0700 and the file 0600", async () => {
    await writeSessionFile(dir, session);
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(sessionFilePath(dir))).toBe(0o600);
  });

  it("makes an existing file readable to others 0600 again", async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(sessionFilePath(dir), "{}", { mode: 0o644 });
    await writeSessionFile(dir, session);
    expect(modeOf(sessionFilePath(dir))).toBe(0o600);
  });

  it("tightens an existing directory of its own to 0700", async () => {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    await writeSessionFile(dir, session);
    expect(modeOf(dir)).toBe(0o700);
  });

  it("never writes in place: the old file is replaced whole by a rename, leaving no temp file", async () => {
    await writeSessionFile(dir, session);
    const before = statSync(sessionFilePath(dir)).ino;
    // A hard link keeps the old inode: had the file been rewritten in place, the link would show the new text.
    linkSync(sessionFilePath(dir), path.join(root, "old-link"));
    await writeSessionFile(dir, { ...session, tenant_slug: "globex" });
    expect(statSync(sessionFilePath(dir)).ino).not.toBe(before);
    expect(JSON.parse(readFileSync(path.join(root, "old-link"), "utf8")).tenant_slug).toBe("acme");
    expect(readSessionFile(dir)?.tenant_slug).toBe("globex");
    expect(readdirSync(dir)).toEqual(["session.json"]);
  });

  it("writes exactly the session's fields", async () => {
    await writeSessionFile(dir, { ...session, extra: "no" } as StoredSession);
    expect(Object.keys(JSON.parse(readFileSync(sessionFilePath(dir), "utf8")))).toEqual([
      "server",
      "session_token",
      "tenant_slug",
      "email",
      "user_id",
      "expires_at",
    ]);
  });
});

describe("readSessionFile", () => {
  it("reads back what was written", async () => {
    await writeSessionFile(dir, session);
    expect(readSessionFile(dir)).toEqual(session);
  });

  it("reads no file as no session", () => {
    expect(readSessionFile(dir)).toBeUndefined();
  });

  it("refuses a file that is not JSON, saying how to fix it", () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(sessionFilePath(dir), "ecu_oops");
    expect(() => readSessionFile(dir)).toThrow(SessionFileUnreadable);
    expect(() => readSessionFile(dir)).toThrow(/engine-cloud login/);
  });

  it("refuses a session with a field missing", () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(sessionFilePath(dir), JSON.stringify({ ...session, server: undefined }));
    expect(() => readSessionFile(dir)).toThrow(/"server" is missing/);
  });

  it("never puts the token in its error", () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(sessionFilePath(dir), JSON.stringify({ session_token: session.session_token }));
    expect(() => readSessionFile(dir)).toThrow(expect.objectContaining({ message: expect.not.stringContaining("ecu_") }));
  });
});

describe("deleteSessionFile", () => {
  it("removes the file and says whether there was one", async () => {
    await writeSessionFile(dir, session);
    expect(await deleteSessionFile(dir)).toBe(true);
    expect(readSessionFile(dir)).toBeUndefined();
    expect(await deleteSessionFile(dir)).toBe(false);
  });
});
