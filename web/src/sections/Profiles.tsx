import { useEffect, useRef, useState } from "react";
import { api, type Connector, type Profile, type ProfileCreated, type ProfileInput } from "../api/client";
import { schemaLimits } from "../api/limits";
import { decimalWithin, intWithin, lengthProblem, matches, rangeText } from "../forms/rules";
import { useForm, type FormValues, type Problems } from "../forms/useForm";
import { keys, useCatalog, useConnectors, useProfiles } from "../queries";
import { CatalogSelect, type CatalogState } from "./CatalogPicker";
import { useAddToggle, useSetup } from "./Guide";
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
  SubmitButton,
  TextField,
  copyText,
  useApiMutation,
  useToast,
  Plain,
  plain,
} from "../ui";

/**
 * The profile form edits every ProfileInput field but the version (sent from
 * the profile edited); billing's two fields are flat (billing_enabled,
 * billing_tag) and sent as the billing object.
 */
export type ProfileValues = FormValues<Omit<ProfileInput, "version" | "billing">> & { billing_enabled: boolean; billing_tag: string };

const lim = schemaLimits.ProfileInput;
const billingLim = schemaLimits.Billing;
/** The tag a billed ticket gets when none was chosen (Billing.tag in openapi.json). */
export const DEFAULT_BILLING_TAG = "billed";


const strategyLabels: Record<ProfileValues["project_strategy"], string> = {
  customer: "One project per customer (organization)",
  ticket: "One project per ticket",
  group: "One project per group and organization",
};

const userModeLabels: Record<ProfileValues["user_mode"], string> = {
  token: "API token’s user",
  email: "Match agents by email",
  explicit: "Explicit user mappings",
};

const paceLabels: Record<ProfileValues["pace"], string> = {
  adaptive: "Adaptive: as many as Kimai keeps up with",
  fixed: "Fixed: always the write concurrency",
};

export function profileValues(p?: Profile): ProfileValues {
  return {
    name: p?.name ?? "",
    zammad_connector_id: p?.zammad_connector_id ?? "",
    kimai_connector_id: p?.kimai_connector_id ?? "",
    minutes_per_unit: String(p?.minutes_per_unit ?? lim.minutes_per_unit.default),
    project_strategy: p?.project_strategy ?? lim.project_strategy.default,
    auto_create_customers: p?.auto_create_customers ?? true,
    auto_create_projects: p?.auto_create_projects ?? true,
    auto_create_activities: p?.auto_create_activities ?? true,
    enabled: p?.enabled ?? lim.enabled.default,
    default_customer_id: String(p?.default_customer_id ?? 0),
    default_activity_id: String(p?.default_activity_id ?? 0),
    user_mode: p?.user_mode ?? lim.user_mode.default,
    strict_users: p?.strict_users ?? false,
    deletion_window_days: String(p?.deletion_window_days ?? lim.deletion_window_days.default),
    concurrency: String(p?.concurrency ?? lim.concurrency.default),
    pace: p?.pace ?? lim.pace.default,
    interval_minutes: String(p?.interval_minutes ?? lim.interval_minutes.default),
    tags: (p?.tags ?? []).filter((t) => t !== "zammad").join(", "),
    billing_enabled: p?.billing?.enabled ?? false,
    billing_tag: p?.billing?.tag || DEFAULT_BILLING_TAG,
  };
}

