package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/probe"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

const (
	adminUser     = "admin"
	adminPassword = "s3cret-admin-password"
	publicURL     = "https://tb.example.com"
)

// ---- fakes ----

// fakeResolver records calls and resolves conflicts in the store the way
// the engine's keep_kimai/skip do, or fails with err.
type fakeResolver struct {
	st    *store.Store
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeResolver) Resolve(ctx context.Context, id string, res tb.Resolution, actor string) (tb.Conflict, error) {
	f.mu.Lock()
	f.calls = append(f.calls, id+" "+string(res)+" "+actor)
	err := f.err
	f.mu.Unlock()
	c, lerr := f.st.ConflictByID(ctx, id)
	if lerr != nil {
		return c, lerr
	}
	if err != nil {
		return c, err
	}
	now := time.Now().UTC()
	c.Status, c.Resolution, c.ResolvedBy, c.ResolvedAt = tb.ConflictResolved, res, actor, &now
	return f.st.PutConflict(ctx, c, c.Version)
}

// fakeProber records the tokens it was given.
type fakeProber struct {
	mu     sync.Mutex
	tokens []string
	result probe.TestResult
	cat    probe.Catalog
	catErr error
	panics bool
}

func (f *fakeProber) Test(_ context.Context, _ tb.ConnectorKind, _ string, token string) probe.TestResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panics {
		panic("prober exploded")
	}
	f.tokens = append(f.tokens, token)
	return f.result
}

func (f *fakeProber) Catalog(_ context.Context, _ tb.ConnectorKind, _ string, token string) (probe.Catalog, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token)
	return f.cat, f.catErr
}

// ---- harness ----

type harness struct {
	t        *testing.T
	st       *store.Store
	prefix   string // the secrets' name prefix
	vault    *vault.Vault
	sink     *testkit.Sink
	resolver *fakeResolver
	prober   *fakeProber
	clock    *testkit.Clock
	logs     *testkit.Buffer
	h        http.Handler
	token    string
	// hosts is the fake DNS of LookupHost.
	hosts map[string][]netip.Addr
	pairs int // connector pairs made by connectors()

	mu        sync.Mutex
	responses []*resp // every answer, for the secret-leak checks
}

type harnessOpt func(*harnessConfig)

type harnessConfig struct {
	localMode bool
	probe     bool // the real probe.Prober instead of fakeProber
	brake     auth.BrakeOptions
	edge      Edge
	store     func(*store.Store) Store
	share     *harness      // another instance of the same deployment
	secretTTL time.Duration // the vault's cache TTL (default 0: no cache)
}

func localMode() harnessOpt  { return func(c *harnessConfig) { c.localMode = true } }
func realProber() harnessOpt { return func(c *harnessConfig) { c.probe = true } }

// instanceOf makes the harness a second instance of o's deployment: the
// same table and secrets, but its own caches (as another Lambda instance).
func instanceOf(o *harness) harnessOpt { return func(c *harnessConfig) { c.share = o } }

// cachedSecrets gives the vault a cache of an hour, as a long-lived
// instance has.
func cachedSecrets() harnessOpt { return func(c *harnessConfig) { c.secretTTL = time.Hour } }

func wrapStore(f func(*store.Store) Store) harnessOpt {
	return func(c *harnessConfig) { c.store = f }
}

