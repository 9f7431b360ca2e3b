import { useEffect, useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, type CatalogItem, type Mapping, type MappingKind, type Profile } from "../api/client";
import { schemaLimits } from "../api/limits";
import { intWithin } from "../forms/rules";
import { useForm, type Problems } from "../forms/useForm";
import { keys, useConflicts, useProfiles } from "../queries";
import { Empty, QueryError, Section, Spinner, TextField, useApiMutation, Plain, plain } from "../ui";
import { CatalogSelect, optionText, type CatalogState } from "./CatalogPicker";

const kindInfo: Record<MappingKind, { label: string; source: string; target: string }> = {
  activity: { label: "Activities", source: "Zammad type", target: "Kimai activity" },
  customer: { label: "Customers", source: "Zammad organization", target: "Kimai customer" },
  project: { label: "Projects", source: "Project key", target: "Kimai project" },
  user: { label: "Users", source: "Zammad agent", target: "Kimai user" },
};

interface SourceItem {
  id: string;
  name: string;
  detail?: string;
  email?: string;
}

// The external keys the engine writes into Kimai's number field and finds
// Kimai's customers, projects and activities by, after explicit mappings
// (CustomerNumber, ActivityNumber and ProjectNumber in
// shared/engine/plan/lookup.go): a two-letter prefix and base-36 ids.
const b36 = (n: number) => n.toString(36).toUpperCase();

/** The Kimai number a source resolves by, or null (users have none; a project key longer than Kimai's 10 characters has none). */
export function externalNumber(kind: MappingKind, sourceId: string): string | null {
  let m: RegExpMatchArray | null;
  switch (kind) {
    case "activity":
      return /^\d+$/.test(sourceId) ? "ZA" + b36(Number(sourceId)) : null;
    case "customer":
      return /^\d+$/.test(sourceId) ? "ZO" + b36(Number(sourceId)) : null;
    case "project": {
      let n: string | null = null;
      if ((m = sourceId.match(/^org-(\d+)$/))) n = "ZP" + b36(Number(m[1]));
      else if ((m = sourceId.match(/^ticket-(\d+)$/))) n = "ZT" + b36(Number(m[1]));
      else if ((m = sourceId.match(/^group-(\d+)-org-(\d+)$/))) n = "ZG" + b36(Number(m[1])) + "." + b36(Number(m[2]));
      return n !== null && n.length <= 10 ? n : null;
    }
    case "user":
      return null;
  }
}

/** What the engine does with an unmapped source: where its entries go. */
export interface Unmapped {
  how: "number" | "email" | "create" | "token_user" | "conflict";
  text: string;
}

const autoCreate = {
  activity: "auto_create_activities",
  customer: "auto_create_customers",
  project: "auto_create_projects",
} as const satisfies Record<Exclude<MappingKind, "user">, keyof Profile>;

/**
 * The engine's resolution of a source without an explicit mapping (Lookup
 * in shared/engine/plan/lookup.go): by its external number in Kimai, else
 * auto-created when the profile allows it, else a conflict; users by email
 * (email mode) or as the API token's user unless strict.
 */
export function unmappedOutcome(kind: MappingKind, source: Pick<SourceItem, "id" | "email">, profile: Profile, targets: CatalogItem[]): Unmapped {
  const target = kindInfo[kind].target;
  if (kind === "user") {
    if (profile.user_mode === "token") return { how: "token_user", text: "not mapped: not needed, entries are booked as the API token’s user" };
    const email = source.email?.toLowerCase();
    const byEmail = profile.user_mode === "email" && email ? targets.find((t) => t.active && t.email?.toLowerCase() === email) : undefined;
    if (byEmail) return { how: "email", text: `not mapped: matched by email to Kimai user “${plain(byEmail.name)}”` };
    if (profile.strict_users) return { how: "conflict", text: "not mapped: its entries wait as conflicts until you map it" };
    return { how: "token_user", text: "not mapped: entries are booked as the API token’s user" };
  }
  const num = externalNumber(kind, source.id);
  const hit = num === null ? undefined : targets.find((t) => t.number === num);
  if (num !== null && hit) return { how: "number", text: `not mapped: found by external number ${num} → ${target} “${plain(hit.name)}”` };
  if (num !== null && profile[autoCreate[kind]])
    return { how: "create", text: `not mapped: the next sync creates a ${target} with external number ${num}` };
  return { how: "conflict", text: "not mapped: its entries wait as conflicts until you map it" };
}