/** Client-side checks, with the API's limits (ProfileInput in openapi.json). */
export function validateProfile(v: ProfileValues): Problems<ProfileValues> {
  const e: Problems<ProfileValues> = {};
  const name = v.name.trim();
  if (!name) e.name = "Enter a name, e.g. “Support → Kimai”.";
  else e.name = lengthProblem(name, lim.name);
  if (!v.zammad_connector_id) e.zammad_connector_id = "Choose the Zammad connector (add one under Connectors first).";
  if (!v.kimai_connector_id) e.kimai_connector_id = "Choose the Kimai connector (add one under Connectors first).";
  const m = v.minutes_per_unit.trim();
  if (!decimalWithin(m, lim.minutes_per_unit))
    e.minutes_per_unit = `Enter a number above ${lim.minutes_per_unit.exclusiveMinimum} and at most ${lim.minutes_per_unit.maximum} (1 = minutes, 60 = hours, 15 = quarter hours).`;
  if (!intWithin(v.default_customer_id, lim.default_customer_id)) e.default_customer_id = "Choose a Kimai customer, or None.";
  if (!intWithin(v.default_activity_id, lim.default_activity_id)) e.default_activity_id = "Choose a Kimai activity, or None.";
  if (!intWithin(v.deletion_window_days, lim.deletion_window_days))
    e.deletion_window_days = `Enter ${rangeText(lim.deletion_window_days)} days.`;
  if (!intWithin(v.concurrency, lim.concurrency)) e.concurrency = `Enter ${rangeText(lim.concurrency)}.`;
  if (!intWithin(v.interval_minutes, lim.interval_minutes)) e.interval_minutes = `Enter ${rangeText(lim.interval_minutes)} minutes.`;
  const tags = splitTags(v.tags);
  const tag = lim.tags.items;
  if (tags.length > lim.tags.maxItems) e.tags = `Use at most ${lim.tags.maxItems} tags.`;
  else if (tags.some((t) => t.length < tag.minLength || t.length > tag.maxLength))
    e.tags = `Each tag needs ${tag.minLength} to ${tag.maxLength} characters.`;
  // The pattern also excludes the comma, which separates the tags here.
  else if (!tags.every((t) => matches(t, tag))) e.tags = "Tags cannot contain < > \" or =.";
  if (v.billing_enabled) {
    const bt = v.billing_tag.trim();
    if (!bt) e.billing_tag = `Enter the tag billed tickets get, e.g. “${DEFAULT_BILLING_TAG}”.`;
    else if (!matches(bt, billingLim.tag)) e.billing_tag = "The tag cannot contain a comma.";
    else e.billing_tag = lengthProblem(bt, billingLim.tag);
  }
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
    pace: v.pace,
    interval_minutes: Number(v.interval_minutes),
    tags: splitTags(v.tags),
    billing: { enabled: v.billing_enabled, tag: v.billing_tag.trim() || DEFAULT_BILLING_TAG },
  };
}

