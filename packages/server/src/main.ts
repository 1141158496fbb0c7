import { serve } from "./cli-entry.js";

process.exitCode = await serve(process.argv.slice(2));
