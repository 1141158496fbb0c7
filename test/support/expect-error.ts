import { describeCloudError, type CloudErrorDetails } from "@engine-cloud/sdk";
import { expect } from "vitest";

/** Awaits a call that must fail and returns what it said (code name, reason, field). */
export async function failureOf(call: Promise<unknown>): Promise<CloudErrorDetails> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    return describeCloudError(err);
  }
  expect.fail(`expected the call to fail, it returned ${JSON.stringify(result)}`);
}
