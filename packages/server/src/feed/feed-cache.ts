import type { ChangeEvent, ChangeFeed } from "./change-feed.js";

export interface FeedCacheOptions<V> {
  feed: ChangeFeed;
  /** Reads the value for a key from the database (undefined: there is none, which is cached too). */
  load(key: string): Promise<V | undefined>;
  /** Whether `event` may change the value cached under `key`. */
  affects(event: ChangeEvent, key: string, value: V | undefined): boolean;
  /** Whether an event may change any value at all: others are ignored cheaply. */
  relevant(event: ChangeEvent): boolean;
  maxEntries: number;
}

export interface FeedCache<V> {
  /**
   * The cached value, or one loaded now. `loadVia` replaces the loader for a
   * caller inside a transaction: it must read through that transaction, never
   * wait for another connection it may be holding up (PGlite has one).
   */
  get(key: string, loadVia?: () => Promise<V | undefined>): Promise<V | undefined>;
  close(): void;
}

/**
 * Rows read on most requests and changed rarely (tenants by name, project
 * policy), kept in memory and dropped when the change feed announces a change
 * to them. Writers that take rights away publish with `publishConfirmed`, so a
 * change holds on the next request to any server process.
 *
 * A read that started before a relevant change may have seen the row as it
 * was: it answers the request that asked, but is neither cached nor shared
 * with later ones. While the feed is disconnected nothing is cached.
 */
export function createFeedCache<V>(o: FeedCacheOptions<V>): FeedCache<V> {
  const cache = new Map<string, V | undefined>();
  const inflight = new Map<string, { epoch: number; value: Promise<V | undefined> }>();
  let enabled = true;
  let epoch = 0;

  const unsubscribe = o.feed.subscribe((event) => {
    if (event.type === "reset") {
      epoch++;
      cache.clear();
      enabled = event.connected;
      return;
    }
    if (!o.relevant(event)) return;
    epoch++;
    for (const [key, value] of cache) if (o.affects(event, key, value)) cache.delete(key);
  });

  return {
    get(key, loadVia) {
      if (cache.has(key)) return Promise.resolve(cache.get(key));
      const startedAt = epoch;
      const remember = (v: V | undefined) => {
        if (enabled && startedAt === epoch) {
          if (cache.size >= o.maxEntries) cache.delete(cache.keys().next().value!);
          cache.set(key, v);
        }
        return v;
      };
      if (loadVia) return loadVia().then(remember);
      const shared = inflight.get(key);
      if (shared?.epoch === epoch) return shared.value;
      const value = o.load(key).then(remember);
      const settle = () => {
        if (inflight.get(key)?.value === value) inflight.delete(key);
      };
      value.then(settle, settle);
      inflight.set(key, { epoch: startedAt, value });
      return value;
    },
    close: unsubscribe,
  };
}
