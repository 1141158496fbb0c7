import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { InvitationDelivery, InvitationState, Role, UserService, type InviteUserResponse } from "@engine-cloud/api";
import { useState } from "react";
import { useCaller, useCan } from "../caller.js";
import { ConfirmButton, CopyButton, EmptyState, Field, PageTitle, Select } from "../controls.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { roleName, roleOptions } from "../roles.js";
import { formatTime, relativeTime } from "../time.js";

/** Members and invitations of the tenant; changing them needs users.manage, and only then are the controls there. */
export function MembersPage() {
  const canManage = useCan("users.manage");
  return (
    <section>
      <PageTitle>Members</PageTitle>
      {canManage ? <InviteForm /> : null}
      <MemberList canManage={canManage} />
      {canManage ? <InvitationList /> : null}
    </section>
  );
}

function InviteForm() {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>(Role.VIEWER);
  const invite = useMutation(UserService.method.inviteUser, { onSuccess: () => setEmail("") });
  return (
    <form
      className="panel"
      aria-labelledby="invite-title"
      onSubmit={(e) => {
        e.preventDefault();
        invite.mutate({ email, role });
      }}
    >
      <h2 id="invite-title">Invite someone</h2>
      <div className="row">
        <Field label="Email" type="email" value={email} onChange={setEmail} required />
        <Select label="Role" value={role} options={roleOptions} onChange={setRole} />
        <button type="submit" disabled={invite.isPending}>
          Invite
        </button>
      </div>
      <ErrorNotice error={invite.error} title="Not invited" />
      {invite.data ? <InvitationSent sent={invite.data} email={invite.variables?.email ?? ""} /> : null}
    </form>
  );
}

/** How the invitation travels: by mail (the link is in it and only there), or as a link to hand over yourself. */
function InvitationSent({ sent, email }: { sent: InviteUserResponse; email: string }) {
  if (sent.delivery === InvitationDelivery.EMAILED) {
    return (
      <p role="status" className="notice ok" data-testid="invitation-emailed">
        Invitation emailed to {email}. The link in it works until {formatTime(sent.expiresAt)}.
      </p>
    );
  }
  const link = sent.acceptUrl || `${window.location.origin}/console/accept#code=${encodeURIComponent(sent.invitationCode)}`;
  return (
    <div role="status" className="notice ok">
      <p>
        No mail server is configured: give {email} this link yourself. It is shown once and works until{" "}
        {formatTime(sent.expiresAt)}.
      </p>
      <div className="row">
        <input
          aria-label="Invitation link"
          readOnly
          value={link}
          data-testid="invitation-link"
          onFocus={(e) => e.target.select()}
        />
        <CopyButton value={link} label="Copy link" />
      </div>
    </div>
  );
}

function MemberList({ canManage }: { canManage: boolean }) {
  const caller = useCaller();
  const members = useInfiniteQuery(UserService.method.listMembers, { pageToken: "", pageSize: 50 }, byPageToken);
  const setRole = useMutation(UserService.method.setMemberRole);
  const remove = useMutation(UserService.method.removeMember);
  const rows = members.data?.pages.flatMap((p) => p.members) ?? [];
  return (
    <div className="panel">
      <h2>People</h2>
      <ErrorNotice error={members.error ?? setRole.error ?? remove.error} />
      {members.isSuccess && rows.length === 0 ? <EmptyState>No members yet: invite someone above.</EmptyState> : null}
      <Table columns={["Name", "Email", "Role", "Last sign-in"]} actions>
        {rows.map((m) => (
          <tr key={m.userId} data-testid={`member-${m.email}`}>
            <td>
              {m.displayName} {m.disabled ? <span className="badge bad">disabled</span> : null}
            </td>
            <td>{m.email}</td>
            <td>
              {canManage && m.userId !== caller.principalId ? (
                <select
                  aria-label={`Role of ${m.email}`}
                  value={m.role}
                  onChange={(e) => setRole.mutate({ userId: m.userId, role: Number(e.target.value) as Role })}
                >
                  {roleOptions.map((o) => (
                    <option key={o.value} value={o.value}>
                      {o.label}
                    </option>
                  ))}
                </select>
              ) : (
                roleName(m.role)
              )}
            </td>
            <td>{relativeTime(m.lastLoginAt)}</td>
            <td>
              {canManage && m.userId !== caller.principalId ? (
                <ConfirmButton
                  label="Remove"
                  confirm={`Remove ${m.email} from this tenant? Their sessions here end at once.`}
                  onConfirm={() => remove.mutate({ userId: m.userId })}
                />
              ) : null}
            </td>
          </tr>
        ))}
      </Table>
      <MoreButton query={members} />
    </div>
  );
}

function InvitationList() {
  const invitations = useInfiniteQuery(UserService.method.listInvitations, { pageToken: "", pageSize: 50 }, byPageToken);
  const revoke = useMutation(UserService.method.revokeInvitation);
  const rows = invitations.data?.pages.flatMap((p) => p.invitations) ?? [];
  return (
    <div className="panel">
      <h2>Open invitations</h2>
      <ErrorNotice error={invitations.error ?? revoke.error} />
      {invitations.isSuccess && rows.length === 0 ? <EmptyState>No open invitations.</EmptyState> : null}
      <ul className="plain">
        {rows.map((i) => (
          <li key={i.id}>
            {i.email} as {roleName(i.role)}, {InvitationState[i.state].toLowerCase()}, expires {relativeTime(i.expiresAt)}
            {i.delivery === InvitationDelivery.EMAILED ? (
              i.emailError ? (
                <span className="badge bad">mail failed: {i.emailError}</span>
              ) : (
                <span className="badge">{i.emailSentAt ? "emailed" : "mail pending"}</span>
              )
            ) : (
              <span className="badge">link</span>
            )}{" "}
            {i.state === InvitationState.PENDING ? (
              <ConfirmButton
                label="Revoke"
                confirm={`Revoke the invitation of ${i.email}?`}
                onConfirm={() => revoke.mutate({ id: i.id })}
              />
            ) : null}
          </li>
        ))}
      </ul>
      <MoreButton query={invitations} />
    </div>
  );
}
