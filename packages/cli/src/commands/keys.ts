import { RotateRootKeyResponseSchema } from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";

const rotateRoot = defineCommand({
  name: "rotate-root",
  summary: "Re-wrap every tenant's data key under the server's current root key, online",
  async run(ctx) {
    const res = await ctx.client().keys.rotateRootKey({});
    ctx.out.result(RotateRootKeyResponseSchema, res, () =>
      [
        `Re-wrapped ${res.rewrapped} tenant keys under root key ${res.rootKeyId}; ${res.unchanged} already were.`,
        "Once every server runs with this ENGINE_CLOUD_MASTER_KEY, remove the old key from " +
          "ENGINE_CLOUD_PREVIOUS_MASTER_KEYS.",
      ].join("\n"),
    );
  },
});

export const keysCommands: CommandGroup = {
  name: "keys",
  summary: "Rotate the root key that protects the vault (platform administrators)",
  commands: [rotateRoot],
};
