import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { TenantService, TenantState, type Tenant } from "@engine-cloud/api";
import { useState } from "react";
import { ConfirmButton, Dialog, EmptyState, Field, PageTitle } from "../controls.js";
import { actIn } from "../api.js";
import { useCaller } from "../caller.js";
import { ErrorNotice } from "../error-notice.js";
import { Table } from "../table.js";
import { byPageToken, MoreButton } from "../more-button.js";
import { formatTime } from "../time.js";

/** Platform administration: every tenant, created, suspended, resumed and deleted (after typing its slug). */
export function TenantsPage() {
  const tenants = useInfiniteQuery(TenantService.method.listTenants, { pageToken: "", pageSize: 50 }, byPageToken);
  const suspend = useMutation(TenantService.method.suspendTenant);
  const resume = useMutation(TenantService.method.resumeTenant);
  const remove = useMutation(TenantService.method.deleteTenant);
  const rows = tenants.data?.pages.flatMap((p) => p.tenants) ?? [];
  // The administrator's own (operator) tenant is not offered for suspension or deletion: that locks them out.
  const own = useCaller().tenantId;
  return (
    <section>
      <PageTitle>Tenants</PageTitle>
      <CreateTenant />
      <div className="panel">
        <h2>All tenants</h2>
        <ErrorNotice error={tenants.error ?? suspend.error ?? resume.error ?? remove.error} />
        {tenants.isSuccess && rows.length === 0 ? <EmptyState>No tenants: create the first above.</EmptyState> : null}
        <Table columns={["Slug", "Name", "State", "Created"]} actions>
          {rows.map((t) => (
            <tr key={t.id} data-testid={`tenant-${t.slug}`}>
              <td>{t.slug}</td>
              <td>{t.displayName}</td>
              <td>
                <span className={t.state === TenantState.ACTIVE ? "badge ok" : "badge bad"} data-testid="tenant-state">
                  {TenantState[t.state].toLowerCase()}
                </span>
              </td>
              <td>{formatTime(t.createdAt)}</td>
              <td>
                {t.id === own ? <span className="fine">your tenant</span> : null}
                {t.id !== own && t.state === TenantState.ACTIVE ? (
                  <button type="button" onClick={() => actIn(t.slug)}>
                    Act in {t.slug}
                  </button>
                ) : null}
                {t.id !== own && t.state === TenantState.ACTIVE ? (
                  <ConfirmButton
                    label="Suspend"
                    confirm={`Suspend ${t.slug}? Its people, tokens and runtimes are refused until it is resumed.`}
                    onConfirm={() => suspend.mutate({ tenant: t.id })}
                  />
                ) : null}
                {t.state === TenantState.SUSPENDED ? (
                  <button type="button" onClick={() => resume.mutate({ tenant: t.id })}>
                    Resume
                  </button>
                ) : null}
                {t.id !== own && t.state !== TenantState.DELETED ? (
                  <DeleteTenant tenant={t} onDelete={() => remove.mutate({ tenant: t.id })} />
                ) : null}
              </td>
            </tr>
          ))}
        </Table>
        <MoreButton query={tenants} />
      </div>
    </section>
  );
}

function CreateTenant() {
  const [slug, setSlug] = useState("");
  const [displayName, setDisplayName] = useState("");
  const create = useMutation(TenantService.method.createTenant, {
    onSuccess: () => {
      setSlug("");
      setDisplayName("");
    },
  });
  return (
    <form
      className="panel"
      aria-labelledby="create-tenant-title"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate({ slug, displayName });
      }}
    >
      <h2 id="create-tenant-title">Create a tenant</h2>
      <div className="row">
        <Field label="Slug" value={slug} onChange={setSlug} required placeholder="acme" />
        <Field label="Display name" value={displayName} onChange={setDisplayName} required placeholder="Acme Corp" />
        <button type="submit" disabled={create.isPending}>
          Create tenant
        </button>
      </div>
      <ErrorNotice error={create.error} title="Not created" />
      {create.data?.tenant ? (
        <p role="status" className="notice ok">
          Created {create.data.tenant.slug}. Act in it (below) to invite its first owner from its Members page.
        </p>
      ) : null}
    </form>
  );
}

/** Deleting is for good: the slug must be typed to confirm. */
function DeleteTenant({ tenant, onDelete }: { tenant: Tenant; onDelete: () => void }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  return (
    <>
      <button type="button" className="danger" onClick={() => setOpen(true)}>
        Delete
      </button>
      <Dialog title={`Delete ${tenant.slug}`} open={open} onClose={() => setOpen(false)}>
        <p>This deletes the tenant, its members' access, tokens and credentials. Type its slug to confirm.</p>
        <Field label="Slug to confirm" value={typed} onChange={setTyped} />
        <div className="actions">
          <button type="button" onClick={() => setOpen(false)}>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            disabled={typed !== tenant.slug}
            onClick={() => {
              setOpen(false);
              onDelete();
            }}
          >
            Delete for good
          </button>
        </div>
      </Dialog>
    </>
  );
}
