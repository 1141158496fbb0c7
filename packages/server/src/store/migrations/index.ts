import * as foundation from "./0001_foundation.js";
import * as vault from "./0002_vault.js";
import * as people from "./0003_people.js";
import * as serverInstances from "./0004_server_instances.js";
import * as tombstoneIndex from "./0005_tombstone_index.js";
import * as invitationRevocation from "./0006_invitation_revocation.js";
import * as sealedTokenKey from "./0007_sealed_token_key.js";
import * as limits from "./0008_limits.js";
import * as leases from "./0009_leases.js";
import * as changeLog from "./0010_change_log.js";
import * as connectorHub from "./0011_connector_hub.js";
import * as hubRefresh from "./0012_hub_refresh.js";
import * as runtimePresence from "./0013_runtime_presence.js";
import * as auditLog from "./0014_audit_log.js";
import * as consolePeople from "./0015_console_people.js";

export interface Migration {
  version: number;
  name: string;
  up: string;
}

/**
 * Every migration, in order. Forward-only: a landed migration is never edited;
 * a change is a new entry at the end.
 */
export const migrations: Migration[] = [
  { version: 1, ...foundation },
  { version: 2, ...vault },
  { version: 3, ...people },
  { version: 4, ...serverInstances },
  { version: 5, ...tombstoneIndex },
  { version: 6, ...invitationRevocation },
  { version: 7, ...sealedTokenKey },
  { version: 8, ...limits },
  { version: 9, ...leases },
  { version: 10, ...changeLog },
  { version: 11, ...connectorHub },
  { version: 12, ...hubRefresh },
  { version: 13, ...runtimePresence },
  { version: 14, ...auditLog },
  { version: 15, ...consolePeople },
];