export function ProfileForm({
  profile,
  connectors,
  onDone,
  onCreated,
  focusOnOpen = false,
}: {
  /** Focus the form's heading when it appears (an Add form opened by its button). */
  focusOnOpen?: boolean;
  profile?: Profile;
  connectors: Connector[];
  onDone?: () => void;
  onCreated?: (secret: { webhook_url: string; webhook_secret: string; name: string }) => void;
}) {
  const creating = !profile;
  const heading = useRef<HTMLHeadingElement>(null);
  // An edit form opens where the reader asked for it: focus moves to it.
  useEffect(() => {
    if (!creating || focusOnOpen) heading.current?.focus();
  }, [creating, focusOnOpen]);
  const headingId = `profile-form-${profile?.id ?? "new"}`;
  const form = useForm({
    initial: () => profileValues(profile),
    validate: validateProfile,
    send: (v): Promise<Profile | ProfileCreated> =>
      profile ? api.updateProfile(profile.id, { ...toInput(v), version: profile.version }) : api.createProfile(toInput(v)),
    success: (p) => `Profile “${plain(p.name)}” ${creating ? "created" : "saved"}.`,
    invalidate: () => [keys.profiles],
    onSuccess: (p, _sent, setValues) => {
      // Only a created profile (ProfileCreated) carries its webhook secret.
      if ("webhook_secret" in p) onCreated?.({ webhook_url: p.webhook_url, webhook_secret: p.webhook_secret, name: p.name });
      if (creating) setValues(profileValues());
      onDone?.();
    },
  });
  const zammad = connectors.filter((c) => c.kind === "zammad");
  const kimai = connectors.filter((c) => c.kind === "kimai");
  const kimaiId = kimai.some((c) => c.id === form.values.kimai_connector_id) ? form.values.kimai_connector_id : undefined;
  const cat = useCatalog(kimaiId);
  const catalog = (items: "customers" | "activities"): CatalogState => ({
    items: cat.data?.[items],
    pending: !!kimaiId && cat.isPending,
    error: cat.error,
    unavailable: kimaiId ? undefined : "Choose the Kimai connector first to pick by name.",
  });
  // The server names billing's problems "billing.tag"; the form's field is billing_tag.
  const billingErrors = { billing_tag: form.errors.billing_tag ?? form.errors["billing.tag"] };

  return (
    <form
      className="card form"
      data-testid={creating ? "profile-form" : "profile-edit-form"}
      onSubmit={form.onSubmit}
      noValidate
      aria-labelledby={headingId}
    >
      <h3 id={headingId} ref={heading} tabIndex={-1}>
        {creating ? "Add a sync profile" : `Edit profile “${plain(profile.name)}”`}
      </h3>
      <div className="grid">
        <TextField label="Name" {...form.text("name")} maxLength={lim.name.maxLength} />
        <SelectField label="Zammad connector" {...form.text("zammad_connector_id")}>
          <option value="">Choose…</option>
          {zammad.map((c) => (
            <option key={c.id} value={c.id}>
              <Plain text={c.name} />
            </option>
          ))}
        </SelectField>
        <SelectField label="Kimai connector" {...form.text("kimai_connector_id")}>
          <option value="">Choose…</option>
          {kimai.map((c) => (
            <option key={c.id} value={c.id}>
              <Plain text={c.name} />
            </option>
          ))}
        </SelectField>
        <TextField
          label="Minutes per unit"
          inputMode="decimal"
          {...form.text("minutes_per_unit")}
          hint="What one Zammad time unit is worth: 1 (minutes), 60 (hours), 15 (quarter hours)."
        />
        <SelectField
          label="Project strategy"
          {...form.choice("project_strategy", lim.project_strategy.enum)}
          hint="Which Kimai project an entry goes to."
        >
          {lim.project_strategy.enum.map((s) => (
            <option key={s} value={s}>
              {strategyLabels[s]}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="User mode"
          {...form.choice("user_mode", lim.user_mode.enum)}
          hint="Whose timesheet: the API token’s user, the agent matched by email, or explicit user mappings."
        >
          {lim.user_mode.enum.map((m) => (
            <option key={m} value={m}>
              {userModeLabels[m]}
            </option>
          ))}
        </SelectField>
        <CatalogSelect
          label="Default customer"
          {...form.text("default_customer_id")}
          what="customer"
          none="None"
          catalog={catalog("customers")}
          hint="Kimai customer for tickets without organization."
        />
        <CatalogSelect
          label="Default activity"
          {...form.text("default_activity_id")}
          what="activity"
          none="None"
          catalog={catalog("activities")}
          hint="Kimai activity for entries without type."
        />
        <TextField label="Deletion window (days)" inputMode="numeric" {...form.text("deletion_window_days")} hint="Full runs propagate Zammad deletions this far back." />
        <TextField
          label="Schedule interval (minutes)"
          inputMode="numeric"
          {...form.text("interval_minutes")}
          hint={`Incremental runs of an enabled profile, ${rangeText(lim.interval_minutes)}.`}
        />
        <TextField label="Write concurrency" inputMode="numeric" {...form.text("concurrency")} />
        <SelectField
          label="Write pace"
          {...form.choice("pace", lim.pace.enum)}
          hint="Adaptive learns from Kimai’s answers (latency, 429s) how many writes it takes at once, up to the write concurrency; fixed always uses the write concurrency."
        >
          {lim.pace.enum.map((m) => (
            <option key={m} value={m}>
              {paceLabels[m]}
            </option>
          ))}
        </SelectField>
        <TextField label="Extra tags" {...form.text("tags")} hint="Comma-separated; “zammad” is always added." />
      </div>
      <fieldset className="checks-row">
        <legend>Switches</legend>
        <CheckboxField label="Auto-create customers" {...form.check("auto_create_customers")} />
        <CheckboxField label="Auto-create projects" {...form.check("auto_create_projects")} />
        <CheckboxField label="Auto-create activities" {...form.check("auto_create_activities")} />
        <CheckboxField label="Strict users" {...form.check("strict_users")} />
        {!creating && <CheckboxField label="Enabled" {...form.check("enabled")} />}
      </fieldset>
      <fieldset className="billing">
        <legend>Billing</legend>
        <CheckboxField label="Tag billed tickets in Zammad" {...form.check("billing_enabled")} />
        <p className="muted small" id={`${headingId}-billing-hint`}>
          Once Kimai marks every synced entry of a ticket exported (billed), the ticket gets this tag in Zammad; it is removed when an entry is added or a
          timesheet un-exported.
        </p>
        {form.values.billing_enabled && (
          <TextField
            label="Billing tag"
            {...form.text("billing_tag")}
            errors={billingErrors}
            maxLength={billingLim.tag.maxLength}
            hint={`${billingLim.tag.minLength} to ${billingLim.tag.maxLength} characters, no comma.`}
          />
        )}
      </fieldset>
      {creating && (
        <p className="muted small" data-testid="starts-disabled">
          A new profile starts with its schedule off: preview and apply a sync from the dashboard first, then turn the schedule on there.
        </p>
      )}
      <FormError error={form.mutation.error} isError={form.mutation.isError} />
      <div className="actions">
        <SubmitButton label={creating ? "Save profile" : "Save changes"} pending={form.pending} />
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

function ProfileRow({
  p,
  connectors,
  onSecret,
  editing,
  onEdit,
}: {
  p: Profile;
  connectors: Connector[];
  onSecret: (s: { name: string; webhook_url: string; webhook_secret: string }) => void;
  editing: boolean;
  /** Opens (true) or closes (false) this profile's edit form. */
  onEdit: (open: boolean) => void;
}) {
  const toast = useToast();
  const editButton = useRef<HTMLButtonElement>(null);
  const close = () => {
    onEdit(false);
    requestAnimationFrame(() => editButton.current?.focus());
  };
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
            {p.billing?.enabled ? <> · billed tickets tagged “<Plain text={p.billing.tag} />”</> : null}
          </div>
        </div>
        <div className="actions">
          {/* Visible text stays short; the accessible name says which profile. */}
          <button
            type="button"
            ref={editButton}
            data-testid="edit-profile"
            onClick={() => (editing ? close() : onEdit(true))}
            aria-expanded={editing}
            aria-label={`Edit profile “${plain(p.name)}”`}
          >
            Edit
          </button>
          <button
            type="button"
            data-testid="rotate-secret"
            onClick={() => rotate.mutate(undefined)}
            disabled={rotate.isPending}
            title="Replaces the webhook secret at once; update Zammad afterwards"
            aria-label={`${rotate.isPending ? "Rotating secret of" : "Rotate secret of"} profile “${plain(p.name)}”`}
          >
            {rotate.isPending ? "Rotating…" : "Rotate secret"}
          </button>
          <ConfirmButton label="Delete" ariaLabel={`Delete profile “${plain(p.name)}”`} question={`Delete “${plain(p.name)}”?`} confirmLabel="Confirm delete" onConfirm={() => del.mutate(undefined)} disabled={del.isPending} />
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
      {editing && <ProfileForm profile={p} connectors={connectors} onDone={close} />}
    </li>
  );
}

export function Profiles() {
  const q = useProfiles();
  const conns = useConnectors();
  const [secret, setSecret] = useState<{ name: string; webhook_url: string; webhook_secret: string } | null>(null);
  const connectors = conns.data ?? [];
  // One form at a time: while a profile is edited, the Add form is put away.
  const [editing, setEditing] = useState<string | null>(null);
  const editedExists = editing !== null && (q.data ?? []).some((p) => p.id === editing);
  const setup = useSetup();
  const [adding, setAdding] = useAddToggle();
  // The Add form is open while setting up (or while nothing exists), and put
  // behind "Add profile" once setup is complete.
  const addOpen = adding ?? !(setup.complete || (!setup.known && (q.data?.length ?? 0) > 0));
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
            <ProfileRow
              key={p.id}
              p={p}
              connectors={connectors}
              onSecret={setSecret}
              editing={editing === p.id}
              onEdit={(open) => setEditing(open ? p.id : null)}
            />
          ))}
        </ul>
      )}
      {editedExists ? (
        <p className="muted small" data-testid="add-profile-hidden">
          Finish or cancel the edit above to add another profile.
        </p>
      ) : (
        <>
          {!addOpen || adding !== null ? (
            <button type="button" className="add-toggle" data-testid="add-profile" aria-expanded={addOpen} aria-controls="add-profile-form" onClick={() => setAdding(!addOpen)}>
              {addOpen ? "Close the new profile form" : "Add profile"}
            </button>
          ) : null}
          {addOpen && (
            <div id="add-profile-form">
              <ProfileForm connectors={connectors} onCreated={setSecret} focusOnOpen={adding === true} />
            </div>
          )}
        </>
      )}
    </Section>
  );
}
