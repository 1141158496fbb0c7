import nodemailer from "nodemailer";
import type { Kysely } from "kysely";
import type { Logger } from "../log.js";
import { recordInvitationMail } from "../store/invitations.js";
import type { Database, RoleColumn } from "../store/schema.js";
import { systemScope, withTenant } from "../store/with-tenant.js";

/** An invitation as its mail needs it (the code travels separately: it is never stored or logged). */
export interface InvitationToMail {
  tenantId: string;
  tenantSlug: string;
  id: string;
  email: string;
  role: RoleColumn;
  expiresAt: Date;
}

export interface InvitationMailer {
  /**
   * Mails the invitation's accept link in the background, once its transaction has committed, and records on the
   * invitation how that went (ListInvitations shows it). Never throws and never waits: a committed invitation is
   * not undone by a mail server that is down.
   */
  send(invitation: InvitationToMail, acceptUrl: string): void;
  /** Waits for the mails in flight (bounded by the SMTP timeouts), then closes the connection pool. */
  close(): Promise<void>;
}

const MAIL_JOB = "system:invitation-mail" as const;
/** Longest failure text kept on the invitation: enough for "connect ECONNREFUSED 10.0.0.1:587", no transcript. */
const MAX_ERROR = 200;

/**
 * Invitations by email through SMTP (nodemailer; ENGINE_CLOUD_SMTP_URL, ENGINE_CLOUD_MAIL_FROM). Only the invited
 * mailbox receives the link, so only its owner can accept it: that is what proves the address (finding 9 in
 * docs/SECURITY.md). The link carries the code in its fragment, which browsers never send to a server.
 */
export function createInvitationMailer(deps: {
  smtpUrl: string;
  from: string;
  db: Kysely<Database>;
  log: Logger;
}): InvitationMailer {
  // nodemailer waits up to 2 minutes to connect and 10 of silence by default; a shutdown waits for mails in
  // flight (close below), so a mail server that hangs may hold it up for a minute at most.
  const transport = nodemailer.createTransport({
    url: deps.smtpUrl,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    dnsTimeout: 10_000,
    socketTimeout: 30_000,
  });
  const inFlight = new Set<Promise<void>>();

  const deliver = async (inv: InvitationToMail, acceptUrl: string) => {
    let outcome: { sentAt: Date } | { error: string };
    try {
      await transport.sendMail({
        from: deps.from,
        to: inv.email,
        subject: `You are invited to ${inv.tenantSlug} on Engine Cloud`,
        text: invitationText(inv, acceptUrl),
      });
      outcome = { sentAt: new Date() };
    } catch (err) {
      const error = (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR);
      // The code is only in the body, never in an SMTP error; the invitation is named by id.
      deps.log.warn("could not mail an invitation", { tenant: inv.tenantId, invitation: inv.id, error });
      outcome = { error };
    }
    await withTenant(deps.db, systemScope(inv.tenantId, MAIL_JOB), ({ tx }) =>
      recordInvitationMail(tx, inv.tenantId, inv.id, outcome),
    ).catch((err: unknown) =>
      deps.log.warn("could not record how an invitation mail went", { invitation: inv.id, error: String(err) }),
    );
  };

  return {
    send(inv, acceptUrl) {
      const p = deliver(inv, acceptUrl).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async close() {
      await Promise.allSettled([...inFlight]);
      transport.close();
    },
  };
}

function invitationText(inv: InvitationToMail, acceptUrl: string): string {
  return [
    `You have been invited to join the tenant "${inv.tenantSlug}" on Engine Cloud as ${inv.role}.`,
    "",
    "Open this link to accept (it works once):",
    "",
    `  ${acceptUrl}`,
    "",
    `The invitation expires on ${inv.expiresAt.toUTCString()}.`,
    "If you did not expect it, ignore this mail: nothing happens until the link is opened.",
    "",
  ].join("\n");
}
