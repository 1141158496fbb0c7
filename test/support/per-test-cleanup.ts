import { afterEach } from "vitest";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

/**
 * For tests that start servers on databases of their own and stop them
 * themselves: whatever a failing test left behind is undone after it, newest
 * first. Call once at the top of a test file.
 */
export function perTestCleanup() {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  });
  const defer = (fn: () => Promise<unknown>) => {
    cleanups.push(fn);
  };
  /** A fresh database, dropped after the test. */
  const freshDatabase = async (): Promise<TestDatabase> => {
    const database = await createTestDatabase();
    defer(() => database.drop());
    return database;
  };
  return { defer, freshDatabase };
}
