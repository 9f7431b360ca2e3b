import { useState } from "react";
import { api, type Connector, type ConnectorCreate, type ConnectorTest } from "../api/client";
import { schemaLimits } from "../api/limits";
import { lengthProblem } from "../forms/rules";
import { useForm, type FormValues, type Problems } from "../forms/useForm";
import { keys, useConnectors, useProfiles } from "../queries";
import {
  FormError,
  ConfirmButton,
  Empty,
  QueryError,
  Section,
  SelectField,
  Spinner,
  StatusBadge,
  SubmitButton,
  TextField,
  fmtTime,
  useApiMutation,
  Plain,
  plain,
} from "../ui";

export type ConnectorValues = FormValues<ConnectorCreate>;

const kindLabels: Record<ConnectorValues["kind"], string> = {
  zammad: "Zammad (helpdesk)",
  kimai: "Kimai (time tracker)",
};

/** Client-side checks, with the API's limits (ConnectorCreate, ConnectorPatch in openapi.json). */
export function validateConnector(v: ConnectorValues, creating: boolean): Problems<ConnectorValues> {
  const lim = creating ? schemaLimits.ConnectorCreate : schemaLimits.ConnectorPatch;
  const e: Problems<ConnectorValues> = {};
  const name = v.name.trim();
  if (!name) e.name = "Enter a name, e.g. “Helpdesk”.";
  else e.name = lengthProblem(name, lim.name);
  const url = v.base_url.trim();
  if (!url) e.base_url = "Enter the base URL, e.g. https://helpdesk.example.com.";
  else if (url.length > lim.base_url.maxLength) e.base_url = `The URL is too long (at most ${lim.base_url.maxLength} characters).`;
  else {
    try {
      const u = new URL(url);
      if (u.protocol !== "https:" && u.protocol !== "http:") e.base_url = "Use an https:// URL.";
    } catch {
      e.base_url = "Enter a full URL starting with https://.";
    }
  }
  if (creating && !v.token.trim()) e.token = "Paste the API token; Timebridge cannot connect without it.";
  if (v.token.length > lim.token.maxLength) e.token = `The token is too long (at most ${lim.token.maxLength} characters).`;
  return e;
}

