import { errorMessage } from "./errors";

export function QueryError({ error }: { error: unknown }) {
  return (
    <p className="error-box" role="alert">
      {errorMessage(error)}
    </p>
  );
}
