// One form hook for the console's forms: values, client-side checks, the
// save (a toasting mutation, see useApiMutation) and the server's per-field
// problems, shown next to the field they name.
import { useEffect, useRef, useState, type Dispatch, type FormEvent, type SetStateAction } from "react";
import type { QueryKey } from "@tanstack/react-query";
import { serverFieldErrors, useApiMutation, type FieldErrors } from "../ui";

/**
 * The values a form edits for an API input T: booleans as checkboxes, string
 * enums as selects, everything else (numbers, lists) as the text typed.
 */
export type FormValues<T> = { [K in keyof T]-?: Editable<NonNullable<T[K]>> };
type Editable<T> = T extends boolean ? boolean : T extends string ? T : string;

/** A client-side problem per field, under the field's name. */
export type Problems<V> = { [K in keyof V]?: string };

/** Keys whose value is any string (text inputs). */
export type TextKeys<V> = { [K in keyof V]-?: [V[K]] extends [string] ? ([string] extends [V[K]] ? K : never) : never }[keyof V] &
  string;
/** Keys whose value is a boolean (checkboxes). */
export type CheckKeys<V> = { [K in keyof V]-?: [V[K]] extends [boolean] ? K : never }[keyof V] & string;

export interface FormOptions<V, R> {
  initial: V | (() => V);
  /** Client-side checks; the form is sent only when this finds nothing. */
  validate: (values: V) => Problems<V>;
  send: (values: V) => Promise<R>;
  /** The success toast (null: none). */
  success: (data: R, sent: V) => string | null;
  invalidate?: () => QueryKey[];
  /** After a successful save; setValues e.g. empties the form for the next entry. */
  onSuccess?: (data: R, sent: V, setValues: Dispatch<SetStateAction<V>>) => void;
}

interface Bound {
  name: string;
  errors: FieldErrors;
}

/**
 * Moves focus to what a failed submit asks the user to fix: the first field
 * marked invalid (in the form's order), else the form's error summary
 * (FormError, marked data-form-error), else leaves it where it is.
 */
export function focusFirstProblem(form: HTMLFormElement | null): void {
  if (!form) return;
  const target = form.querySelector<HTMLElement>('[aria-invalid="true"]') ?? form.querySelector<HTMLElement>("[data-form-error]");
  target?.focus();
}

export function useForm<V extends object, R>(opts: FormOptions<V, R>) {
  const [values, setValues] = useState<V>(opts.initial);
  // The form element of the last submit, and a counter bumped by each submit
  // the client's checks stop: focus moves after the render that shows the
  // problems.
  const formRef = useRef<HTMLFormElement | null>(null);
  const [failedChecks, setFailedChecks] = useState(0);
  useEffect(() => {
    if (failedChecks > 0) focusFirstProblem(formRef.current);
  }, [failedChecks]);
  const [problems, setProblems] = useState<Problems<V>>({});
  // Fields edited since the last submit: their errors (client or server) no
  // longer describe what the field holds, so they are not shown.
  const [edited, setEdited] = useState<ReadonlySet<string>>(() => new Set());
  const mutation = useApiMutation<R, V>({
    mutationFn: opts.send,
    success: opts.success,
    invalidate: opts.invalidate,
    onSuccess: (data, sent) => opts.onSuccess?.(data, sent, setValues),
  });

  // A save the server refused: focus moves once the render shows its problems.
  useEffect(() => {
    if (mutation.error) focusFirstProblem(formRef.current);
  }, [mutation.error]);

  const errors: Record<string, string> = {};
  for (const [k, msg] of Object.entries(serverFieldErrors(mutation.error))) if (!edited.has(k)) errors[k] = msg;
  for (const [k, msg] of Object.entries(problems)) if (typeof msg === "string" && !edited.has(k)) errors[k] = msg;

  function touched(k: string) {
    setEdited((x) => (x.has(k) ? x : new Set(x).add(k)));
  }

  /** Sets one field. */
  function set<K extends keyof V & string>(k: K, v: V[K]) {
    setValues((x) => ({ ...x, [k]: v }));
    touched(k);
  }

  return {
    values,
    setValues,
    /** Per field name: the client's problem, else the server's; none for a field edited since. */
    errors,
    set,
    /** Props for a TextField or SelectField of a string field. */
    text<K extends TextKeys<V>>(k: K): Bound & { value: string; onChange: (e: { target: { value: string } }) => void } {
      return {
        name: k,
        value: String(values[k]),
        onChange: (e) => {
          const s = e.target.value;
          // K's value type is string (TextKeys), so s fits it.
          setValues((x) => ({ ...x, [k]: s }));
          touched(k);
        },
        errors,
      };
    },
    /** Props for a SelectField of an enum field: only the allowed values are taken. */
    choice<K extends keyof V & string>(
      k: K,
      allowed: readonly V[K][],
    ): Bound & { value: string; onChange: (e: { target: { value: string } }) => void } {
      return {
        name: k,
        value: String(values[k]),
        onChange: (e) => {
          const hit = allowed.find((a) => a === e.target.value);
          if (hit !== undefined) set(k, hit);
        },
        errors,
      };
    },
    /** Props for a CheckboxField of a boolean field. */
    check<K extends CheckKeys<V>>(k: K): Bound & { checked: boolean; onChange: (b: boolean) => void } {
      return {
        name: k,
        checked: values[k] === true,
        onChange: (b) => {
          setValues((x) => ({ ...x, [k]: b }));
          touched(k);
        },
        errors,
      };
    },
    onSubmit(e: FormEvent) {
      e.preventDefault();
      if (e.currentTarget instanceof HTMLFormElement) formRef.current = e.currentTarget;
      if (mutation.isPending) return;
      // The last answer's problems are about what was sent then.
      mutation.reset();
      const found = opts.validate(values);
      setProblems(found);
      setEdited(new Set());
      if (Object.values(found).some((m) => typeof m === "string")) {
        setFailedChecks((n) => n + 1);
        return;
      }
      mutation.mutate(values);
    },
    /** While the save is under way (the submit button is disabled). */
    pending: mutation.isPending,
    mutation,
  };
}

export type Form<V extends object, R> = ReturnType<typeof useForm<V, R>>;
