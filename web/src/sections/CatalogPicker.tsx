// Picks a Zammad or Kimai record by name from a connector's catalog instead
// of typing its id: each option is the name with the id after it
// ("Acme GmbH · #12"), inactive ones marked, and an optional "none" (0).
import type { CatalogItem } from "../api/client";
import { SelectField, errorMessage, plain, type FieldErrors } from "../ui";

/** An option's text: the name, then the id as secondary text. */
export function optionText(item: Pick<CatalogItem, "id" | "name" | "active" | "number">): string {
  const parts = [plain(item.name) || "(no name)", `#${item.id}`];
  if (item.number) parts.push(item.number);
  return parts.join(" · ") + (item.active ? "" : " (inactive)");
}

export interface CatalogState {
  items?: CatalogItem[];
  pending: boolean;
  error: unknown;
  /** Why there is no catalog to read (e.g. no connector chosen yet). */
  unavailable?: string;
}

export function CatalogSelect({
  label,
  name,
  value,
  onChange,
  errors,
  hint,
  catalog,
  none,
  what,
}: {
  label: string;
  name: string;
  /** The id as text ("0" for none). */
  value: string;
  onChange: (e: { target: { value: string } }) => void;
  errors?: FieldErrors;
  hint?: string;
  catalog: CatalogState;
  /** The text of the "none" choice (value 0); absent: a choice is required. */
  none?: string;
  /** "customer", "activity" …: for the placeholder and the note on an id the catalog lacks. */
  what: string;
}) {
  const items = catalog.items ?? [];
  const known = value === "" || (none !== undefined && value === "0") || items.some((i) => String(i.id) === value);
  const status = catalog.unavailable
    ? catalog.unavailable
    : catalog.pending
      ? `Loading the ${what}s…`
      : catalog.error
        ? `The ${what}s could not be read: ${errorMessage(catalog.error)}`
        : undefined;
  const fullHint = [hint, status].filter(Boolean).join(" ");
  return (
    <SelectField label={label} name={name} value={value} onChange={onChange} errors={errors} hint={fullHint || undefined} data-testid={`picker-${name}`}>
      {none !== undefined ? <option value="0">{none}</option> : <option value="">Choose a {what}…</option>}
      {!known && (
        <option value={value}>
          #{value} (not in the catalog{catalog.pending ? " yet" : ""})
        </option>
      )}
      {items.map((i) => (
        <option key={i.id} value={String(i.id)}>
          {optionText(i)}
        </option>
      ))}
    </SelectField>
  );
}
