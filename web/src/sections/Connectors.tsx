import { useState, type FormEvent } from "react";
import { api, type Connector, type ConnectorTest } from "../api/client";
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
  TextField,
  fmtTime,
  serverFieldErrors,
  useApiMutation,
  Plain,
  plain,
} from "../ui";

type Kind = Connector["kind"];
interface Values {
  kind: Kind;
  name: string;
  base_url: string;
  token: string;
}

/** Client-side checks mirroring the API's (shared/api/connectors.go). */
export function validateConnector(v: Values, creating: boolean): Record<string, string> {
  const e: Record<string, string> = {};
  if (!v.name.trim()) e.name = "Enter a name, e.g. “Helpdesk”.";
  else if (v.name.trim().length > 100) e.name = "Use at most 100 characters.";
  if (!v.base_url.trim()) e.base_url = "Enter the base URL, e.g. https://helpdesk.example.com.";
  else {
    try {
      const u = new URL(v.base_url.trim());
      if (u.protocol !== "https:" && u.protocol !== "http:") e.base_url = "Use an https:// URL.";
    } catch {
      e.base_url = "Enter a full URL starting with https://.";
    }
  }
  if (creating && !v.token.trim()) e.token = "Paste the API token; Timebridge cannot connect without it.";
  if (v.token.length > 4096) e.token = "The token is too long (at most 4096 characters).";
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
  const [v, setV] = useState<Values>({
    kind: connector?.kind ?? "zammad",
    name: connector?.name ?? "",
    base_url: connector?.base_url ?? "",
    token: "",
  });
  const [clientErrors, setClientErrors] = useState<Record<string, string>>({});
  const save = useApiMutation({
    mutationFn: (vals: Values) =>
      connector
        ? api.updateConnector(connector.id, {
            name: vals.name.trim(),
            base_url: vals.base_url.trim(),
            ...(vals.token ? { token: vals.token } : {}),
            version: connector.version,
          })
        : api.createConnector({
            kind: vals.kind,
            name: vals.name.trim(),
            base_url: vals.base_url.trim(),
            token: vals.token,
          }),
    success: (c) => `Connector “${plain(c.name)}” ${creating ? "created" : "saved"}. Use “Test connection” to check it.`,
    invalidate: () => [keys.connectors],
    onSuccess: (c) => {
      if (creating) setV({ kind: v.kind, name: "", base_url: "", token: "" });
      else setV((x) => ({ ...x, token: "" }));
      onDone?.(c);
    },
  });
  const errors = { ...serverFieldErrors(save.error), ...clientErrors };
  const set = (k: keyof Values) => (e: { target: { value: string } }) => {
    setV((x) => ({ ...x, [k]: e.target.value }));
    setClientErrors((x) => ({ ...x, [k]: undefined as unknown as string }));
  };

  function submit(e: FormEvent) {
    e.preventDefault();
    const errs = validateConnector(v, creating);
    setClientErrors(errs);
    if (Object.keys(errs).length > 0) return;
    save.reset();
    save.mutate(v);
  }

  return (
    <form className="card form" data-testid="connector-form" onSubmit={submit} noValidate>
      <h3>{creating ? "Add a connector" : `Edit “${plain(connector.name)}”`}</h3>
      <SelectField
        label="Kind"
        name="kind"
        value={v.kind}
        onChange={set("kind")}
        disabled={!creating}
        errors={errors}
        hint={creating ? undefined : "The kind of a connector cannot change."}
      >
        <option value="zammad">Zammad (helpdesk)</option>
        <option value="kimai">Kimai (time tracker)</option>
      </SelectField>
      <TextField label="Name" name="name" value={v.name} onChange={set("name")} errors={errors} maxLength={100} />
      <TextField
        label="Base URL"
        name="base_url"
        type="url"
        inputMode="url"
        placeholder="https://"
        value={v.base_url}
        onChange={set("base_url")}
        errors={errors}
      />
      <TextField
        label="Token"
        name="token"
        type="password"
        autoComplete="off"
        value={v.token}
        onChange={set("token")}
        errors={errors}
        hint={
          connector?.token_set
            ? `A token ending ${connector.token_hint} is stored and never shown. Leave empty to keep it, or paste a new one to replace it.`
            : v.kind === "zammad"
              ? "Zammad: Profile → Token Access, with the ticket.agent and admin.object permissions."
              : "Kimai: your user → API access → create an API token."
        }
      />
      <FormError error={save.error} isError={save.isError} />
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save connector"}
        </button>
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
