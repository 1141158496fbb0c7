import { describe, expect, it } from "vitest";
import { applySecretKeys } from "./secret-keys.js";

/** Feeds chunks as a terminal would send them, stopping at the first outcome. */
function type(...chunks: string[]) {
  let value = "";
  for (const chunk of chunks) {
    const step = applySecretKeys(value, chunk);
    value = step.value;
    if (step.outcome) return step;
  }
  return { value };
}

describe("applySecretKeys", () => {
  it("keeps typed characters until Enter", () => {
    expect(type("h", "u", "n", "t", "e", "r", "2", "\r")).toEqual({ value: "hunter2", outcome: "submit" });
  });

  it("takes a newline as Enter too", () => {
    expect(type("pw\n")).toEqual({ value: "pw", outcome: "submit" });
  });

  it("keeps reading while no Enter has come", () => {
    expect(type("abc")).toEqual({ value: "abc" });
  });

  it("deletes the last character on backspace (DEL or ^H), and nothing on an empty line", () => {
    expect(type("abc", "\x7f", "\x7f", "d\r").value).toBe("ad");
    expect(type("x\b\r").value).toBe("");
    expect(type("\x7f\x7fok\r").value).toBe("ok");
  });

  it("deletes a whole character, not half of one, on backspace", () => {
    expect(type("pä😀", "\x7f", "\r").value).toBe("pä");
  });

  it("clears the line on Ctrl-U", () => {
    expect(type("wrong", "\x15", "right\r").value).toBe("right");
  });

  it("stops on Ctrl-C", () => {
    expect(type("sec", "\x03")).toMatchObject({ outcome: "interrupt" });
  });

  it("submits on Ctrl-D", () => {
    expect(type("pw\x04")).toEqual({ value: "pw", outcome: "submit" });
  });

  it("takes a pasted chunk whole, dropping what follows Enter", () => {
    expect(type("correct horse battery staple\rls -la\r")).toEqual({
      value: "correct horse battery staple",
      outcome: "submit",
    });
  });

  it("leaves arrow keys, bracketed-paste markers and other control keys out of the secret", () => {
    expect(type("a\x1b[D", "\x1b[200~bc\x1b[201~", "\t\x01d\r").value).toBe("abcd");
  });
});
