import { useSyncExternalStore } from "react";

/**
 * A handful of pages under /console/ need no router library: the path after the base names the page, history
 * entries are pushed on navigation, and the server answers index.html for every /console/<path> (SPA fallback),
 * so a reload or a link from elsewhere (the hub's reauthorize URL, /console/connections/<id>) lands on its page.
 */
export const BASE = "/console/";

export interface Route {
  /** First path segment after the base: "", "members", "connections", … */
  page: string;
  /** The rest, e.g. a connection id. */
  rest: string[];
  /** The fragment's parameters (#code=…): codes travel there so they never reach a server log. */
  fragment: URLSearchParams;
}

function readRoute(): Route {
  const path = window.location.pathname.startsWith(BASE) ? window.location.pathname.slice(BASE.length) : "";
  const [page = "", ...rest] = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page, rest, fragment: new URLSearchParams(window.location.hash.slice(1)) };
}

let current = readRoute();
const listeners = new Set<() => void>();
function changed() {
  current = readRoute();
  for (const l of listeners) l();
}
window.addEventListener("popstate", changed);

export function navigate(to: string, { replace = false } = {}): void {
  const url = BASE + to.replace(/^\//, "");
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  changed();
}

export function useRoute(): Route {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}
