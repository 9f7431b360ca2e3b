import { useState, type FormEvent } from "react";
import { api, type Connector, type Profile, type ProfileInput } from "../api/client";
import { keys, useConnectors, useProfiles } from "../queries";
import {
  FormError,
  CheckboxField,
  ConfirmButton,
  Empty,
  QueryError,
  Section,
  SelectField,
  Spinner,
  StatusBadge,
  TextField,
  copyText,
  serverFieldErrors,
  useApiMutation,
  useToast,
  Plain,
  plain,
} from "../ui";

export interface ProfileValues {
  name: string;
  zammad_connector_id: string;
  kimai_connector_id: string;
  minutes_per_unit: string;
  project_strategy: Profile["project_strategy"];
  auto_create_customers: boolean;
  auto_create_projects: boolean;
  auto_create_activities: boolean;
  enabled: boolean;
  default_customer_id: string;
  default_activity_id: string;
  user_mode: Profile["user_mode"];
  strict_users: boolean;
  deletion_window_days: string;
  concurrency: string;
  interval_minutes: string;
  tags: string;
}

export function profileValues(p?: Profile): ProfileValues {
  return {
    name: p?.name ?? "",
    zammad_connector_id: p?.zammad_connector_id ?? "",
    kimai_connector_id: p?.kimai_connector_id ?? "",
    minutes_per_unit: p?.minutes_per_unit ?? "1",
    project_strategy: p?.project_strategy ?? "customer",
    auto_create_customers: p?.auto_create_customers ?? true,
    auto_create_projects: p?.auto_create_projects ?? true,
    auto_create_activities: p?.auto_create_activities ?? true,
    enabled: p?.enabled ?? false,
    default_customer_id: String(p?.default_customer_id ?? 0),
    default_activity_id: String(p?.default_activity_id ?? 0),
    user_mode: p?.user_mode ?? "token",
    strict_users: p?.strict_users ?? false,
    deletion_window_days: String(p?.deletion_window_days ?? 60),
    concurrency: String(p?.concurrency ?? 8),
    interval_minutes: String(p?.interval_minutes ?? 15),
    tags: (p?.tags ?? []).filter((t) => t !== "zammad").join(", "),
  };
}

function intIn(v: string, lo: number, hi: number): boolean {
  return /^\d+$/.test(v.trim()) && Number(v) >= lo && Number(v) <= hi;
}