function sourcesFor(kind: MappingKind, profile: Profile, z?: { types?: CatalogItem[]; organizations?: CatalogItem[]; agents?: CatalogItem[] }): SourceItem[] {
  const item = (c: CatalogItem, id = String(c.id)): SourceItem => ({ id, name: c.name, detail: c.email || (c.active ? undefined : "inactive"), email: c.email });
  switch (kind) {
    case "activity":
      return (z?.types ?? []).map((c) => item(c));
    case "customer":
      return (z?.organizations ?? []).map((c) => item(c));
    case "user":
      return (z?.agents ?? []).map((c) => item(c));
    case "project":
      // Only the customer strategy has a catalog of keys; ticket and group keys are typed in.
      return profile.project_strategy === "customer" ? (z?.organizations ?? []).map((c) => item(c, `org-${c.id}`)) : [];
  }
}

function targetsFor(kind: MappingKind, k?: { activities?: CatalogItem[]; customers?: CatalogItem[]; projects?: CatalogItem[]; users?: CatalogItem[] }): CatalogItem[] {
  switch (kind) {
    case "activity":
      return k?.activities ?? [];
    case "customer":
      return k?.customers ?? [];
    case "project":
      return k?.projects ?? [];
    case "user":
      return k?.users ?? [];
  }
}

