import { useMutation, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useToast, type ToastKind } from "./toast";
import { errorMessage } from "./errors";

/**
 * What a mutation's answer toasts: a message (a success), a message with its
 * kind (an answer that reports a failure, e.g. a connector test whose check
 * failed, is an error toast, not a green one), or null (no toast).
 */
export type Outcome = string | { kind: ToastKind; message: string } | null;

/**
 * A mutation that toasts the outcome (text built from the server's answer;
 * failure = the server's classified message) and invalidates keys.
 */
export function useApiMutation<TData, TVars>(opts: {
  mutationFn: (v: TVars) => Promise<TData>;
  success: (data: TData, vars: TVars) => Outcome;
  invalidate?: (data: TData | undefined, vars: TVars) => QueryKey[];
  onSuccess?: (data: TData, vars: TVars) => void;
  onError?: (error: unknown, vars: TVars) => void;
  /** Suppress the error toast (e.g. forms that show field errors inline still toast). */
  quietError?: boolean;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  return useMutation<TData, unknown, TVars>({
    mutationFn: opts.mutationFn,
    onSuccess: (data, vars) => {
      const out = opts.success(data, vars);
      if (typeof out === "string") toast.push("success", out);
      else if (out) toast.push(out.kind, out.message);
      opts.onSuccess?.(data, vars);
    },
    onError: (e, vars) => {
      if (!opts.quietError) toast.push("error", errorMessage(e));
      opts.onError?.(e, vars);
    },
    onSettled: (data, _e, vars) => {
      for (const key of opts.invalidate?.(data, vars) ?? []) void qc.invalidateQueries({ queryKey: key });
    },
  });
}