// adminSecret is a test admin secret with a cheap bcrypt hash.
func adminSecret(t testing.TB) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, _ := json.Marshal(map[string]string{"username": adminUser, "password_hash": string(h), "jwt_key": base64.StdEncoding.EncodeToString(key)})
	return string(b)
}

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	var cfg harnessConfig
	for _, o := range opts {
		o(&cfg)
	}
	env := kumotest.Get(t)
	clock := testkit.NewClock(time.Now().UTC().Truncate(time.Second))
	st := env.NewStore(t)
	prefix := "tb-test/" + kumotest.UniqueName(t)
	if cfg.share != nil {
		st, prefix = cfg.share.st, cfg.share.prefix
	}
	v := vault.New(env.Secrets, prefix, cfg.secretTTL)
	admin, err := auth.ParseAdminSecret(adminSecret(t))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, st: st, prefix: prefix, vault: v, sink: &testkit.Sink{}, resolver: &fakeResolver{st: st},
		prober: &fakeProber{result: probe.TestResult{OK: true, Checks: []probe.Check{{Name: probe.CheckConnection, Status: probe.StatusOK, Message: "fine"}}},
			cat: probe.Catalog{Sections: map[string][]probe.CatalogItem{"types": {{ID: 1, Name: "Support", Active: true}}}}},
		clock: clock, logs: &testkit.Buffer{},
		hosts: map[string][]netip.Addr{
			"zammad.example.com": {netip.MustParseAddr("93.184.216.34")},
			"kimai.example.com":  {netip.MustParseAddr("2606:2800:220:1::1")},
			"intranet.example":   {netip.MustParseAddr("10.1.2.3")},
			"localhost":          {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
			"metadata.example":   {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("169.254.169.254")},
		},
	}
	var s Store = st
	if cfg.store != nil {
		s = cfg.store(st)
	}
	d := Deps{
		Store: s, Vault: v, Queue: h.sink, Resolver: h.resolver, Prober: h.prober, Catalog: h.prober,
		Auth:      auth.New(auth.StaticAdmin(admin), st, auth.Options{Now: clock.Now, Brake: cfg.brake}),
		Edge:      cfg.edge,
		PublicURL: publicURL, LocalMode: cfg.localMode,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    clock.Now,
		LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := h.hosts[host]; ok {
				return a, nil
			}
			return nil, fmt.Errorf("lookup %s: no such host", host)
		},
	}
	if cfg.probe {
		pr := probe.New(probe.Options{LocalMode: cfg.localMode, AttemptTimeout: 5 * time.Second, ZammadTags: []string{tb.DefaultBilledTag}})
		d.Prober, d.Catalog = pr, pr
	}
	h.h = New(d)
	if cfg.edge == nil {
		h.token = h.login()
	}
	t.Cleanup(func() {
		if strings.Contains(h.logs.String(), adminPassword) {
			t.Error("the admin password appears in the logs")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", failureLogs(h.logs.String()))
		}
	})
	return h
}

func (h *harness) login() string {
	h.t.Helper()
	r := h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth)
	r.want(h.t, 200)
	var tok auth.Token
	r.decode(h.t, &tok)
	return tok.Token
}

// resp is one recorded answer.
type resp struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r *resp) want(t testing.TB, status int) *resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, r.status, status, r.body)
	}
	return r
}

func (r *resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: decode %s: %v", r.method, r.path, r.body, err)
	}
}