function MappingRow({
  profile,
  kind,
  source,
  current,
  targets,
  blocking,
}: {
  profile: Profile;
  kind: MappingKind;
  source: SourceItem;
  current?: Mapping;
  targets: CatalogItem[];
  blocking: number;
}) {
  const [target, setTarget] = useState(current ? String(current.target_id) : "");
  useEffect(() => setTarget(current ? String(current.target_id) : ""), [current]);
  const profileId = profile.id;
  const info = kindInfo[kind];
  const unmapped = current ? null : unmappedOutcome(kind, source, profile, targets);
  const targetName = (id: number) => {
    const t = targets.find((x) => x.id === id);
    return t ? `${plain(t.name)} (#${id})` : `#${id}`;
  };
  const put = useApiMutation({
    mutationFn: () => api.putMapping(profileId, { kind, source_id: source.id, target_id: Number(target) }),
    success: (m) => `Mapped ${info.source.toLowerCase()} “${plain(source.name)}” to ${info.target} “${targetName(m.target_id)}”.`,
    invalidate: () => [keys.mappings(profileId)],
  });
  const del = useApiMutation({
    mutationFn: () => api.deleteMapping(profileId, kind, source.id),
    success: () => `Removed the mapping of “${plain(source.name)}”.`,
    invalidate: () => [keys.mappings(profileId)],
  });
  const selectId = `map-${kind}-${source.id}`;
  return (
    <li
      className="mapping-row"
      data-testid="mapping-row"
      data-kind={kind}
      data-source={source.id}
      data-mapped={current ? "true" : "false"}
      data-resolves={unmapped?.how ?? "mapping"}
    >
      <div className="mapping-source">
        <strong><Plain text={source.name} /></strong> <span className="muted small">({source.id}{source.detail ? `, ${source.detail}` : ""})</span>
        {blocking > 0 && <span className="badge badge-failed"> blocks {blocking} {blocking === 1 ? "entry" : "entries"}</span>}
        <div className="muted small" data-testid="mapping-outcome">
          {current ? `→ ${targetName(current.target_id)}` : unmapped?.text}
        </div>
      </div>
      <div className="mapping-edit">
        <label htmlFor={selectId} className="sr-only">
          {info.target} for <Plain text={source.name} />
        </label>
        <select id={selectId} value={target} onChange={(e) => setTarget(e.target.value)}>
          <option value="">Choose {info.target.toLowerCase()}…</option>
          {targets.map((t) => (
            <option key={t.id} value={t.id}>
              {optionText(t)}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="primary"
          disabled={!target || put.isPending || String(current?.target_id ?? "") === target}
          onClick={() => put.mutate(undefined)}
          aria-label={`Save mapping of ${plain(source.name)}`}
        >
          Save
        </button>
        {current && (
          <button type="button" onClick={() => del.mutate(undefined)} disabled={del.isPending} aria-label={`Remove mapping of ${plain(source.name)}`}>
            Remove
          </button>
        )}
      </div>
    </li>
  );
}

// A project key names the project an entry goes to under the ticket or group
// strategy (MappingInput.source_id; openapi.json describes it in prose only):
// ticket-<ticket id> or group-<group id>-org-<organization id> (0 = none).
const projectKey = /^(org-\d+|ticket-\d+|group-\d+-org-\d+)$/;

/** The project key of a ticket (ticket strategy) or a group and organization (group strategy). */
export function projectKeyOf(strategy: Profile["project_strategy"], v: { ticket_id: string; group_id: string; org_id: string }): string {
  if (strategy === "ticket") return `ticket-${v.ticket_id.trim()}`;
  if (strategy === "group") return `group-${v.group_id}-org-${v.org_id || "0"}`;
  return `org-${v.org_id}`;
}

interface ManualValues {
  ticket_id: string;
  group_id: string;
  org_id: string;
  target_id: string;
}

export function validateManualMapping(strategy: Profile["project_strategy"], v: ManualValues): Problems<ManualValues> {
  const e: Problems<ManualValues> = {};
  if (strategy === "ticket" && !/^[1-9]\d{0,15}$/.test(v.ticket_id.trim())) e.ticket_id = "Enter the ticket’s id: the number at the end of its address in Zammad (…/#ticket/zoom/<id>).";
  if (strategy === "group" && !v.group_id) e.group_id = "Choose the Zammad group.";
  if (!projectKey.test(projectKeyOf(strategy, v))) e.ticket_id ??= "Choose what the project is for.";
  if (!intWithin(v.target_id, schemaLimits.MappingInput.target_id)) e.target_id = "Choose the Kimai project.";
  return e;
}

/**
 * A project mapping for a key the Zammad catalog does not list: a ticket
 * (ticket strategy; Zammad's catalog has no ticket list, so its id is
 * typed) or a group and organization (group strategy, both picked by name).
 */
export function ManualProjectMapping({
  profileId,
  strategy,
  targets,
  groups = [],
  organizations = [],
}: {
  profileId: string;
  strategy: Profile["project_strategy"];
  targets: CatalogItem[];
  groups?: CatalogItem[];
  organizations?: CatalogItem[];
}) {
  const form = useForm({
    initial: (): ManualValues => ({ ticket_id: "", group_id: "", org_id: "0", target_id: "" }),
    validate: (v) => validateManualMapping(strategy, v),
    send: (v) => api.putMapping(profileId, { kind: "project", source_id: projectKeyOf(strategy, v), target_id: Number(v.target_id) }),
    success: (m) => `Mapped ${projectKeyText(m.source_id, { groups, organizations })} to Kimai project “${plain(targets.find((t) => t.id === m.target_id)?.name ?? `#${m.target_id}`)}”.`,
    invalidate: () => [keys.mappings(profileId)],
    onSuccess: (_m, _sent, setValues) => setValues((x) => ({ ...x, ticket_id: "" })),
  });
  const problems = validateManualMapping(strategy, form.values);
  const badTicket = strategy === "ticket" && form.values.ticket_id !== "" && problems.ticket_id !== undefined;
  const cat = (items: CatalogItem[]): CatalogState => ({ items, pending: false, error: null });
  return (
    <form className="inline-form" onSubmit={form.onSubmit} noValidate aria-label="Map a project key">
      {strategy === "ticket" ? (
        <TextField
          label="Zammad ticket id"
          inputMode="numeric"
          {...form.text("ticket_id")}
          aria-invalid={badTicket || form.errors.ticket_id !== undefined || undefined}
          hint="The number at the end of the ticket’s address in Zammad (…/#ticket/zoom/123), not its ticket number."
        />
      ) : (
        <>
          <CatalogSelect label="Zammad group" {...form.text("group_id")} what="group" catalog={cat(groups)} />
          <CatalogSelect label="Zammad organization" {...form.text("org_id")} what="organization" none="No organization" catalog={cat(organizations)} />
        </>
      )}
      <CatalogSelect label="Kimai project" {...form.text("target_id")} what="project" catalog={cat(targets)} />
      <button type="submit" className="primary" disabled={Object.keys(problems).length > 0 || form.pending}>
        Save mapping
      </button>
    </form>
  );
}

/** A project key in words: "ticket #31021", "group “Support”, organization “Acme”". */
export function projectKeyText(key: string, z: { groups?: CatalogItem[]; organizations?: CatalogItem[] }, ticketNumbers?: Map<number, string>): string {
  const name = (xs: CatalogItem[] | undefined, id: number) => xs?.find((x) => x.id === id)?.name;
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^ticket-(\d+)$/))) {
    const n = ticketNumbers?.get(Number(m[1]));
    return n ? `ticket #${n}` : `ticket id ${m[1]}`;
  }
  if ((m = key.match(/^group-(\d+)-org-(\d+)$/))) {
    const g = name(z.groups, Number(m[1]));
    const o = Number(m[2]) === 0 ? "no organization" : name(z.organizations, Number(m[2]));
    return `group ${g ? `“${plain(g)}”` : `#${m[1]}`}, ${o ? (Number(m[2]) === 0 ? o : `organization “${plain(o)}”`) : `organization #${m[2]}`}`;
  }
  if ((m = key.match(/^org-(\d+)$/))) {
    const o = name(z.organizations, Number(m[1]));
    return o ? `organization “${plain(o)}”` : `organization #${m[1]}`;
  }
  return key;
}

