import { useEffect, useRef, useState } from "react";

/**
 * A destructive action that asks for confirmation inline. ariaLabel names
 * what the action acts on when the visible label is short ("Delete" →
 * "Delete connector “Demo Zammad”"); the confirmation is a group named by the
 * question. Cancel returns focus to the action.
 */
export function ConfirmButton({
  label,
  ariaLabel,
  question,
  confirmLabel,
  onConfirm,
  disabled,
}: {
  label: string;
  ariaLabel?: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => void;
  disabled?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  const [cancelled, setCancelled] = useState(0);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (cancelled > 0) button.current?.focus();
  }, [cancelled]);
  if (!asking)
    return (
      <button type="button" ref={button} className="danger" onClick={() => setAsking(true)} disabled={disabled} aria-label={ariaLabel}>
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
      <button
        type="button"
        onClick={() => {
          setAsking(false);
          setCancelled((n) => n + 1);
        }}
      >
        Cancel
      </button>
    </span>
  );
}
