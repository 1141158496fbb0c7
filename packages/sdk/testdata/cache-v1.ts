import { create } from "@bufbuild/protobuf";
import { CredentialKeySchema, CredentialSchema, CredentialType } from "@engine-cloud/api";
import { serverFingerprint, type LocalCacheContents } from "../src/local-cache.js";

// What cache-v1.bin holds, and how to open it. The file itself was written once by writeLocalCache as it was on
// main at be43326 (format 1, before resource kinds), with make-cache-v1.ts; it must stay those bytes.

export const CACHE_V1_FILE = new URL("./cache-v1.bin", import.meta.url);
export const CACHE_V1_KEY = Buffer.from("9d1f0c6a2b7e4c3f8a5d0e1b2c3d4e5f60718293a4b5c6d7e8f9011223344556", "hex");
export const CACHE_V1_SERVER = { baseUrl: "http://127.0.0.1:7070", token: "ecr_fixture_token" };

export const CACHE_V1_CONTENTS: LocalCacheContents = {
  project: "acme",
  serverFingerprint: serverFingerprint(CACHE_V1_SERVER.baseUrl, CACHE_V1_SERVER.token),
  revision: 42n,
  credentials: [
    create(CredentialSchema, {
      id: "7f9c1b3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
      project: "acme",
      provider: "google",
      alias: "work",
      type: CredentialType.OAUTH2,
      keys: { access_token: create(CredentialKeySchema, { value: "ya29.fixture-secret" }) },
      identity: { email: "ops@acme.com" },
      version: 3n,
      revision: 40n,
    }),
    create(CredentialSchema, {
      id: "0b1c2d3e-4f50-4a61-8b72-9c8d7e6f5a4b",
      project: "",
      provider: "hubspot",
      alias: "default",
      type: CredentialType.API_KEY,
      keys: { api_key: create(CredentialKeySchema, { value: "hs-fixture-secret" }) },
      version: 1n,
      revision: 42n,
    }),
  ],
};
