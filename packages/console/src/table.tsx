import type { ReactNode } from "react";

/**
 * A list as a table: column headers (scoped for screen readers), an unlabelled-looking but named last column for
 * the row's buttons when `actions`, and the rows.
 */
export function Table({
  columns,
  actions = false,
  className,
  children,
}: {
  columns: string[];
  actions?: boolean;
  className?: string;
  children: ReactNode;
}) {
  return (
    <table className={className}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c}>
              {c}
            </th>
          ))}
          {actions ? (
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          ) : null}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  );
}
