/** A form's submit button: disabled, saying so, while the save is under way. */
export function SubmitButton({ label, pending }: { label: string; pending: boolean }) {
  return (
    <button type="submit" className="primary" disabled={pending}>
      {pending ? "Saving…" : label}
    </button>
  );
}
