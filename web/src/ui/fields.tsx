// Labelled form fields: the label, the hint and the field's error are tied
// to the control (htmlFor, aria-describedby, aria-invalid).
import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";

/** Problems per field name; a field shows the one under its own name. */
export type FieldErrors = Readonly<Record<string, string | undefined>>;

function describedBy(id: string, hint: ReactNode, err: string | undefined): string | undefined {
  return [hint ? `${id}-hint` : "", err ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
}

function Hint({ id, hint }: { id: string; hint: ReactNode }) {
  if (!hint) return null;
  return (
    <small id={`${id}-hint`} className="hint">
      {hint}
    </small>
  );
}

function FieldError({ id, err }: { id: string; err: string | undefined }) {
  if (!err) return null;
  return (
    <small id={`${id}-err`} className="field-error" role="alert">
      {err}
    </small>
  );
}

export function TextField({
  label,
  name,
  errors,
  hint,
  ...rest
}: { label: string; name: string; errors?: FieldErrors; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const err = errors?.[name];
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} aria-invalid={err ? true : undefined} aria-describedby={describedBy(id, hint, err)} {...rest} />
      <Hint id={id} hint={hint} />
      <FieldError id={id} err={err} />
    </div>
  );
}

export function SelectField({
  label,
  name,
  errors,
  hint,
  children,
  ...rest
}: {
  label: string;
  name: string;
  errors?: FieldErrors;
  hint?: ReactNode;
  children: ReactNode;
} & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId();
  const err = errors?.[name];
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} aria-invalid={err ? true : undefined} aria-describedby={describedBy(id, hint, err)} {...rest}>
        {children}
      </select>
      <Hint id={id} hint={hint} />
      <FieldError id={id} err={err} />
    </div>
  );
}

export function CheckboxField({
  label,
  name,
  checked,
  onChange,
  errors,
}: {
  label: string;
  name: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  errors?: FieldErrors;
}) {
  const id = useId();
  const err = errors?.[name];
  return (
    <div className="field field-check">
      <input
        id={id}
        type="checkbox"
        name={name}
        checked={checked}
        onChange={(e) => onChange(e.target.checked)}
        aria-invalid={err ? true : undefined}
        aria-describedby={err ? `${id}-err` : undefined}
      />
      <label htmlFor={id}>{label}</label>
      <FieldError id={id} err={err} />
    </div>
  );
}
