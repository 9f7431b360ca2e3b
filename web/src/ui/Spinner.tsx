export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <span className="spinner" role="status">
      <span aria-hidden="true" className="spinner-dot" /> {label}
    </span>
  );
}
