/**
 * Tombstones are purged once older than the retention period
 * (sync/tombstone-purge.ts); this finds them without scanning live rows.
 */
export const name = "tombstone_index";
export const up = /* sql */ `
CREATE INDEX credentials_tombstones ON credentials (deleted_at) WHERE deleted_at IS NOT NULL;
`;
