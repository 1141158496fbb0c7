/**
 * Wraps a database read so that calls with the same key made in one turn of
 * the event loop share one read, started once the turn is over. Built for
 * reconnect storms, when thousands of streams ask the same question at once.
 *
 * A read is shared only by calls made before it started, never joined once
 * under way: each caller gets an answer at least as fresh as its own call,
 * exactly as if it had read alone.
 */
export function shareReadsPerTurn<A extends unknown[], V>(
  keyOf: (...args: A) => string,
  read: (...args: A) => Promise<V>,
): (...args: A) => Promise<V> {
  const gathering = new Map<string, Promise<V>>();
  return (...args) => {
    const key = keyOf(...args);
    let shared = gathering.get(key);
    if (!shared) {
      shared = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        gathering.delete(key);
        return read(...args);
      });
      gathering.set(key, shared);
    }
    return shared;
  };
}