/** Client-side checks mirroring shared/api/profiles.go. */
export function validateProfile(v: ProfileValues): Record<string, string> {
  const e: Record<string, string> = {};
  if (!v.name.trim()) e.name = "Enter a name, e.g. “Support → Kimai”.";
  else if (v.name.trim().length > 100) e.name = "Use at most 100 characters.";
  if (!v.zammad_connector_id) e.zammad_connector_id = "Choose the Zammad connector (add one under Connectors first).";
  if (!v.kimai_connector_id) e.kimai_connector_id = "Choose the Kimai connector (add one under Connectors first).";
  const m = v.minutes_per_unit.trim();
  if (!/^\d+(\.\d+)?$/.test(m) || Number(m) <= 0 || Number(m) > 1440)
    e.minutes_per_unit = "Enter a number above 0 and at most 1440 (1 = minutes, 60 = hours, 15 = quarter hours).";
  if (!intIn(v.default_customer_id, 0, Number.MAX_SAFE_INTEGER)) e.default_customer_id = "Enter a Kimai customer id, or 0 for none.";
  if (!intIn(v.default_activity_id, 0, Number.MAX_SAFE_INTEGER)) e.default_activity_id = "Enter a Kimai activity id, or 0 for none.";
  if (!intIn(v.deletion_window_days, 1, 366)) e.deletion_window_days = "Enter 1 to 366 days.";
  if (!intIn(v.concurrency, 1, 32)) e.concurrency = "Enter 1 to 32.";
  if (!intIn(v.interval_minutes, 5, 1440)) e.interval_minutes = "Enter 5 to 1440 minutes.";
  const tags = splitTags(v.tags);
  if (tags.length > 10) e.tags = "Use at most 10 tags.";
  else if (tags.some((t) => t.length < 2 || t.length > 100)) e.tags = "Each tag needs 2 to 100 characters.";
  else if (tags.some((t) => /[<>"=]/.test(t))) e.tags = "Tags cannot contain < > \" or =.";
  return e;
}

function splitTags(s: string): string[] {
  return s
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

export function toInput(v: ProfileValues): ProfileInput {
  return {
    name: v.name.trim(),
    zammad_connector_id: v.zammad_connector_id,
    kimai_connector_id: v.kimai_connector_id,
    minutes_per_unit: v.minutes_per_unit.trim(),
    project_strategy: v.project_strategy,
    auto_create_customers: v.auto_create_customers,
    auto_create_projects: v.auto_create_projects,
    auto_create_activities: v.auto_create_activities,
    enabled: v.enabled,
    default_customer_id: Number(v.default_customer_id),
    default_activity_id: Number(v.default_activity_id),
    user_mode: v.user_mode,
    strict_users: v.strict_users,
    deletion_window_days: Number(v.deletion_window_days),
    concurrency: Number(v.concurrency),
    interval_minutes: Number(v.interval_minutes),
    tags: splitTags(v.tags),
  };
}

export function ProfileForm({
  profile,
  connectors,
  onDone,
  onCreated,
}: {
  profile?: Profile;
  connectors: Connector[];
  onDone?: () => void;
  onCreated?: (secret: { webhook_url: string; webhook_secret: string; name: string }) => void;
}) {
  const creating = !profile;
  const [v, setV] = useState<ProfileValues>(() => profileValues(profile));
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const save = useApiMutation({
    mutationFn: (vals: ProfileValues) =>
      profile ? api.updateProfile(profile.id, { ...toInput(vals), version: profile.version }) : api.createProfile(toInput(vals)),
    success: (p) => `Profile “${plain(p.name)}” ${creating ? "created" : "saved"}.`,
    invalidate: () => [keys.profiles],
    onSuccess: (p) => {
      const secret = (p as { webhook_secret?: string }).webhook_secret;
      if (secret) onCreated?.({ webhook_url: p.webhook_url, webhook_secret: secret, name: p.name });
      if (creating) setV(profileValues());
      onDone?.();
    },
  });
  const errors = { ...serverFieldErrors(save.error), ...clientErrors };
  const zammad = connectors.filter((c) => c.kind === "zammad");
  const kimai = connectors.filter((c) => c.kind === "kimai");
  function set<K extends keyof ProfileValues>(k: K, val: ProfileValues[K]) {
    setV((x) => ({ ...x, [k]: val }));
    setClientErrors((x) => {
      const { [k]: _, ...rest } = x;
      return rest;
    });
  }
  const text = (k: keyof ProfileValues) => (e: { target: { value: string } }) => set(k, e.target.value as never);

  function submit(e: FormEvent) {
    e.preventDefault();
    const errs = validateProfile(v);
    setClientErrors(errs);
    if (Object.keys(errs).length > 0) return;
    save.reset();
    save.mutate(v);
  }

  return (
    <form className="card form" data-testid="profile-form" onSubmit={submit} noValidate>
      <h3>{creating ? "Add a sync profile" : `Edit “${profile.name}”`}</h3>
      <div className="grid">
        <TextField label="Name" name="name" value={v.name} onChange={text("name")} errors={errors} maxLength={100} />
        <SelectField label="Zammad connector" name="zammad_connector_id" value={v.zammad_connector_id} onChange={text("zammad_connector_id")} errors={errors}>
          <option value="">Choose…</option>
          {zammad.map((c) => (
            <option key={c.id} value={c.id}>
              <Plain text={c.name} />
            </option>
          ))}
        </SelectField>
        <SelectField label="Kimai connector" name="kimai_connector_id" value={v.kimai_connector_id} onChange={text("kimai_connector_id")} errors={errors}>
          <option value="">Choose…</option>
          {kimai.map((c) => (
            <option key={c.id} value={c.id}>
              <Plain text={c.name} />
            </option>
          ))}
        </SelectField>
        <TextField
          label="Minutes per unit"
          name="minutes_per_unit"
          inputMode="decimal"
          value={v.minutes_per_unit}
          onChange={text("minutes_per_unit")}
          errors={errors}
          hint="What one Zammad time unit is worth: 1 (minutes), 60 (hours), 15 (quarter hours)."
        />
        <SelectField
          label="Project strategy"
          name="project_strategy"
          value={v.project_strategy}
          onChange={text("project_strategy")}
          errors={errors}
          hint="Which Kimai project an entry goes to."
        >
          <option value="customer">One project per customer (organization)</option>
          <option value="ticket">One project per ticket</option>
          <option value="group">One project per group and organization</option>
        </SelectField>
        <SelectField label="User mode" name="user_mode" value={v.user_mode} onChange={text("user_mode")} errors={errors} hint="Whose timesheet: the API token's user, the agent matched by email, or explicit user mappings.">
          <option value="token">API token’s user</option>
          <option value="email">Match agents by email</option>
          <option value="explicit">Explicit user mappings</option>
        </SelectField>
        <TextField label="Default customer id" name="default_customer_id" inputMode="numeric" value={v.default_customer_id} onChange={text("default_customer_id")} errors={errors} hint="Kimai customer for tickets without organization; 0 = none." />
        <TextField label="Default activity id" name="default_activity_id" inputMode="numeric" value={v.default_activity_id} onChange={text("default_activity_id")} errors={errors} hint="Kimai activity for entries without type; 0 = none." />
        <TextField label="Deletion window (days)" name="deletion_window_days" inputMode="numeric" value={v.deletion_window_days} onChange={text("deletion_window_days")} errors={errors} hint="Full runs propagate Zammad deletions this far back." />
        <TextField label="Schedule interval (minutes)" name="interval_minutes" inputMode="numeric" value={v.interval_minutes} onChange={text("interval_minutes")} errors={errors} hint="Incremental runs of an enabled profile, 5 to 1440." />
        <TextField label="Write concurrency" name="concurrency" inputMode="numeric" value={v.concurrency} onChange={text("concurrency")} errors={errors} />
        <TextField label="Extra tags" name="tags" value={v.tags} onChange={text("tags")} errors={errors} hint="Comma-separated; “zammad” is always added." />
      </div>
      <fieldset className="checks-row">
        <legend>Switches</legend>
        <CheckboxField label="Auto-create customers" name="auto_create_customers" checked={v.auto_create_customers} onChange={(x) => set("auto_create_customers", x)} errors={errors} />
        <CheckboxField label="Auto-create projects" name="auto_create_projects" checked={v.auto_create_projects} onChange={(x) => set("auto_create_projects", x)} errors={errors} />
        <CheckboxField label="Auto-create activities" name="auto_create_activities" checked={v.auto_create_activities} onChange={(x) => set("auto_create_activities", x)} errors={errors} />
        <CheckboxField label="Strict users" name="strict_users" checked={v.strict_users} onChange={(x) => set("strict_users", x)} errors={errors} />
        <CheckboxField label="Enabled" name="enabled" checked={v.enabled} onChange={(x) => set("enabled", x)} errors={errors} />
      </fieldset>
      <FormError error={save.error} isError={save.isError} />
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save profile"}
        </button>
        {!creating && onDone && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function SecretOnce({ secret, onClose }: { secret: { name: string; webhook_url: string; webhook_secret: string }; onClose: () => void }) {
  const toast = useToast();
  return (
    <div className="card secret" role="alert" data-testid="webhook-secret">
      <p>
        <strong>Webhook secret for “{secret.name}”</strong> — shown only now. Paste it into Zammad’s webhook as the
        <em> HMAC SHA1 Signature Token</em>.
      </p>
      <code className="secret-value">{secret.webhook_secret}</code>
      <div className="actions">
        <button
          type="button"
          onClick={async () => {
            const ok = await copyText(secret.webhook_secret);
            toast.push(ok ? "success" : "error", ok ? "Secret copied." : "Copy failed; select the secret and copy it by hand.");
          }}
        >
          Copy secret
        </button>
        <button type="button" onClick={onClose}>
          I have saved it
        </button>
      </div>
    </div>
  );
}

function ZammadSteps({ url }: { url: string }) {
  return (
    <details className="steps">
      <summary>Zammad setup steps</summary>
      <ol>
        <li>
          In Zammad: Admin → Webhook → New. Endpoint: <code>{url}</code>. HMAC SHA1 Signature Token: this profile’s webhook
          secret (shown once when created or rotated). SSL verification on, no custom payload.
        </li>
        <li>
          Admin → Trigger → New, e.g. “Timebridge: time accounted”. Activated by <em>Action</em>, <em>updated</em>; add a condition on
          accounted time if your Zammad offers it (otherwise fire on every ticket update — a ticket whose time did not change is
          synced without writes). Action: the webhook above.
        </li>
        <li>Missed deliveries are caught by the scheduled incremental runs and the daily full run.</li>
      </ol>
    </details>
  );
}

function ProfileRow({ p, connectors, onSecret }: { p: Profile; connectors: Connector[]; onSecret: (s: { name: string; webhook_url: string; webhook_secret: string }) => void }) {
  const [editing, setEditing] = useState(false);
  const toast = useToast();
  const name = (id: string) => connectors.find((c) => c.id === id)?.name ?? `${id} (missing)`;
  const rotate = useApiMutation({
    mutationFn: () => api.rotateSecret(p.id),
    success: () => `New webhook secret for “${plain(p.name)}”; the old one no longer works. Update Zammad now.`,
    invalidate: () => [keys.profiles],
    onSuccess: (s) => onSecret({ name: p.name, webhook_url: s.webhook_url, webhook_secret: s.webhook_secret }),
  });
  const del = useApiMutation({
    mutationFn: () => api.deleteProfile(p.id),
    success: () => `Profile “${plain(p.name)}” deleted.`,
    invalidate: () => [keys.profiles],
  });
  return (
    <li className="card row" data-testid="profile-row" data-id={p.id}>
      <div className="row-head">
        <div>
          <strong><Plain text={p.name} /></strong> <StatusBadge status={p.enabled ? "enabled" : "disabled"} />
          <div className="muted small">
            {name(p.zammad_connector_id)} → {name(p.kimai_connector_id)} · {p.minutes_per_unit} min/unit · projects per {p.project_strategy} ·
            users by {p.user_mode} · every {p.interval_minutes} min
          </div>
        </div>
        <div className="actions">
          <button type="button" onClick={() => setEditing((x) => !x)} aria-expanded={editing}>
            Edit
          </button>
          <button
            type="button"
            data-testid="rotate-secret"
            onClick={() => rotate.mutate(undefined)}
            disabled={rotate.isPending}
            title="Replaces the webhook secret at once; update Zammad afterwards"
          >
            {rotate.isPending ? "Rotating…" : "Rotate secret"}
          </button>
          <ConfirmButton label="Delete" question={`Delete “${plain(p.name)}”?`} confirmLabel="Confirm delete" onConfirm={() => del.mutate(undefined)} disabled={del.isPending} />
        </div>
      </div>
      <div className="webhook">
        <span className="muted small">Webhook URL</span>
        <code data-testid="webhook-url">{p.webhook_url}</code>
        <button
          type="button"
          data-testid="copy-webhook-url"
          aria-label={`Copy webhook URL of ${plain(p.name)}`}
          onClick={async () => {
            const ok = await copyText(p.webhook_url);
            toast.push(ok ? "success" : "error", ok ? "Webhook URL copied." : "Copy failed; select the URL and copy it by hand.");
          }}
        >
          Copy
        </button>
      </div>
      <ZammadSteps url={p.webhook_url} />
      {editing && <ProfileForm profile={p} connectors={connectors} onDone={() => setEditing(false)} />}
    </li>
  );
}

export function Profiles() {
  const q = useProfiles();
  const conns = useConnectors();
  const [secret, setSecret] = useState<{ name: string; webhook_url: string; webhook_secret: string } | null>(null);
  const connectors = conns.data ?? [];
  return (
    <Section id="profiles" title="Profiles">
      <p className="muted">A sync profile pairs one Zammad with one Kimai connector and holds the sync settings.</p>
      {secret && <SecretOnce secret={secret} onClose={() => setSecret(null)} />}
      {q.isPending && <Spinner />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && q.data.length === 0 && (
        <Empty>
          No profiles yet.{" "}
          {connectors.length < 2 ? "Add a Zammad and a Kimai connector first, then create a profile below." : "Create one below to start syncing."}
        </Empty>
      )}
      {q.data && q.data.length > 0 && (
        <ul className="list">
          {q.data.map((p) => (
            <ProfileRow key={p.id} p={p} connectors={connectors} onSecret={setSecret} />
          ))}
        </ul>
      )}
      <ProfileForm connectors={connectors} onCreated={setSecret} />
    </Section>
  );
}
