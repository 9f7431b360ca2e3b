import { useEffect, useRef, useState } from "react";
import { api, type Connector, type ConnectorCreate, type ConnectorTest } from "../api/client";
import { schemaLimits } from "../api/limits";
import { lengthProblem } from "../forms/rules";
import { useForm, type FormValues, type Problems } from "../forms/useForm";
import { keys, useConnectors, useProfiles } from "../queries";
import { markTested, useAddToggle, useSetup } from "./Guide";
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

/**
 * The permissions a Zammad token needs: the same list the connector test's
 * permissions check names (ZammadPermissions in shared/probe/probe.go;
 * connectors.test.tsx compares the two).
 */
export const zammadPermissions = ["admin.time_accounting", "ticket.agent"] as const;

/** "a and b" for a short list. */
function both(xs: readonly string[]): string {
  return xs.length <= 1 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;
}

export const zammadTokenHint = `Zammad: Profile → Token Access, with the ${both(zammadPermissions)} permissions (what “Test connection” checks).`;

/**
 * The end of a stored token, as the API's token_hint gives it ("…ab12").
 * A short token's hint keeps every character hidden ("…", see vault.Hint):
 * then there is nothing to show, and null says so.
 */
export function tokenEnding(c: Pick<Connector, "token_set" | "token_hint">): string | null {
  if (!c.token_set) return null;
  return c.token_hint.replace(/^…/, "") === "" ? null : c.token_hint;
}

