import { errorMessage, serverFieldErrors } from "./errors";

/**
 * The form-level error of a failed save, when the server named no field.
 * Focusable (data-form-error): a failed submit moves focus here when no field
 * is marked invalid (see useForm).
 */
export function FormError({ error, isError }: { error: unknown; isError: boolean }) {
  if (!isError || Object.keys(serverFieldErrors(error)).length > 0) return null;
  return (
    <p className="error-box" role="alert" tabIndex={-1} data-form-error>
      {errorMessage(error)}
    </p>
  );
}
