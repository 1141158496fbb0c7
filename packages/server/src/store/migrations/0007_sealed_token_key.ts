/**
 * The token key (HMAC of every token hash and checksum) is stored sealed under
 * the root key, like tenant data keys, so a copy of the database alone cannot
 * test guesses of a human-chosen ENGINE_CLOUD_TOKEN offline (finding L9).
 * NULL marks a value written in plaintext by an earlier version: the server
 * seals it at its next start (crypto/token-key.ts), so existing tokens keep working.
 */
export const name = "sealed_token_key";
export const up = /* sql */ `
ALTER TABLE server_secrets ADD COLUMN root_key_id text;
ALTER TABLE server_secrets ADD COLUMN rewrapped_at timestamptz;
`;
