/**
 * The web console's people: a person may be a platform administrator (until
 * now only API tokens could), and an email address may be proven (accepting
 * an invitation that was mailed to it). The first platform administrator
 * person is created with a one-time setup code the server prints at start-up
 * while none exists; only its keyed hash is stored, and it works once, for an
 * hour, and only while it is the newest code. Invitations record how their
 * code was delivered and how mailing it went (never the code).
 *
 * setup_codes is platform state: the owner connection only, no grant to the
 * application role. The new users columns are not granted to it either: only
 * sign-in and verification (owner connection) read them.
 */
export const name = "console_people";
export const up = /* sql */ `
ALTER TABLE users ADD COLUMN platform_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

CREATE TABLE setup_codes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code_hash bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  -- set when it was used, or when a newer code replaced it
  ended_at timestamptz
);

ALTER TABLE invitations ADD COLUMN delivery text NOT NULL DEFAULT 'link' CHECK (delivery IN ('link', 'email'));
ALTER TABLE invitations ADD COLUMN email_sent_at timestamptz;
ALTER TABLE invitations ADD COLUMN email_error text;
`;
