// Small accessible building blocks: toasts, form fields, empty states,
// formatting. One file per component (or small group); import from "../ui".
export { ToastProvider, useToast, type ToastKind } from "./toast";
export { errorMessage, serverFieldErrors } from "./errors";
export { useApiMutation, type Outcome } from "./useApiMutation";
export { TextField, SelectField, CheckboxField, type FieldErrors } from "./fields";
export { FormError } from "./FormError";
export { SubmitButton } from "./SubmitButton";
export { QueryError } from "./QueryError";
export { LoadMore } from "./LoadMore";
export { Empty } from "./Empty";
export { Spinner } from "./Spinner";
export { StatusBadge } from "./StatusBadge";
export { Section } from "./Section";
export { ConfirmButton } from "./ConfirmButton";
export { fmtTime, fmtHours, fmtDuration } from "./format";
export { copyText } from "./clipboard";
export { csvCell, toCsv, downloadCsv } from "./csv";
export { plain, Plain } from "./plain";
export { ProfileSelect } from "./ProfileSelect";
