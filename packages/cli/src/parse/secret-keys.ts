/** Where typing a secret stands after some keys: the value so far, and whether the person is done. */
export interface SecretKeysStep {
  value: string;
  /** "submit": Enter (or Ctrl-D); "interrupt": Ctrl-C. Absent: keep reading. */
  outcome?: "submit" | "interrupt";
}

const ENTER = new Set(["\r", "\n"]);
const CTRL_C = "\x03";
const CTRL_D = "\x04";
const CTRL_U = "\x15";
const BACKSPACE = new Set(["\x7f", "\b"]);

// Arrow keys, Home/End, bracketed-paste markers and the like arrive as escape sequences; none of them is part
// of a secret, and left in they would corrupt it invisibly.
const ESCAPE_SEQUENCE = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|O.|.)?/gs;

/**
 * Applies one chunk of raw-mode terminal input to a secret being typed. Pure, so the key handling is tested
 * without a terminal. A pasted chunk may hold many keys; anything after Enter is dropped.
 */
export function applySecretKeys(value: string, chunk: string): SecretKeysStep {
  let chars = Array.from(value);
  for (const key of Array.from(chunk.replace(ESCAPE_SEQUENCE, ""))) {
    if (key === CTRL_C) return { value: chars.join(""), outcome: "interrupt" };
    if (ENTER.has(key) || key === CTRL_D) return { value: chars.join(""), outcome: "submit" };
    if (BACKSPACE.has(key)) chars.pop();
    else if (key === CTRL_U) chars = [];
    else if (key >= " ") chars.push(key);
    // Other control characters (Tab, Ctrl-A…) are ignored rather than kept as invisible bytes.
  }
  return { value: chars.join("") };
}
