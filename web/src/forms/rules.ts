// Checks of typed text against the API's limits (src/api/limits.ts), for a
// form's validate: the numbers in the messages come from the same limits.
import type { Limit } from "../api/limits";

type Range = Pick<Limit<number>, "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum">;
type Length = Pick<Limit<string>, "minLength" | "maxLength">;

/** Whether s is a whole number within the limit's range. */
export function intWithin(s: string, lim: Range): boolean {
  const t = s.trim();
  if (!/^-?\d+$/.test(t)) return false;
  const n = Number(t);
  return (
    Number.isSafeInteger(n) &&
    (lim.minimum === undefined || n >= lim.minimum) &&
    (lim.maximum === undefined || n <= lim.maximum) &&
    (lim.exclusiveMinimum === undefined || n > lim.exclusiveMinimum) &&
    (lim.exclusiveMaximum === undefined || n < lim.exclusiveMaximum)
  );
}

/** Whether s is a plain decimal (the limit's pattern when it has one) within the limit's range. */
export function decimalWithin(s: string, lim: Range & Pick<Limit<string>, "pattern">): boolean {
  const t = s.trim();
  if (!/^\d+(\.\d+)?$/.test(t) || !matches(t, lim)) return false;
  const n = Number(t);
  return (
    (lim.minimum === undefined || n >= lim.minimum) &&
    (lim.maximum === undefined || n <= lim.maximum) &&
    (lim.exclusiveMinimum === undefined || n > lim.exclusiveMinimum) &&
    (lim.exclusiveMaximum === undefined || n < lim.exclusiveMaximum)
  );
}

/** Narrows a string (a select's value) to one of the schema's enum values, without a cast. */
export function isOneOf<T extends string>(values: readonly T[], v: string): v is T {
  return (values as readonly string[]).includes(v);
}

/** "1 to 366" for a range with both ends; "at least 0" / "at most 10" otherwise. */
export function rangeText(lim: Pick<Limit<number>, "minimum" | "maximum">): string {
  if (lim.minimum !== undefined && lim.maximum !== undefined) return `${lim.minimum} to ${lim.maximum}`;
  if (lim.minimum !== undefined) return `at least ${lim.minimum}`;
  if (lim.maximum !== undefined) return `at most ${lim.maximum}`;
  return "a whole number";
}

/** The length problem of s (already trimmed where the API trims), or undefined. */
export function lengthProblem(s: string, lim: Length): string | undefined {
  if (lim.maxLength !== undefined && s.length > lim.maxLength) return `Use at most ${lim.maxLength} characters.`;
  if (lim.minLength !== undefined && s.length < lim.minLength) return `Use at least ${lim.minLength} characters.`;
  return undefined;
}

/** Whether s has the limit's pattern (any string when there is none). */
export function matches(s: string, lim: Pick<Limit<string>, "pattern">): boolean {
  return lim.pattern === undefined || new RegExp(lim.pattern).test(s);
}