/** The token part of a connector's summary line. */
export function tokenSummary(c: Pick<Connector, "token_set" | "token_hint">): string {
  if (!c.token_set) return "token not set";
  const end = tokenEnding(c);
  return end ? `token ${end}` : "token set (too short to show its end)";
}

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
  focusOnOpen = false,
}: {
  /** Focus the form's heading when it appears (an Add form opened by its button). */
  focusOnOpen?: boolean;
  connector?: Connector;
  onDone?: (c: Connector) => void;
}) {
  const creating = !connector;
  const lim = creating ? schemaLimits.ConnectorCreate : schemaLimits.ConnectorPatch;
  const heading = useRef<HTMLHeadingElement>(null);
  // An edit form opens where the reader asked for it: focus moves to it.
  useEffect(() => {
    if (!creating || focusOnOpen) heading.current?.focus();
  }, [creating, focusOnOpen]);
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
  const headingId = `connector-form-${connector?.id ?? "new"}`;
  const ending = connector ? tokenEnding(connector) : null;

  return (
    <form
      className="card form"
      data-testid={creating ? "connector-form" : "connector-edit-form"}
      onSubmit={form.onSubmit}
      noValidate
      aria-labelledby={headingId}
    >
      <h3 id={headingId} ref={heading} tabIndex={-1}>
        {creating ? "Add a connector" : `Edit connector “${plain(connector.name)}”`}
      </h3>
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
            ? `${ending ? `A token ending ${ending}` : "A token"} is stored and never shown. Leave empty to keep it, or paste a new one to replace it.`
            : v.kind === "zammad"
              ? zammadTokenHint
              : "Kimai: your user → API access → create an API token."
        }
      />
      <FormError error={form.mutation.error} isError={form.mutation.isError} />
      <div className="actions">
        {/* Add and Edit say what they do: an edit saves changes to one connector. */}
        <SubmitButton label={creating ? "Save connector" : "Save changes"} pending={form.pending} />
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

function ConnectorRow({
  c,
  inUse,
  editing,
  onEdit,
}: {
  c: Connector;
  inUse: boolean;
  editing: boolean;
  /** Opens (true) or closes (false) this connector's edit form. */
  onEdit: (open: boolean) => void;
}) {
  const [result, setResult] = useState<ConnectorTest | null>(null);
  const editButton = useRef<HTMLButtonElement>(null);
  const name = plain(c.name);
  const test = useApiMutation({
    mutationFn: () => api.testConnector(c.id),
    // A test whose check failed is a failure: an error toast, not a green one.
    success: (r) =>
      r.ok
        ? `“${name}”: connection works.`
        : { kind: "error", message: `“${name}”: ${r.checks.find((x) => x.status === "failed")?.message ?? "a check failed."}` },
    onSuccess: (r) => {
      setResult(r);
      markTested(c.id, r.ok);
    },
  });
  const del = useApiMutation({
    mutationFn: () => api.deleteConnector(c.id),
    success: () => `Connector “${name}” deleted.`,
    invalidate: () => [keys.connectors],
  });
  const close = () => {
    onEdit(false);
    // Back to where the edit started.
    requestAnimationFrame(() => editButton.current?.focus());
  };
  return (
    <li className="card row" data-testid="connector-row" data-id={c.id}>
      <div className="row-head">
        <div>
          <strong><Plain text={c.name} /></strong> <StatusBadge status={c.kind} />
          <div className="muted small">
            {c.base_url} · {tokenSummary(c)} · updated {fmtTime(c.updated_at)}
          </div>
        </div>
        <div className="actions">
          {/* Visible text stays short; the accessible name says which connector. */}
          <button
            type="button"
            data-testid="test-connection"
            aria-label={`${test.isPending ? "Testing connection to" : "Test connection to"} connector “${name}”`}
            onClick={() => test.mutate(undefined)}
            disabled={test.isPending}
          >
            {test.isPending ? "Testing…" : "Test connection"}
          </button>
          <button
            type="button"
            ref={editButton}
            data-testid="edit-connector"
            onClick={() => (editing ? close() : onEdit(true))}
            aria-expanded={editing}
            aria-label={`Edit connector “${name}”`}
          >
            Edit
          </button>
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete connector “${name}”`}
            question={`Delete “${name}”?${inUse ? " A profile uses it." : ""}`}
            confirmLabel="Confirm delete"
            onConfirm={() => del.mutate(undefined)}
            disabled={del.isPending}
          />
        </div>
      </div>
      {test.isPending && <Spinner label="Testing connection…" />}
      {result && !test.isPending && <TestResult result={result} />}
      {editing && <ConnectorForm connector={c} onDone={close} />}
    </li>
  );
}

export function Connectors() {
  const q = useConnectors();
  const profiles = useProfiles();
  const used = new Set((profiles.data ?? []).flatMap((p) => [p.zammad_connector_id, p.kimai_connector_id]));
  // One form at a time: while a connector is edited, the Add form is put away.
  const [editing, setEditing] = useState<string | null>(null);
  const editedExists = editing !== null && (q.data ?? []).some((c) => c.id === editing);
  const setup = useSetup();
  const [adding, setAdding] = useAddToggle();
  // The Add form is open while setting up (or while nothing exists), and put
  // behind "Add connector" once setup is complete.
  const addOpen = adding ?? !(setup.complete || (!setup.known && (q.data?.length ?? 0) > 0));
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
            <ConnectorRow
              key={c.id}
              c={c}
              inUse={used.has(c.id)}
              editing={editing === c.id}
              onEdit={(open) => setEditing(open ? c.id : null)}
            />
          ))}
        </ul>
      )}
      {editedExists ? (
        <p className="muted small" data-testid="add-connector-hidden">
          Finish or cancel the edit above to add another connector.
        </p>
      ) : (
        <>
          {!addOpen || adding !== null ? (
            <button type="button" className="add-toggle" data-testid="add-connector" aria-expanded={addOpen} aria-controls="add-connector-form" onClick={() => setAdding(!addOpen)}>
              {addOpen ? "Close the new connector form" : "Add connector"}
            </button>
          ) : null}
          {addOpen && (
            <div id="add-connector-form">
              <ConnectorForm focusOnOpen={adding === true} />
            </div>
          )}
        </>
      )}
    </Section>
  );
}
