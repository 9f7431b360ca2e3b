// Toasts: a polite live region for successes and information, an assertive
// one for errors (which stay until dismissed: they carry the fix).
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

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

// The kind is shown by more than colour: an icon, and errors have their own tint.
const icons: Record<ToastKind, string> = { success: "✓", error: "!", info: "i" };

function ToastView({ t, onClose }: { t: ToastItem; onClose: () => void }) {
  return (
    <div className={`toast toast-${t.kind}`} data-testid="toast" data-kind={t.kind}>
      <span className="toast-icon" aria-hidden="true">
        {icons[t.kind]}
      </span>
      <span className="toast-text">{t.message}</span>
      <button type="button" className="link" onClick={onClose} aria-label="Dismiss notification">
        ×
      </button>
    </div>
  );
}

export function useToast(): ToastApi {
  return useContext(ToastContext);
}