export function ConnectorForm({
  connector,
  onDone,
}: {
  connector?: Connector;
  onDone?: (c: Connector) => void;
}) {
  const creating = !connector;
  const lim = creating ? schemaLimits.ConnectorCreate : schemaLimits.ConnectorPatch;
  const form = useForm({
    initial: (): ConnectorValues => ({
      kind: connector?.kind ?? "zammad",
      name: connector?.name ?? "",
      base_url: connector?.base_url ?? "",
      token: "",
    }),
    validate: (v) => validateConnector(v, creating),
    send: (v) =>
      connector
        ? api.updateConnector(connector.id, {
            name: v.name.trim(),
            base_url: v.base_url.trim(),
            ...(v.token ? { token: v.token } : {}),
            version: connector.version,
          })
        : api.createConnector({ kind: v.kind, name: v.name.trim(), base_url: v.base_url.trim(), token: v.token }),
    success: (c) => `Connector “${plain(c.name)}” ${creating ? "created" : "saved"}. Use “Test connection” to check it.`,
    invalidate: () => [keys.connectors],
    onSuccess: (c, _sent, setValues) => {
      if (creating) setValues((x) => ({ kind: x.kind, name: "", base_url: "", token: "" }));
      else setValues((x) => ({ ...x, token: "" }));
      onDone?.(c);
    },
  });
  const v = form.values;

  return (
    <form className="card form" data-testid="connector-form" onSubmit={form.onSubmit} noValidate>
      <h3>{creating ? "Add a connector" : `Edit “${plain(connector.name)}”`}</h3>
      <SelectField
        label="Kind"
        {...form.choice("kind", schemaLimits.ConnectorCreate.kind.enum)}
        disabled={!creating}
        hint={creating ? undefined : "The kind of a connector cannot change."}
      >
        {schemaLimits.ConnectorCreate.kind.enum.map((k) => (
          <option key={k} value={k}>
            {kindLabels[k]}
          </option>
        ))}
      </SelectField>
      <TextField label="Name" {...form.text("name")} maxLength={lim.name.maxLength} />
      <TextField label="Base URL" type="url" inputMode="url" placeholder="https://" {...form.text("base_url")} />
      <TextField
        label="Token"
        type="password"
        autoComplete="off"
        {...form.text("token")}
        hint={
          connector?.token_set
            ? `A token ending ${connector.token_hint} is stored and never shown. Leave empty to keep it, or paste a new one to replace it.`
            : v.kind === "zammad"
              ? "Zammad: Profile → Token Access, with the ticket.agent and admin.object permissions."
              : "Kimai: your user → API access → create an API token."
        }
      />
      <FormError error={form.mutation.error} isError={form.mutation.isError} />
      <div className="actions">
        <SubmitButton label="Save connector" pending={form.pending} />
        {!creating && onDone && (
          <button type="button" onClick={() => onDone(connector)}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

export function TestResult({ result }: { result: ConnectorTest }) {
  return (
    <div className="test-result" data-testid="test-result" data-ok={result.ok} role="status">
      <p>
        <strong>{result.ok ? "Connection works." : "Connection has problems."}</strong>{" "}
        {result.version && <>Version {result.version}. </>}
        {result.user && (
          <>
            Signed in as <Plain text={result.user.name} />
            {result.user.email ? ` (${result.user.email})` : ""}.
          </>
        )}
      </p>
      <ul className="checks">
        {result.checks.map((c) => (
          <li key={c.name} className={`check check-${c.status}`}>
            <StatusBadge status={c.status} /> <strong><Plain text={c.name} /></strong>
            {c.class && <span className="muted"> ({c.class})</span>}: <Plain text={c.message} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function ConnectorRow({ c, inUse }: { c: Connector; inUse: boolean }) {
  const [editing, setEditing] = useState(false);
  const [result, setResult] = useState<ConnectorTest | null>(null);
  const test = useApiMutation({
    mutationFn: () => api.testConnector(c.id),
    success: (r) =>
      r.ok
        ? `“${plain(c.name)}”: connection works.`
        : `“${plain(c.name)}”: ${r.checks.find((x) => x.status === "failed")?.message ?? "a check failed."}`,
    onSuccess: (r) => setResult(r),
  });
  const del = useApiMutation({
    mutationFn: () => api.deleteConnector(c.id),
    success: () => `Connector “${plain(c.name)}” deleted.`,
    invalidate: () => [keys.connectors],
  });
  return (
    <li className="card row" data-testid="connector-row" data-id={c.id}>
      <div className="row-head">
        <div>
          <strong><Plain text={c.name} /></strong> <StatusBadge status={c.kind} />
          <div className="muted small">
            {c.base_url} · token {c.token_set ? c.token_hint : "not set"} · updated {fmtTime(c.updated_at)}
          </div>
        </div>
        <div className="actions">
          <button type="button" data-testid="test-connection" onClick={() => test.mutate(undefined)} disabled={test.isPending}>
            {test.isPending ? "Testing…" : "Test connection"}
          </button>
          <button type="button" onClick={() => setEditing((x) => !x)} aria-expanded={editing}>
            Edit
          </button>
          <ConfirmButton
            label="Delete"
            question={`Delete “${plain(c.name)}”?${inUse ? " A profile uses it." : ""}`}
            confirmLabel="Confirm delete"
            onConfirm={() => del.mutate(undefined)}
            disabled={del.isPending}
          />
        </div>
      </div>
      {test.isPending && <Spinner label="Testing connection…" />}
      {result && !test.isPending && <TestResult result={result} />}
      {editing && <ConnectorForm connector={c} onDone={() => setEditing(false)} />}
    </li>
  );
}

export function Connectors() {
  const q = useConnectors();
  const profiles = useProfiles();
  const used = new Set((profiles.data ?? []).flatMap((p) => [p.zammad_connector_id, p.kimai_connector_id]));
  return (
    <Section id="connectors" title="Connectors">
      <p className="muted">A connector is one Zammad or Kimai instance with its API token. You need one of each.</p>
      {q.isPending && <Spinner />}
      {q.isError && <QueryError error={q.error} />}
      {q.data && q.data.length === 0 && (
        <Empty>No connectors yet. Add your Zammad helpdesk and your Kimai time tracker below, then test them.</Empty>
      )}
      {q.data && q.data.length > 0 && (
        <ul className="list">
          {q.data.map((c) => (
            <ConnectorRow key={c.id} c={c} inUse={used.has(c.id)} />
          ))}
        </ul>
      )}
      <ConnectorForm />
    </Section>
  );
}
