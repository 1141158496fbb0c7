import type { ChangeFeed } from "./change-feed.js";

/**
 * How long new audit events gather before they are announced. An audited read
 * is otherwise a feed event and, every 5 ms under load, a NOTIFY of its own:
 * gathered, a busy server announces each chain's head at most this often,
 * which is what a tail of the log waits at worst beyond its commit.
 */
const ANNOUNCE_INTERVAL_MS = 25;

/**
 * Announces committed audit events on the change feed (LISTEN/NOTIFY between
 * processes), one `audit` event per chain and interval with the chain's
 * newest seq, so every process's WatchAuditEvents streams wake when their
 * chain moved. A signal only: readers always read the chain after their cursor.
 */
export function createAuditAnnouncer(feed: Pick<ChangeFeed, "publish">): (chain: string, seq: number) => void {
  const heads = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const events = [...heads].map(([chain, seq]) => ({ type: "audit" as const, chain, seq }));
    heads.clear();
    feed.publish(...events);
  };
  return (chain, seq) => {
    heads.set(chain, Math.max(seq, heads.get(chain) ?? 0));
    if (!timer) {
      timer = setTimeout(flush, ANNOUNCE_INTERVAL_MS);
      timer.unref();
    }
  };
}
