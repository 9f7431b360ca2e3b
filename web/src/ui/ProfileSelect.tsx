import type { Profile } from "../api/client";
import { Plain } from "./plain";

/**
 * A select of the profiles by name (the value is the id). With allLabel, a
 * first option of value "" stands for every profile.
 */
export function ProfileSelect({
  id,
  value,
  onChange,
  profiles,
  allLabel,
  testId,
}: {
  id: string;
  value: string;
  onChange: (id: string) => void;
  profiles: readonly Pick<Profile, "id" | "name">[] | undefined;
  allLabel?: string;
  testId?: string;
}) {
  return (
    <select id={id} data-testid={testId} value={value} onChange={(e) => onChange(e.target.value)}>
      {allLabel !== undefined && <option value="">{allLabel}</option>}
      {profiles?.map((p) => (
        <option key={p.id} value={p.id}>
          <Plain text={p.name} />
        </option>
      ))}
    </select>
  );
}
