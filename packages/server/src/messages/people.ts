import { create } from "@bufbuild/protobuf";
import {
  InvitationDelivery,
  InvitationSchema,
  InvitationState,
  MemberSchema,
  Role,
  SessionSchema,
  type Invitation,
  type Member,
  type Session,
} from "@engine-cloud/api";
import type { InvitationRow } from "../store/invitations.js";
import type { SessionRow } from "../store/sessions.js";
import type { RoleColumn } from "../store/schema.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

export const roles = protoEnumMap<RoleColumn, Role>({
  owner: Role.OWNER,
  admin: Role.ADMIN,
  operator: Role.OPERATOR,
  builder: Role.BUILDER,
  viewer: Role.VIEWER,
});

type InvitationStateName = "pending" | "accepted" | "revoked" | "expired";
const invitationStates = protoEnumMap<InvitationStateName, InvitationState>({
  pending: InvitationState.PENDING,
  accepted: InvitationState.ACCEPTED,
  revoked: InvitationState.REVOKED,
  expired: InvitationState.EXPIRED,
});

export function invitationToProto(i: InvitationRow, now: Date): Invitation {
  const state = i.accepted_at ? "accepted" : i.revoked_at ? "revoked" : i.expires_at <= now ? "expired" : "pending";
  return create(InvitationSchema, {
    id: i.id,
    email: i.email,
    role: roles.toProto(i.role),
    createdBy: i.created_by,
    createdAt: ts(i.created_at),
    expiresAt: ts(i.expires_at),
    state: invitationStates.toProto(state),
    acceptedAt: ts(i.accepted_at),
    acceptedBy: i.accepted_by ?? "",
    revokedAt: ts(i.revoked_at),
    revokedBy: i.revoked_by ?? "",
    delivery: i.delivery === "email" ? InvitationDelivery.EMAILED : InvitationDelivery.LINK,
    emailSentAt: ts(i.email_sent_at),
    emailError: i.email_error ?? "",
  });
}

/** What a member row carries, whichever query produced it; fields a query did not read stay unset. */
export interface MemberFields {
  user_id: string;
  role: RoleColumn;
  email?: string;
  display_name?: string;
  created_at?: Date;
  created_by?: string;
  last_login_at?: Date | null;
  disabled_at?: Date | null;
}

/** The one place a Member message is built. */
export function memberToProto(m: MemberFields): Member {
  return create(MemberSchema, {
    userId: m.user_id,
    email: m.email,
    displayName: m.display_name,
    role: roles.toProto(m.role),
    createdAt: ts(m.created_at),
    createdBy: m.created_by,
    lastLoginAt: ts(m.last_login_at),
    disabled: m.disabled_at != null,
  });
}

/** A session; `current` marks the one the caller is using. */
export function sessionToProto(s: SessionRow, current: string): Session {
  return create(SessionSchema, {
    id: s.id,
    userId: s.user_id,
    tenantId: s.tenant_id,
    createdAt: ts(s.created_at),
    lastUsedAt: ts(s.last_used_at),
    idleExpiresAt: ts(s.idle_expires_at),
    expiresAt: ts(s.expires_at),
    displayPrefix: s.display_prefix,
    current: s.id === current,
  });
}