export function Mappings() {
  const profiles = useProfiles();
  const [profileId, setProfileId] = useState("");
  const [kind, setKind] = useState<MappingKind>("activity");
  const [search, setSearch] = useState("");
  const profile = profiles.data?.find((p) => p.id === profileId) ?? profiles.data?.[0];
  const pid = profile?.id ?? "";
  const zCat = useQuery({ queryKey: keys.catalog(profile?.zammad_connector_id ?? ""), queryFn: () => api.catalog(profile!.zammad_connector_id), enabled: !!profile, staleTime: 60_000 });
  const kCat = useQuery({ queryKey: keys.catalog(profile?.kimai_connector_id ?? ""), queryFn: () => api.catalog(profile!.kimai_connector_id), enabled: !!profile, staleTime: 60_000 });
  const maps = useQuery({ queryKey: keys.mappings(pid), queryFn: () => api.listMappings(pid), enabled: !!pid });
  const open = useConflicts("open");

  const blocking = useMemo(() => {
    const m = new Map<string, number>();
    for (const c of open.data ?? []) {
      if (c.profile_id !== pid || c.kind !== `unmapped_${kind}`) continue;
      const key = c.source_key ?? "";
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    return m;
  }, [open.data, pid, kind]);

  if (profiles.isPending) return <Section id="mappings" title="Mappings"><Spinner /></Section>;
  if (!profile)
    return (
      <Section id="mappings" title="Mappings">
        <Empty>Create a sync profile first; mappings belong to a profile.</Empty>
      </Section>
    );

  const current = (maps.data ?? []).filter((m) => m.kind === kind);
  const byId = new Map(current.map((m) => [m.source_id, m]));
  let sources = sourcesFor(kind, profile, zCat.data);
  // Mappings (and blocking keys) whose source is not in the catalog still get a row.
  const known = new Set(sources.map((s) => s.id));
  // Project keys are named by what they stand for (the ticket's number from its conflicts, the group's and organization's names).
  const ticketNumbers = new Map<number, string>();
  for (const c of open.data ?? []) if (c.zammad?.ticket_number) ticketNumbers.set(c.ticket_id, c.zammad.ticket_number);
  const keyName = (k: string) => (kind === "project" ? projectKeyText(k, zCat.data ?? {}, ticketNumbers) : k);
  for (const m of current) if (!known.has(m.source_id)) sources.push({ id: m.source_id, name: keyName(m.source_id) }), known.add(m.source_id);
  for (const k of blocking.keys()) if (k && !known.has(k)) sources.push({ id: k, name: keyName(k) }), known.add(k);
  const needle = search.trim().toLowerCase();
  if (needle) sources = sources.filter((s) => s.name.toLowerCase().includes(needle) || s.id.includes(needle));
  const targets = targetsFor(kind, kCat.data);
  const unmappedBlocking = [...blocking.entries()].filter(([k]) => !byId.has(k));

  return (
    <Section id="mappings" title="Mappings">
      <p className="muted">
        Explicit mappings win over Kimai’s external numbers and auto-creation. Unmapped items that block entries show up as conflicts.
      </p>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="mapping-profile">Profile</label>
          <select id="mapping-profile" value={pid} onChange={(e) => setProfileId(e.target.value)}>
            {profiles.data!.map((p) => (
              <option key={p.id} value={p.id}>
                <Plain text={p.name} />
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="mapping-kind">Kind</label>
          <select
            id="mapping-kind"
            value={kind}
            onChange={(e) => {
              const next = schemaLimits.MappingInput.kind.enum.find((k) => k === e.target.value);
              if (next) setKind(next);
            }}
          >
            {schemaLimits.MappingInput.kind.enum.map((k) => (
              <option key={k} value={k}>
                {kindInfo[k].label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="mapping-search">Search</label>
          <input id="mapping-search" type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder={`Filter ${kindInfo[kind].source.toLowerCase()}s`} />
        </div>
      </div>
      {unmappedBlocking.length > 0 && (
        <p className="notice" role="status">
          {unmappedBlocking.length} unmapped {kindInfo[kind].source.toLowerCase()}
          {unmappedBlocking.length === 1 ? " blocks" : "s block"} entries: {unmappedBlocking.map(([k, n]) => `${k ? keyName(k) : "(unknown)"} (${n})`).join(", ")}. Map them below, then retry the conflicts.
        </p>
      )}
      {(zCat.isPending || kCat.isPending || maps.isPending) && <Spinner label="Loading catalogs from Zammad and Kimai…" />}
      {zCat.isError && <QueryError error={zCat.error} />}
      {kCat.isError && <QueryError error={kCat.error} />}
      {maps.isError && <QueryError error={maps.error} />}
      {[...(zCat.data?.warnings ?? []), ...(kCat.data?.warnings ?? [])].map((w, i) => (
        <p key={i} className="notice">
          {w.section}: <Plain text={w.message} />
        </p>
      ))}
      {kind === "project" && profile.project_strategy !== "customer" && (
        <ManualProjectMapping
          profileId={pid}
          strategy={profile.project_strategy}
          targets={targets}
          groups={zCat.data?.groups}
          organizations={zCat.data?.organizations}
        />
      )}
      {zCat.data && kCat.data && sources.length === 0 && (
        <Empty>
          {needle ? "Nothing matches the search." : `No ${kindInfo[kind].source.toLowerCase()}s found in Zammad for this kind.`}
        </Empty>
      )}
      {sources.length > 0 && (
        <ul className="list mapping-list" aria-label={`${kindInfo[kind].label} mappings`}>
          {sources.map((s) => (
            <MappingRow key={`${pid}-${kind}-${s.id}`} profile={profile} kind={kind} source={s} current={byId.get(s.id)} targets={targets} blocking={blocking.get(s.id) ?? 0} />
          ))}
        </ul>
      )}
    </Section>
  );
}
