import { Code, ConnectError } from "@connectrpc/connect";
import { describeCloudError } from "@engine-cloud/sdk";

/** What to do next, for the reasons a person in the console meets most; the server's message says the rest. */
const nextSteps: Partial<Record<Code, string>> = {
  [Code.PermissionDenied]: "Your role does not allow this. Ask an owner or admin of this tenant.",
  [Code.Unauthenticated]: "Sign in again.",
  [Code.Unavailable]: "The server could not be reached. Check that it is running, then try again.",
  [Code.ResourceExhausted]: "Too many attempts for now. Wait a minute, then try again.",
  [Code.FailedPrecondition]: "The resource is not in a state that allows this; reload to see its current state.",
};

/** A failed call as a person reads it: the server's message, its stable reason and what to do. */
export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  if (!(error instanceof ConnectError)) {
    return (
      <div role="alert" className="notice error">
        {title ? <strong>{title}: </strong> : null}
        {error instanceof Error ? error.message : String(error)}
      </div>
    );
  }
  const d = describeCloudError(error);
  const hint = nextSteps[d.code];
  return (
    <div role="alert" className="notice error">
      {title ? <strong>{title}: </strong> : null}
      <span className="error-message">{d.message}</span>{" "}
      <code className="reason" data-reason={d.reason}>
        {d.reason}
      </code>
      {d.field ? <span className="field"> (field {d.field})</span> : null}
      {hint ? <div className="hint">{hint}</div> : null}
    </div>
  );
}
