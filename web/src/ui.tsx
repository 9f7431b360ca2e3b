// Small accessible building blocks: toasts, form fields, empty states, formatting.
import {
  createContext,
  useCallback,
  useContext,
  useId,
  useMemo,
  useRef,
  useState,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
} from "react";
import { useMutation, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { ApiError } from "./api/client";

// ---- toasts -------------------------------------------------------------------

export type ToastKind = "success" | "error" | "info";
interface ToastItem {
  id: number;
  kind: ToastKind;
  message: string;
}
interface ToastApi {
  push: (kind: ToastKind, message: string) => void;
}
const ToastContext = createContext<ToastApi>({ push: () => {} });

export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<ToastItem[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setItems((xs) => xs.filter((x) => x.id !== id)), []);
  const push = useCallback(
    (kind: ToastKind, message: string) => {
      const id = next.current++;
      setItems((xs) => [...xs.slice(-2), { id, kind, message }]);
      // Errors stay until dismissed: they carry the fix.
      if (kind !== "error") setTimeout(() => dismiss(id), 5000);
    },
    [dismiss],
  );
  const value = useMemo(() => ({ push }), [push]);
  return (
    <ToastContext.Provider value={value}>
      {children}
      <div className="toasts" role="region" aria-label="Notifications">
        <div aria-live="polite" role="status">
          {items
            .filter((t) => t.kind !== "error")
            .map((t) => (
              <ToastView key={t.id} t={t} onClose={() => dismiss(t.id)} />
            ))}
        </div>
        <div aria-live="assertive" role="alert">
          {items
            .filter((t) => t.kind === "error")
            .map((t) => (
              <ToastView key={t.id} t={t} onClose={() => dismiss(t.id)} />
            ))}
        </div>
      </div>
    </ToastContext.Provider>
  );
}

function ToastView({ t, onClose }: { t: ToastItem; onClose: () => void }) {
  return (
    <div className={`toast toast-${t.kind}`} data-testid="toast" data-kind={t.kind}>
      <span>{t.message}</span>
      <button type="button" className="link" onClick={onClose} aria-label="Dismiss notification">
        ×
      </button>
    </div>
  );
}

export function useToast(): ToastApi {
  return useContext(ToastContext);
}

/** The message to show for any thrown error, with field problems appended. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    const fields = Object.entries(e.fields);
    if (fields.length === 0) return e.message;
    return `${e.message} (${fields.map(([k, v]) => `${k}: ${v}`).join("; ")})`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * A mutation that toasts the outcome (success text built from the server's
 * answer; failure = the server's classified message) and invalidates keys.
 */
export function useApiMutation<TData, TVars>(opts: {
  mutationFn: (v: TVars) => Promise<TData>;
  success: (data: TData, vars: TVars) => string | null;
  invalidate?: (data: TData | undefined, vars: TVars) => QueryKey[];
  onSuccess?: (data: TData, vars: TVars) => void;
  /** Suppress the error toast (e.g. forms that show field errors inline still toast). */
  quietError?: boolean;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  return useMutation<TData, unknown, TVars>({
    mutationFn: opts.mutationFn,
    onSuccess: (data, vars) => {
      const msg = opts.success(data, vars);
      if (msg) toast.push("success", msg);
      opts.onSuccess?.(data, vars);
    },
    onError: (e) => {
      if (!opts.quietError) toast.push("error", errorMessage(e));
    },
    onSettled: (data, _e, vars) => {
      for (const key of opts.invalidate?.(data, vars) ?? []) void qc.invalidateQueries({ queryKey: key });
    },
  });
}

// ---- form fields ----------------------------------------------------------------

type FieldErrors = Record<string, string | undefined>;

export function TextField({
  label,
  name,
  errors,
  hint,
  ...rest
}: { label: string; name: string; errors?: FieldErrors; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const err = errors?.[name];
  const describedBy = [hint ? `${id}-hint` : "", err ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} aria-invalid={err ? true : undefined} aria-describedby={describedBy} {...rest} />
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {err && (
        <small id={`${id}-err`} className="field-error" role="alert">
          {err}
        </small>
      )}
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
  const describedBy = [hint ? `${id}-hint` : "", err ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} aria-invalid={err ? true : undefined} aria-describedby={describedBy} {...rest}>
        {children}
      </select>
      {hint && (
        <small id={`${id}-hint`} className="hint">
          {hint}
        </small>
      )}
      {err && (
        <small id={`${id}-err`} className="field-error" role="alert">
          {err}
        </small>
      )}
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
      {err && (
        <small id={`${id}-err`} className="field-error" role="alert">
          {err}
        </small>
      )}
    </div>
  );
}

/** Field errors from an ApiError (server) merged over client ones. */
export function serverFieldErrors(e: unknown): Record<string, string> {
  return e instanceof ApiError ? e.fields : {};
}

// ---- misc -----------------------------------------------------------------------

/** The form-level error of a failed save, when the server named no field. */
export function FormError({ error, isError }: { error: unknown; isError: boolean }) {
  if (!isError || Object.keys(serverFieldErrors(error)).length > 0) return null;
  return (
    <p className="error-box" role="alert">
      {errorMessage(error)}
    </p>
  );
}

/** "Load more" for a cursor-paged list. */
export function LoadMore({ q }: { q: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown } }) {
  if (!q.hasNextPage) return null;
  return (
    <button type="button" onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>
      {q.isFetchingNextPage ? "Loading…" : "Load more"}
    </button>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <span className="spinner" role="status">
      <span aria-hidden="true" className="spinner-dot" /> {label}
    </span>
  );
}

export function QueryError({ error }: { error: unknown }) {
  return (
    <p className="error-box" role="alert">
      {errorMessage(error)}
    </p>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status}`}>{status}</span>;
}

export function fmtTime(s?: string): string {
  if (!s) return "—";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtHours(seconds: number): string {
  return `${(seconds / 3600).toFixed(seconds % 3600 === 0 ? 0 : 2)} h`;
}

export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  return (
    <section id={id} aria-labelledby={`${id}-title`} className="section">
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}

/** A destructive action that asks for confirmation inline. */
export function ConfirmButton({
  label,
  question,
  confirmLabel,
  onConfirm,
  disabled,
}: {
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)} disabled={disabled}>
        {label}
      </button>
    );
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span>{question}</span>
      <button
        type="button"
        className="danger"
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

// Text from Zammad, Kimai or a form may carry bidirectional controls: an
// override (U+202E) makes "gpj.exe" read as "exe.jpg", an unclosed one
// reorders the text after it. Shown text keeps them visible as ⟪U+202E⟫
// instead, and <Plain> isolates it from its surroundings (<bdi>).
const bidiControls = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function plain(s: string | null | undefined): string {
  return (s ?? "").replace(bidiControls, (c) => `⟪U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}⟫`);
}

export function Plain({ text }: { text: string | null | undefined }) {
  return <bdi>{plain(text)}</bdi>;
}
