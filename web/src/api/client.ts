// Typed client for the Timebridge API. Every request and response type comes
// from schema.d.ts, generated from shared/api/openapi.json (npm run gen:api;
// npm test fails when the two drift).
import type { components, operations, paths } from "./schema";
import { queryLimits } from "./limits";

export type Schemas = components["schemas"];
export type Connector = Schemas["Connector"];
export type ConnectorCreate = Schemas["ConnectorCreate"];
export type ConnectorPatch = Schemas["ConnectorPatch"];
export type ConnectorTest = Schemas["ConnectorTest"];
export type Check = Schemas["Check"];
export type Catalog = Schemas["Catalog"];
export type CatalogItem = Schemas["CatalogItem"];
export type Profile = Schemas["Profile"];
export type ProfileInput = Schemas["ProfileInput"];
export type ProfilePatch = Schemas["ProfilePatch"];
export type ProfileCreated = Schemas["ProfileCreated"];
export type WebhookSecret = Schemas["WebhookSecret"];
export type Mapping = Schemas["Mapping"];
export type MappingInput = Schemas["MappingInput"];
export type MappingKind = Mapping["kind"];
export type RunRequest = Schemas["RunRequest"];
export type RunAccepted = Schemas["RunAccepted"];
export type Run = Schemas["Run"];
export type Counts = Schemas["Counts"];
export type PlannedChange = Schemas["PlannedChange"];
export type Timesheet = Schemas["Timesheet"];
export type Conflict = Schemas["Conflict"];
export type Resolution = Schemas["ResolveRequest"]["action"];
export type AuditEvent = Schemas["AuditEvent"];
export type Summary = Schemas["Summary"];
export type DayTotal = Schemas["DayTotal"];
export type Token = Schemas["Token"];
export type Progress = Schemas["Progress"];
export type RunStatus = Run["status"];
export type EntryOutcome = Schemas["EntryOutcome"];
export type Outcome = EntryOutcome["outcome"];
export type Report = Schemas["Report"];
export type ReportGroup = Schemas["ReportGroup"];
export type ReportReason = Schemas["ReportReason"];
export type ReportDay = Report["days"][number];
export type ErrorCode = Schemas["Error"]["error"]["code"];

/** The query parameters of an operation (by operationId), as openapi.json declares them. */
export type QueryParams<Id extends keyof operations> = NonNullable<operations[Id]["parameters"]["query"]>;
export type RunsQuery = QueryParams<"listRuns">;
export type ConflictsQuery = QueryParams<"listConflicts">;
export type ConflictStatus = NonNullable<ConflictsQuery["status"]>;
export type AuditQuery = QueryParams<"listAudit">;
export type SummaryQuery = QueryParams<"getSummary">;
export type RunEntriesQuery = QueryParams<"listRunEntries">;
/** The report's query without its format (report() asks for JSON, reportCsv() for CSV). */
export type ReportQuery = Omit<QueryParams<"getReport">, "format">;
export type GroupBy = NonNullable<ReportQuery["group_by"]>;

/** An API failure: the server's error envelope, or a synthetic one for network trouble. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | "network";
  readonly fields: Record<string, string>;
  constructor(status: number, code: ErrorCode | "network", message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

// The codes of the Error schema's enum (ErrorCode, generated from
// openapi.json, which a Go test keeps equal to apperr.Code): the compiler
// rejects a code that is not in it and a code of it that is missing here.
const codes = [
  "validation_failed",
  "not_found",
  "unauthorized",
  "forbidden",
  "conflict",
  "rate_limited",
  "upstream_error",
  "internal",
] as const satisfies readonly ErrorCode[];
type MissingCode = Exclude<ErrorCode, (typeof codes)[number]>;
const everyCode: [MissingCode] extends [never] ? true : MissingCode = true;
void everyCode;

function codeForStatus(status: number): ErrorCode {
  if (status === 400 || status === 405 || status === 413) return "validation_failed";
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 429) return "rate_limited";
  if (status === 502 || status === 503 || status === 504) return "upstream_error";
  return "internal";
}

/** Parses `{"error":{"code","message","fields"}}`; tolerates anything else. */
export function parseErrorEnvelope(status: number, body: unknown): ApiError {
  const env = (body as { error?: unknown } | null)?.error as
    | { code?: unknown; message?: unknown; fields?: unknown }
    | undefined;
  const code =
    env && typeof env.code === "string" && (codes as readonly string[]).includes(env.code)
      ? (env.code as ErrorCode)
      : codeForStatus(status);
  const message =
    env && typeof env.message === "string" && env.message
      ? env.message
      : `The server answered ${status} without an explanation. Try again; if it persists, check the API logs.`;
  const fields: Record<string, string> = {};
  if (env && env.fields && typeof env.fields === "object") {
    for (const [k, v] of Object.entries(env.fields as Record<string, unknown>)) {
      if (typeof v === "string") fields[k] = v;
    }
  }
  return new ApiError(status, code, message, fields);
}

