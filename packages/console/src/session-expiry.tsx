import type { WhoAmIResponse } from "@engine-cloud/api";
import { useEffect, useState } from "react";
import { refreshWhoAmI } from "./api.js";
import { formatTime, millisUntil, relativeTime } from "./time.js";

/** How long before the idle expiry the console warns: enough to finish a form and keep the work (vault#20859). */
export const IDLE_WARNING_MS = 2 * 60_000;

/**
 * The session's two deadlines, always in view: the idle one (pushed back by every call) and the absolute one.
 * Shortly before the idle one a banner offers to stay signed in; any call does that, WhoAmI is the cheapest.
 */
export function SessionExpiry({ caller }: { caller: WhoAmIResponse }) {
  const session = caller.session;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 5_000);
    return () => window.clearInterval(timer);
  }, []);
  if (!session) return null;
  const idleLeft = millisUntil(session.idleExpiresAt, now);
  const absoluteLeft = millisUntil(session.expiresAt, now);
  const warn = Math.min(idleLeft, absoluteLeft) <= IDLE_WARNING_MS;
  return (
    <>
      <span className="expiry" data-testid="session-expiry">
        <span title={formatTime(session.idleExpiresAt)}>idle expiry {relativeTime(session.idleExpiresAt, now)}</span>
        {" · "}
        <span title={formatTime(session.expiresAt)}>ends {relativeTime(session.expiresAt, now)}</span>
      </span>
      {warn ? (
        <div role="alert" className="notice warning session-warning">
          {absoluteLeft <= idleLeft
            ? `Your session ends ${relativeTime(session.expiresAt, now)}; sign in again then.`
            : `Your session will end ${relativeTime(session.idleExpiresAt, now)} for inactivity.`}
          {absoluteLeft > idleLeft ? (
            <button type="button" onClick={() => void refreshWhoAmI()}>
              Stay signed in
            </button>
          ) : null}
        </div>
      ) : null}
    </>
  );
}
