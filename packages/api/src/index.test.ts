import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import * as api from "./index.js";

const V1 = path.join(path.dirname(fileURLToPath(import.meta.url)), "gen/engine/cloud/v1");

describe("@engine-cloud/api", () => {
  // A proto file added later (e.g. an enum of its own) must reach users of the package root without anyone
  // remembering to list it.
  it("exports every generated engine.cloud.v1 file from its root", async () => {
    const files = readdirSync(V1).filter((f) => f.endsWith("_pb.ts"));
    expect(files.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const file of files) {
      const generated = (await import(pathToFileURL(path.join(V1, file)).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(generated)) {
        if ((api as Record<string, unknown>)[name] !== value) missing.push(`${file}: ${name}`);
      }
    }
    expect(missing, 'add `export * from "./gen/engine/cloud/v1/<file>.js"` to packages/api/src/index.ts').toEqual([]);
  });
});
