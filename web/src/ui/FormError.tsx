import { errorMessage, serverFieldErrors } from "./errors";

/** The form-level error of a failed save, when the server named no field. */
export function FormError({ error, isError }: { error: unknown; isError: boolean }) {
  if (!isError || Object.keys(serverFieldErrors(error)).length > 0) return null;
  return (
    <p className="error-box" role="alert">
      {errorMessage(error)}
    </p>
  );
}
