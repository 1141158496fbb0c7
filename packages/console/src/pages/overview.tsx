import { useCaller } from "../caller.js";
import { PageTitle } from "../controls.js";

/** Who you are here and what you may do: the permissions WhoAmI lists are the ones the navigation follows. */
export function OverviewPage() {
  const caller = useCaller();
  return (
    <section>
      <PageTitle>{caller.tenantSlug}</PageTitle>
      <dl className="facts">
        <dt>Signed in as</dt>
        <dd>{caller.displayName}</dd>
        <dt>Role</dt>
        <dd>{caller.role || "—"}</dd>
        <dt>Platform administrator</dt>
        <dd>{caller.platformAdmin ? "yes" : "no"}</dd>
        <dt>Permissions</dt>
        <dd>{caller.permissions.length ? caller.permissions.join(", ") : "none"}</dd>
      </dl>
    </section>
  );
}
