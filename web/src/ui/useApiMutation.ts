import { useMutation, useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useToast } from "./toast";
import { errorMessage } from "./errors";

/**
 * A mutation that toasts the outcome (success text built from the server's
 * answer; failure = the server's classified message) and invalidates keys.
 */
export function useApiMutation<TData, TVars>(opts: {
  mutationFn: (v: TVars) => Promise<TData>;
  success: (data: TData, vars: TVars) => string | null;
  invalidate?: (data: TData | undefined, vars: TVars) => QueryKey[];
  onSuccess?: (data: TData, vars: TVars) => void;
  /** Suppress the error toast (e.g. forms that show field errors inline still toast). */
  quietError?: boolean;
}) {
  const qc = useQueryClient();
  const toast = useToast();
  return useMutation<TData, unknown, TVars>({
    mutationFn: opts.mutationFn,
    onSuccess: (data, vars) => {
      const msg = opts.success(data, vars);
      if (msg) toast.push("success", msg);
      opts.onSuccess?.(data, vars);
    },
    onError: (e) => {
      if (!opts.quietError) toast.push("error", errorMessage(e));
    },
    onSettled: (data, _e, vars) => {
      for (const key of opts.invalidate?.(data, vars) ?? []) void qc.invalidateQueries({ queryKey: key });
    },
  });
}
