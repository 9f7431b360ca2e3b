// What to show for a thrown error.
import { ApiError } from "../api/client";

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

/** The per-field problems the server named (ApiError.fields); none for other errors. */
export function serverFieldErrors(e: unknown): Record<string, string> {
  return e instanceof ApiError ? e.fields : {};
}
