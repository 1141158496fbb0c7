/** The entry points @engine-cloud/server exports for the CLI. */
export type ServerEntryPointName = "serve" | "migrate";

// A variable, not a literal: TypeScript would otherwise resolve the server package and compile its sources into
// the CLI's build. The CLI needs only two functions of it, checked when it loads.
const serverPackage = "@engine-cloud/server";

/**
 * Loads the optional server package and runs one of its entry points with the rest of the command line,
 * which the server parses itself. Returns the exit code: the entry point's, if it returns a number, else 0.
 */
export async function runServerEntryPoint(name: ServerEntryPointName, argv: string[]): Promise<number> {
  const entryPoint = (await loadServerPackage())[name];
  if (typeof entryPoint !== "function") {
    throw new Error(`the installed ${serverPackage} has no ${name}() entry point; install a matching version`);
  }
  const code: unknown = await entryPoint(argv);
  return typeof code === "number" ? code : 0;
}

async function loadServerPackage(): Promise<Record<string, unknown>> {
  try {
    return (await import(serverPackage)) as Record<string, unknown>;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === "ERR_MODULE_NOT_FOUND" && e.message?.includes(`'${serverPackage}'`)) {
      throw new Error(
        `the server package ${serverPackage} is not installed; install it next to the CLI ` +
          `(npm install ${serverPackage}) to run the server`,
      );
    }
    throw new Error(`could not load the server package ${serverPackage}: ${e.message ?? String(err)}`);
  }
}