// ---- session ---------------------------------------------------------------

const SESSION_KEY = "timebridge.session";
export const SESSION_EXPIRED_MESSAGE = "Your session has expired. Sign in again to continue.";

export interface Session {
  token: string;
  expires_at: string;
}

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token) return null;
    if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) {
      sessionStorage.removeItem(SESSION_KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function saveSession(s: Session): void {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession(): void {
  sessionStorage.removeItem(SESSION_KEY);
}

// The device token marks this browser as one the admin signed in from: a
// login that presents it is not held back by other clients' failed logins.
// It outlives the session (localStorage), is not a credential on its own,
// and a successful login replaces it.
const DEVICE_KEY = "timebridge.device";

export function loadDeviceToken(): string | undefined {
  try {
    return localStorage.getItem(DEVICE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function saveDeviceToken(t: string | undefined): void {
  if (!t) return;
  try {
    localStorage.setItem(DEVICE_KEY, t);
  } catch {
    // Storage disabled: logins still work, only without the device bonus.
  }
}

type ExpiredListener = (message: string) => void;
const expiredListeners = new Set<ExpiredListener>();

/** Called when the API answers 401 to an authenticated request. Returns an unsubscribe. */
export function onSessionExpired(fn: ExpiredListener): () => void {
  expiredListeners.add(fn);
  return () => expiredListeners.delete(fn);
}

// ---- typed request ---------------------------------------------------------

type Method = "get" | "post" | "put" | "patch" | "delete";
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { "application/json": infer T } } ? T : void;
type Success<O> = O extends { responses: infer R }
  ? { [K in keyof R]: K extends 200 | 201 | 202 | 204 ? JsonOf<R[K]> : never }[keyof R]
  : never;
type Body<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
type Query<O> = O extends { parameters: { query?: infer Q } } ? Q : never;

export interface RequestOptions<O> {
  path?: Record<string, string>;
  query?: Query<O>;
  body?: Body<O>;
  signal?: AbortSignal;
  /** Login answers 401 for a wrong password: that is not an expired session. */
  anonymous?: boolean;
}

function expand(path: string, params: Record<string, string> = {}): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(v);
  });
}

function queryString(q: unknown): string {
  if (!q || typeof q !== "object") return "";
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(q as Record<string, unknown>)) {
    if (v === undefined || v === null || v === "") continue;
    sp.set(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : "";
}

export let apiBase = "";
export function setApiBase(base: string): void {
  apiBase = base.replace(/\/$/, "");
}

// Silent renewal: tokens live 15 minutes; while the console is used (any
// API request), a token with less than RENEW_BEFORE_MS left is exchanged
// for a fresh one first, up to the server's 12-hour session limit. One
// renewal at a time; a failed renewal leaves the current token in use.
const RENEW_BEFORE_MS = 5 * 60_000;
let renewing: Promise<void> | null = null;

async function renewIfDue(): Promise<void> {
  const s = loadSession();
  if (!s?.expires_at) return;
  const left = Date.parse(s.expires_at) - Date.now();
  if (left <= 0 || left > RENEW_BEFORE_MS) return;
  renewing ??= (async () => {
    try {
      const res = await fetch(apiBase + "/api/auth/refresh", {
        method: "POST",
        headers: { Accept: "application/json", Authorization: `Bearer ${s.token}` },
      });
      if (res.ok) {
        const t = (await res.json()) as Session;
        if (t.token) saveSession({ token: t.token, expires_at: t.expires_at });
      }
    } catch {
      // Keep the current token; the request itself reports what is wrong.
    } finally {
      renewing = null;
    }
  })();
  await renewing;
}

/** Sends a request with the session's bearer token (renewed when due);
 * answers the response when it is 2xx, else throws the parsed ApiError (and
 * a 401 ends the session). */
async function send(
  method: string,
  url: string,
  opts: { body?: unknown; signal?: AbortSignal; anonymous?: boolean; accept?: string },
): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? "application/json" };
  if (!opts.anonymous) await renewIfDue();
  const session = opts.anonymous ? null : loadSession();
  if (session) headers.Authorization = `Bearer ${session.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(url, { method: method.toUpperCase(), headers, body, signal: opts.signal });
  } catch (e) {
    if ((e as Error)?.name === "AbortError") throw e;
    throw new ApiError(
      0,
      "network",
      "Cannot reach the Timebridge API. Check your network connection and that the server is running.",
    );
  }
  if (res.ok) return res;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  const err = parseErrorEnvelope(res.status, data);
  if (res.status === 401 && !opts.anonymous) {
    clearSession();
    for (const fn of expiredListeners) fn(SESSION_EXPIRED_MESSAGE);
  }
  throw err;
}

export async function request<P extends keyof paths, M extends Method>(
  method: M,
  path: P,
  opts: RequestOptions<Op<P, M>> = {},
): Promise<Success<Op<P, M>>> {
  const url = apiBase + expand(path as string, opts.path) + queryString(opts.query);
  const res = await send(method, url, opts);
  if (res.status === 204) return undefined as Success<Op<P, M>>;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  return data as Success<Op<P, M>>;
}

/** A file the API answered (e.g. a CSV report): its text and a file name
 * (the server's Content-Disposition filename when it sends one). */
export interface TextFile {
  text: string;
  filename: string;
}

function dispositionFilename(h: string | null): string | undefined {
  if (!h) return undefined;
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(h);
  if (star) {
    try {
      return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch {
      // fall through to the plain filename
    }
  }
  const m = /filename="?([^";]+)"?/i.exec(h);
  return m?.[1]?.trim() || undefined;
}

// signOut forgets the session at once (synchronously, so the console can
// show the sign-in page) and then tells the server, with the token read
// before it was forgotten.
async function signOut(path: "/api/auth/logout" | "/api/auth/logout-all"): Promise<void> {
  const s = loadSession();
  clearSession();
  if (!s) return;
  const res = await fetch(apiBase + path, {
    method: "POST",
    headers: { Accept: "application/json", Authorization: `Bearer ${s.token}` },
  });
  if (!res.ok && res.status !== 401) throw parseErrorEnvelope(res.status, await res.json().catch(() => undefined));
}

// ---- endpoints ---------------------------------------------------------------

export const api = {
  async login(username: string, password: string): Promise<Token> {
    const device_token = loadDeviceToken();
    const body = device_token ? { username, password, device_token } : { username, password };
    const t = await request("post", "/api/auth/login", { body, anonymous: true });
    saveSession({ token: t.token, expires_at: t.expires_at });
    saveDeviceToken(t.device_token);
    return t;
  },
  /** Signs this browser out on the server too (the token is revoked). */
  logout: () => signOut("/api/auth/logout"),
  /** Ends every session in every browser, this one included. */
  logoutEverywhere: () => signOut("/api/auth/logout-all"),
  listConnectors: () => request("get", "/api/connectors").then((r) => r.items),
  createConnector: (body: ConnectorCreate) => request("post", "/api/connectors", { body }),
  updateConnector: (id: string, body: ConnectorPatch) =>
    request("patch", "/api/connectors/{id}", { path: { id }, body }),
  deleteConnector: (id: string) => request("delete", "/api/connectors/{id}", { path: { id } }),
  testConnector: (id: string) => request("post", "/api/connectors/{id}/test", { path: { id } }),
  catalog: (id: string) => request("get", "/api/connectors/{id}/catalog", { path: { id } }),
  listProfiles: () => request("get", "/api/profiles").then((r) => r.items),
  createProfile: (body: ProfileInput) => request("post", "/api/profiles", { body }),
  updateProfile: (id: string, body: ProfilePatch) => request("patch", "/api/profiles/{id}", { path: { id }, body }),
  deleteProfile: (id: string) => request("delete", "/api/profiles/{id}", { path: { id } }),
  rotateSecret: (id: string) => request("post", "/api/profiles/{id}/webhook-secret", { path: { id } }),
  getSummary: (id: string, q: SummaryQuery = {}) => request("get", "/api/profiles/{id}/summary", { path: { id }, query: q }),
  listMappings: (id: string) => request("get", "/api/profiles/{id}/mappings", { path: { id } }).then((r) => r.items),
  putMapping: (id: string, body: MappingInput) => request("put", "/api/profiles/{id}/mappings", { path: { id }, body }),
  deleteMapping: (id: string, kind: MappingKind, sourceId: string) =>
    request("delete", "/api/profiles/{id}/mappings/{kind}/{source_id}", {
      path: { id, kind, source_id: sourceId },
    }),
  startRun: (id: string, body: RunRequest) => request("post", "/api/profiles/{id}/runs", { path: { id }, body }),
  /** One page of runs, newest first; from/to filter by the day (or instant) queued. */
  listRuns: (q: RunsQuery = {}) => request("get", "/api/runs", { query: q }),
  /** Every run matching q, following the server's pages (at most maxPages
   * of the largest size; de-duplicated by id). truncated says the cap was hit. */
  listAllRuns: async (q: Omit<RunsQuery, "limit" | "cursor"> = {}, maxPages = 50) => {
    const seen = new Map<string, Run>();
    let cursor: string | undefined;
    let truncated = false;
    for (let page = 0; ; page++) {
      if (page >= maxPages) {
        truncated = true;
        break;
      }
      const r = await request("get", "/api/runs", {
        query: { ...q, limit: queryLimits.listRuns.limit.maximum, ...(cursor ? { cursor } : {}) },
      });
      for (const run of r.items) if (!seen.has(run.id)) seen.set(run.id, run);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    return { items: [...seen.values()], truncated };
  },
  getRun: (id: string) => request("get", "/api/runs/{id}", { path: { id } }),
  /** A page of a run's per-entry outcomes (total: how many match the filter). */
  runEntries: (id: string, q: RunEntriesQuery = {}) => request("get", "/api/runs/{id}/entries", { path: { id }, query: q }),
  /** Queues a run over the tickets of the entries that failed in run id (409 when none failed or it still runs). */
  retryRun: (id: string) => request("post", "/api/runs/{id}/retry", { path: { id } }),
  /** The reconciliation report of a profile for a period, as JSON. */
  report: (id: string, q: ReportQuery = {}) => request("get", "/api/profiles/{id}/report", { path: { id }, query: { ...q, format: "json" } }),
  /** The same report as the server's CSV (one row per group, in minutes), fetched with the session's token. */
  reportCsv: async (id: string, q: ReportQuery = {}): Promise<TextFile> => {
    const url = apiBase + expand("/api/profiles/{id}/report", { id }) + queryString({ ...q, format: "csv" });
    const res = await send("get", url, { accept: "text/csv" });
    const text = await res.text();
    const fallback = ["timebridge-report", q.group_by ?? "customer", q.from, q.to].filter(Boolean).join("-") + ".csv";
    return { text, filename: dispositionFilename(res.headers.get("Content-Disposition")) ?? fallback };
  },
  /** All conflicts matching q, following the server's pages (de-duplicated:
   * a conflict opened meanwhile can repeat across pages). */
  listConflicts: async (q: Omit<ConflictsQuery, "limit" | "cursor"> = {}) => {
    const seen = new Map<string, Conflict>();
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = await request("get", "/api/conflicts", {
        query: { ...q, limit: queryLimits.listConflicts.limit.maximum, ...(cursor ? { cursor } : {}) },
      });
      for (const c of r.items) seen.set(c.id, c);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    return [...seen.values()];
  },
  resolveConflict: (id: string, action: Resolution) =>
    request("post", "/api/conflicts/{id}/resolve", { path: { id }, body: { action } }),
  listAudit: (q: AuditQuery) => request("get", "/api/audit", { query: q }),
};