func (r *resp) obj(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// apiError decodes an error answer and checks its shape.
func (r *resp) apiError(t testing.TB) errorDetail {
	t.Helper()
	var raw map[string]map[string]any
	r.decode(t, &raw)
	e, ok := raw["error"]
	if !ok || len(raw) != 1 {
		t.Fatalf("%s %s: not an error body: %s", r.method, r.path, r.body)
	}
	for _, k := range []string{"code", "message", "fields"} {
		if _, ok := e[k]; !ok {
			t.Fatalf("%s %s: error body lacks %q: %s", r.method, r.path, k, r.body)
		}
	}
	var b errorBody
	r.decode(t, &b)
	return b.Error
}

// wantError checks status, code and (when field != "") that fields names field.
func (r *resp) wantError(t testing.TB, status int, code, field string) errorDetail {
	t.Helper()
	r.want(t, status)
	e := r.apiError(t)
	if e.Code != code {
		t.Fatalf("%s %s: code %q, want %q: %s", r.method, r.path, e.Code, code, r.body)
	}
	if field != "" {
		if _, ok := e.Fields[field]; !ok {
			t.Fatalf("%s %s: fields %v do not name %q", r.method, r.path, e.Fields, field)
		}
	}
	if e.Message == "" {
		t.Fatalf("%s %s: empty message", r.method, r.path)
	}
	return e
}

// request options for do
type reqOpt func(*http.Request)

func noAuth(r *http.Request) { r.Header.Del("Authorization") }
func header(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}
func bearer(tok string) reqOpt { return header("Authorization", "Bearer "+tok) }
func fromIP(ip string) reqOpt  { return func(r *http.Request) { r.RemoteAddr = ip + ":40000" } }

// do sends one request. body is nil, a string (sent raw), []byte, or a
// value encoded as JSON.
func (h *harness) do(method, path string, body any, opts ...reqOpt) *resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	req.RemoteAddr = "203.0.113.10:40000"
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	r := &resp{method: method, path: path, status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	h.mu.Lock()
	h.responses = append(h.responses, r)
	h.mu.Unlock()
	if r.status >= 500 && r.status != http.StatusBadGateway {
		h.t.Logf("%s %s answered %d: %s", method, path, r.status, r.body)
	}
	// Only a report asked for as CSV (format=csv) answers 200 with CSV.
	csvOK := r.status == http.StatusOK && req.URL.Query().Get("format") == "csv"
	if ct := r.header.Get("Content-Type"); r.status != http.StatusNoContent && ct != "application/json" &&
		(!csvOK || ct != "text/csv; charset=utf-8") {
		h.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return r
}

// assertNoSecret fails if any recorded answer or log line contains one of
// the values.
func (h *harness) assertNoSecret(values ...string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	logs := h.logs.String()
	for _, v := range values {
		for _, r := range h.responses {
			if bytes.Contains(r.body, []byte(v)) {
				h.t.Errorf("%s %s: the answer contains a secret value: %s", r.method, r.path, r.body)
			}
			for k, hv := range r.header {
				if strings.Contains(strings.Join(hv, " "), v) {
					h.t.Errorf("%s %s: header %s contains a secret value", r.method, r.path, k)
				}
			}
		}
		if strings.Contains(logs, v) {
			h.t.Errorf("the logs contain a secret value")
		}
	}
}

// answersContaining counts the recorded answers whose body contains v.
func (h *harness) answersContaining(v string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.responses {
		if bytes.Contains(r.body, []byte(v)) {
			n++
		}
	}
	return n
}

// ---- fixtures ----

func (h *harness) createConnector(kind, name, base, token string) map[string]any {
	h.t.Helper()
	body := map[string]any{"kind": kind, "name": name, "base_url": base}
	if token != "" {
		body["token"] = token
	}
	return h.do("POST", "/api/connectors", body).want(h.t, 201).obj(h.t)
}

// connectors creates a Zammad and a Kimai connector and returns their ids.
func (h *harness) connectors() (zid, kid string) {
	h.t.Helper()
	z := h.createConnector("zammad", "Zammad", "https://zammad.example.com", "zammad-token-0001")
	// A Kimai of its own per pair: two profiles may not sync one Zammad
	// into one Kimai.
	h.pairs++
	host := "kimai.example.com"
	if h.pairs > 1 {
		host = fmt.Sprintf("kimai%d.example.com", h.pairs)
		h.hosts[host] = h.hosts["kimai.example.com"]
	}
	k := h.createConnector("kimai", "Kimai", "https://"+host, "kimai-token-0002")
	return z["id"].(string), k["id"].(string)
}

func (h *harness) createProfile(name string) map[string]any {
	h.t.Helper()
	zid, kid := h.connectors()
	return h.do("POST", "/api/profiles", map[string]any{"name": name, "zammad_connector_id": zid, "kimai_connector_id": kid}).
		want(h.t, 201).obj(h.t)
}

// putConflict stores an open conflict of kind k for entry.
func (h *harness) putConflict(pid string, entry int64, k tb.ConflictKind) tb.Conflict {
	h.t.Helper()
	c, err := h.st.PutConflict(context.Background(), tb.Conflict{ProfileID: pid, EntryID: entry, TicketID: 7, Kind: k,
		Status: tb.ConflictOpen, Message: "test conflict", RunID: "r1"}, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// auditTypes returns the event types of the audit log, newest first.
func (h *harness) auditEvents(profileID string) []tb.AuditEvent {
	h.t.Helper()
	evs, _, err := h.st.ListAudit(context.Background(), tb.AuditQuery{ProfileID: profileID, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) auditTypes(profileID string) []string {
	h.t.Helper()
	evs := h.auditEvents(profileID)
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
		anonymous := e.Type == auth.EventLoginFailed || e.Type == auth.EventLocked
		if anonymous && e.Actor != "anonymous" {
			h.t.Errorf("audit %s has actor %q, want anonymous", e.Type, e.Actor)
		}
		if !anonymous && e.Actor != adminUser && e.Type != "run.finished" {
			h.t.Errorf("audit %s has actor %q, want %q", e.Type, e.Actor, adminUser)
		}
	}
	return out
}

// failureLogs puts the warnings and errors first, so a truncated CI excerpt
// still shows why a request failed, then the last 40 lines in order.
func failureLogs(all string) string {
	lines := strings.Split(strings.TrimRight(all, "\n"), "\n")
	var problems []string
	for _, l := range lines {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			problems = append(problems, l)
		}
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return fmt.Sprintf("warnings and errors (%d):\n%s\nlast %d lines:\n%s",
		len(problems), strings.Join(problems, "\n"), len(lines), strings.Join(lines, "\n"))
}
