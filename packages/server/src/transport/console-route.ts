import { readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";

/**
 * The web console, served from its built directory (packages/console/dist, ENGINE_CLOUD_CONSOLE_DIR) on the API's
 * own port, so the console is same-origin with the API: no CORS at all, and the session cookie's same-origin
 * rule (auth/browser-session-cookie.ts) holds by construction.
 *
 * - `/` redirects to `/console/`.
 * - `/console/<file>` serves the file; Vite's hashed `/console/assets/*` are immutable for a year, everything else
 *   is `no-store` (a new build must be picked up at once, and nothing of a signed-in page should linger).
 * - Any other `/console/<path>` is `index.html`: the console routes in the browser, so links the server hands
 *   out (`/console/connections/<id>`, `/console/accept#code=…`) open the right page.
 * - index.html carries a strict Content-Security-Policy: scripts and styles only from this origin, no inline
 *   code, no framing, no form posts elsewhere. An injected script tag has nowhere to load from.
 *
 * The path is decoded once and must resolve inside the directory, symbolic links followed: `..`, encoded or not,
 * backslashes and NUL bytes find nothing (404), never a file outside.
 */

export const CONSOLE_PREFIX = "/console/";

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Headers on every console answer: the browser must not guess types, and URLs (fragments hold codes) never leak. */
const PAGE_HEADERS = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" } as const;
const INDEX_HEADERS = { ...PAGE_HEADERS, "content-security-policy": CONTENT_SECURITY_POLICY } as const;

const IMMUTABLE = "public, max-age=31536000, immutable";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/** What the route answers; http-routes.ts writes it (and logs it like every route). */
export interface ConsoleAnswer {
  status: number;
  body: string | Buffer;
  headers: Record<string, string>;
  /** The route's name for metrics and the log: "/console" for every console path. */
  route: string;
}

/** Answers GET/HEAD of `/` and `/console…`, or undefined for any other path (the next route's). */
export type ConsoleRoute = (method: string, urlPath: string) => Promise<ConsoleAnswer> | undefined;

const notFound = (): ConsoleAnswer => ({
  status: 404,
  body: "not found\n",
  headers: { ...PAGE_HEADERS, "content-type": "text/plain; charset=utf-8" },
  route: "/console",
});

/** The page shown when the console was not built: how to build it, and where the server looked. */
function notBuiltPage(dir: string): ConsoleAnswer {
  return {
    status: 503,
    body:
      "The Engine Cloud console is not built.\n\n" +
      `The server serves it from ${dir} (ENGINE_CLOUD_CONSOLE_DIR), which has no index.html.\n` +
      "Build it from the repository root with:\n\n    npm run build -w packages/console\n\n" +
      "then reload this page. The API on this port works without it.\n",
    headers: { ...INDEX_HEADERS, "content-type": "text/plain; charset=utf-8" },
    route: "/console",
  };
}

export function createConsoleRoute(consoleDir: string): ConsoleRoute {
  const root = path.resolve(consoleDir);

  /** The file a console path names, when it is a regular file inside the directory. */
  const fileOf = async (relative: string): Promise<string | undefined> => {
    if (relative.includes("\0") || relative.includes("\\")) return undefined;
    const file = path.resolve(root, relative);
    if (!file.startsWith(root + path.sep)) return undefined;
    // A symbolic link inside the directory must not lead out of it either.
    const [real, realRoot] = await Promise.all([realpath(file).catch(() => undefined), realpath(root).catch(() => root)]);
    if (!real?.startsWith(realRoot + path.sep)) return undefined;
    const info = await stat(real).catch(() => undefined);
    return info?.isFile() ? real : undefined;
  };

  const serveIndex = async (): Promise<ConsoleAnswer> => {
    const body = await readFile(path.join(root, "index.html")).catch(() => undefined);
    if (!body) return notBuiltPage(root);
    return {
      status: 200,
      body,
      headers: { ...INDEX_HEADERS, "content-type": CONTENT_TYPES[".html"]! },
      route: "/console",
    };
  };

  const serve = async (urlPath: string): Promise<ConsoleAnswer> => {
    let relative: string;
    try {
      relative = decodeURIComponent(urlPath.slice(CONSOLE_PREFIX.length));
    } catch {
      return notFound();
    }
    // Any `..` segment is refused outright, not resolved: there is no console path that needs one.
    if (relative.split("/").includes("..")) return notFound();
    if (relative === "" || relative === "index.html") return serveIndex();
    const file = await fileOf(relative);
    if (file) {
      const body = await readFile(file);
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
      const cache = relative.startsWith("assets/") ? IMMUTABLE : "no-store";
      return { status: 200, body, headers: { ...PAGE_HEADERS, "content-type": type, "cache-control": cache }, route: "/console" };
    }
    // A missing hashed asset is a stale page asking for an old build: a 404, not HTML a script tag cannot run.
    if (relative.startsWith("assets/")) return notFound();
    return serveIndex();
  };

  return (method, urlPath) => {
    if (method !== "GET" && method !== "HEAD") return undefined;
    if (urlPath === "/" || urlPath === "/console") {
      return Promise.resolve({
        status: 302,
        body: "",
        headers: { ...PAGE_HEADERS, location: CONSOLE_PREFIX },
        route: urlPath === "/" ? "/" : "/console",
      });
    }
    if (!urlPath.startsWith(CONSOLE_PREFIX)) return undefined;
    return serve(urlPath);
  };
}
