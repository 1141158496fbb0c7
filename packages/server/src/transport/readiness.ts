import type { Logger } from "../log.js";
import type { Storage } from "../store/open-database.js";
import type { ChangeFeed } from "../feed/change-feed.js";
import { ServingStatus, WHOLE_SERVER, type HealthService } from "./health.js";

// One cheap probe a second, not one per request: readiness is asked for by
// load balancers every few seconds, and a check per call would add a round
// trip to each. A probe unanswered this long counts as a database gone.
const PROBE_EVERY_MS = 1_000;
const PROBE_TIMEOUT_MS = 2_000;

export interface Readiness {
  /** Why the server cannot serve now ("database unreachable", …), or undefined when it can. */
  problem(): string | undefined;
  close(): void;
}

/**
 * Keeps the health statuses (the whole server and `services`) at SERVING
 * while the database answers and the change feed listens, and at NOT_SERVING
 * while either is gone: a server that cannot reach its database should be
 * taken out of rotation, and one whose feed is down serves stale caches. An
 * embedded database cannot go away: it is ready once open.
 */
export function startReadinessProbe(opts: {
  storage: Storage;
  feed: ChangeFeed;
  health: HealthService;
  services: string[];
  log: Logger;
}): Readiness {
  if (opts.storage.kind === "pglite") return { problem: () => undefined, close: () => {} };
  let databaseAnswers = true;
  let feedListens = true;
  let current: string | undefined;
  let probing = false;

  const update = () => {
    const problem = !databaseAnswers ? "database unreachable" : !feedListens ? "change feed disconnected" : undefined;
    if (problem === current) return;
    current = problem;
    if (problem) opts.log.warn("not ready", { problem });
    else opts.log.info("ready again");
    const status = problem ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
    for (const service of [WHOLE_SERVER, ...opts.services]) opts.health.setStatus(service, status);
  };

  const probe = () => {
    // A probe still waiting (a frozen database) is the answer already; do not pile more on it.
    if (probing) return;
    probing = true;
    const timer = setTimeout(() => {
      databaseAnswers = false;
      update();
    }, PROBE_TIMEOUT_MS);
    opts.storage
      .ping()
      .then(
        () => (databaseAnswers = true),
        () => (databaseAnswers = false),
      )
      .finally(() => {
        clearTimeout(timer);
        probing = false;
        update();
      });
  };

  const unsubscribe = opts.feed.subscribe((event) => {
    if (event.type !== "reset") return;
    feedListens = event.connected;
    update();
  });
  const interval = setInterval(probe, PROBE_EVERY_MS);
  interval.unref();
  return {
    problem: () => current,
    close() {
      clearInterval(interval);
      unsubscribe();
    },
  };
}
