/**
 * Invitations can be revoked (by an administrator, or by themselves when
 * whoever issued them loses the right to grant their role), and listed
 * newest first like tokens.
 */
export const name = "invitation_revocation";
export const up = /* sql */ `
ALTER TABLE invitations ADD COLUMN revoked_at timestamptz;
-- "user:<id>" / "token:<id>" for RevokeInvitation; "issuer-lost-right" when it died with its issuer's right.
ALTER TABLE invitations ADD COLUMN revoked_by text;
CREATE INDEX invitations_listing ON invitations (tenant_id, created_at DESC, id DESC);
`;
