// Prints one plain closing line from a vitest JSON report: "<label>: N passed, N failed, N skipped".
import { readFileSync } from "node:fs";

const [file, label] = process.argv.slice(2);
const r = JSON.parse(readFileSync(file, "utf8"));
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${label}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
