import { describe, expect, it } from "vitest";
import { defaultServerUrl, parseCommandLine, resolveGlobalOptions, scanCommandLine, type OptionSpecs } from "./args.js";
import { UsageError } from "./usage-error.js";

const addSpecs = {
  label: { type: "string", required: true, description: "label" },
  kind: { type: "string", description: "kind" },
  project: { type: "string", multiple: true, description: "project" },
  all: { type: "boolean", description: "all" },
} satisfies OptionSpecs;

describe("scanCommandLine", () => {
  it("finds the command words with global flags before, between and after them", () => {
    const { words } = scanCommandLine(["--server", "http://x:1", "token", "--json", "list", "--tenant=acme"]);
    expect(words.map((w) => w.value)).toEqual(["token", "list"]);
  });

  it("records where each word stands, so the rest of the line can be handed on", () => {
    const { words } = scanCommandLine(["--json", "serve", "--listen", "0.0.0.0:7070"]);
    expect(words[0]).toEqual({ value: "serve", index: 1 });
  });

  it("lets command flags through for the strict parse to judge", () => {
    const { values, words } = scanCommandLine(["token", "get", "--nope", "-h"]);
    expect(words.map((w) => w.value)).toEqual(["token", "get"]);
    expect(values.help).toBe(true);
  });
});

describe("parseCommandLine", () => {
  it("reads global and command flags together, in any order", () => {
    const parsed = parseCommandLine(
      ["token", "add", "--json", "--label", "ci", "--project", "a", "--server", "http://s:9", "--project", "b"],
      addSpecs,
      {},
    );
    expect(parsed.positionals).toEqual(["token", "add"]);
    expect(parsed.options).toEqual({ label: "ci", kind: undefined, project: ["a", "b"], all: false });
    expect(parsed.globals).toMatchObject({ json: true, serverUrl: "http://s:9" });
  });

  it("fills absent flags: booleans false, lists empty", () => {
    const { options } = parseCommandLine(["token", "add", "--label", "x"], addSpecs, {});
    expect(options.all).toBe(false);
    expect(options.project).toEqual([]);
  });

  it("refuses a missing required flag", () => {
    expect(() => parseCommandLine(["token", "add"], addSpecs, {})).toThrow("missing required flag --label");
  });

  it("refuses an unknown flag, naming it", () => {
    expect(() => parseCommandLine(["token", "add", "--label", "x", "--lable", "y"], addSpecs, {})).toThrow(
      new UsageError("unknown flag --lable"),
    );
  });

  it("refuses a string flag without its value", () => {
    expect(() => parseCommandLine(["token", "add", "--label"], addSpecs, {})).toThrow("flag --label needs a value");
  });

  it("refuses a value given to a boolean flag", () => {
    expect(() => parseCommandLine(["token", "list", "--all=yes"], addSpecs, {})).toThrow("flag --all takes no value");
  });

  it("keeps everything after -- as positionals", () => {
    const { positionals } = parseCommandLine(["project", "get", "--", "--odd"], {}, {});
    expect(positionals).toEqual(["project", "get", "--odd"]);
  });
});

describe("resolveGlobalOptions", () => {
  it("defaults to the local server over Connect", () => {
    expect(resolveGlobalOptions({}, {})).toEqual({
      serverUrl: defaultServerUrl,
      token: undefined,
      tenant: undefined,
      protocol: "connect",
      json: false,
      help: false,
      version: false,
    });
  });

  it("reads the environment", () => {
    const env = { ENGINE_CLOUD_URL: "http://env:1", ENGINE_CLOUD_TENANT: "acme" };
    expect(resolveGlobalOptions({}, env)).toMatchObject({ serverUrl: "http://env:1", tenant: "acme" });
  });

  it("lets flags win over the environment", () => {
    const env = { ENGINE_CLOUD_URL: "http://env:1", ENGINE_CLOUD_TENANT: "acme" };
    expect(resolveGlobalOptions({ server: "http://flag:2", tenant: "globex" }, env)).toMatchObject({
      serverUrl: "http://flag:2",
      tenant: "globex",
    });
  });

  it("leaves ENGINE_CLOUD_TOKEN to credential resolution, keeping only the --token flag", () => {
    const env = { ENGINE_CLOUD_TOKEN: "t-env" };
    expect(resolveGlobalOptions({}, env).token).toBeUndefined();
    expect(resolveGlobalOptions({ token: "t-flag" }, env).token).toBe("t-flag");
  });

  it("treats an empty environment variable as unset", () => {
    expect(resolveGlobalOptions({}, { ENGINE_CLOUD_URL: "", ENGINE_CLOUD_TENANT: "" })).toMatchObject({
      serverUrl: defaultServerUrl,
      tenant: undefined,
    });
  });

  it("accepts the three protocols and refuses others", () => {
    for (const protocol of ["connect", "grpc", "grpc-web"]) {
      expect(resolveGlobalOptions({ protocol }, {}).protocol).toBe(protocol);
    }
    expect(() => resolveGlobalOptions({ protocol: "http" }, {})).toThrow(UsageError);
  });
});
