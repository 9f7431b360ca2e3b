package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestBadInput: malformed requests on every route with a body get a 4xx
// naming the field (or "body"), never a 5xx.
func TestBadInput(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("P")["id"].(string)
	cid := h.createConnector("zammad", "Z", "https://zammad.example.com", "tok-1234")["id"].(string)
	conflict := h.putConflict(pid, 5, tb.ConflictUnmappedUser)

	bodies := map[string]string{ // route → a valid body to mutate
		"POST /api/auth/login":                            `{"username":"admin","password":"x"}`,
		"POST /api/connectors":                            `{"kind":"zammad","name":"n","base_url":"https://zammad.example.com"}`,
		"PATCH /api/connectors/" + cid:                    `{"name":"n","version":1}`,
		"POST /api/profiles":                              `{"name":"n"}`,
		"PATCH /api/profiles/" + pid:                      `{"name":"n","version":1}`,
		"PUT /api/profiles/" + pid + "/mappings":          `{"kind":"user","source_id":"1","target_id":2}`,
		"POST /api/profiles/" + pid + "/runs":             `{"mode":"full"}`,
		"POST /api/conflicts/" + conflict.ID + "/resolve": `{"action":"skip"}`,
	}
	huge := `{"name":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	for route, valid := range bodies {
		method, path, _ := strings.Cut(route, " ")
		for name, c := range map[string]struct {
			body   string
			status int
			field  string
		}{
			"unknown field":   {strings.TrimSuffix(valid, "}") + `,"bogus":1}`, 400, "bogus"},
			"not JSON":        {`{"name":`, 400, "body"},
			"syntax":          {`{"name" "x"}`, 400, "body"},
			"empty":           {``, 400, "body"},
			"array":           {`[` + valid + `]`, 400, "body"},
			"string":          {`"x"`, 400, "body"},
			"two objects":     {valid + valid, 400, "body"},
			"too large":       {huge, 413, "body"},
			"nested unknown":  {strings.TrimSuffix(valid, "}") + `,"x":{"y":1}}`, 400, "x"},
			"null everywhere": {`null`, 0, ""},
		} {
			r := h.do(method, path, c.body)
			if r.status >= 500 {
				t.Errorf("%s %s: %d %s", route, name, r.status, r.body)
				continue
			}
			if c.status == 0 {
				if r.status < 400 && r.status != 200 && r.status != 201 && r.status != 202 {
					t.Errorf("%s %s: status %d", route, name, r.status)
				}
				continue
			}
			r.wantError(t, c.status, apperr.CodeValidation, c.field)
		}
	}

	// Wrong types name the field.
	for _, c := range []struct{ method, path, body, field string }{
		{"POST", "/api/connectors", `{"kind":"zammad","name":["n"],"base_url":"https://zammad.example.com"}`, "name"},
		{"POST", "/api/connectors", `{"kind":"zammad","name":"n","base_url":"https://zammad.example.com","token":42}`, "token"},
		{"PATCH", "/api/connectors/" + cid, `{"version":"1"}`, "version"},
		{"PATCH", "/api/connectors/" + cid, `{"version":1e30}`, "version"},
		{"PATCH", "/api/profiles/" + pid, `{"version":1,"enabled":1}`, "enabled"},
		{"PATCH", "/api/profiles/" + pid, `{"version":1,"concurrency":99999999999999999999}`, "concurrency"},
		{"PUT", "/api/profiles/" + pid + "/mappings", `{"kind":"user","source_id":"1","target_id":-5}`, "target_id"},
		{"POST", "/api/conflicts/" + conflict.ID + "/resolve", `{"action":["skip"]}`, "action"},
	} {
		h.do(c.method, c.path, c.body).wantError(t, 400, apperr.CodeValidation, c.field)
	}

	// Bad ids in paths are 400s naming the parameter, unknown ones 404s.
	for _, path := range []string{
		"/api/connectors/%20", "/api/connectors/-x", "/api/connectors/" + strings.Repeat("a", 129),
		"/api/profiles/a%23b", "/api/runs/.x", "/api/conflicts/x%3Fy",
		"/api/profiles/%C3%A9/mappings",
	} {
		h.do("GET", path, nil).wantError(t, 400, apperr.CodeValidation, "id")
	}
	// Unknown or repeated query parameters.
	h.do("GET", "/api/connectors?x=1", nil).wantError(t, 400, apperr.CodeValidation, "x")
	h.do("GET", "/api/conflicts?status=open&status=open", nil).wantError(t, 400, apperr.CodeValidation, "status")
	h.do("GET", "/api/health?verbose=1", nil, noAuth).wantError(t, 400, apperr.CodeValidation, "verbose")

	// The body limit applies before authentication decisions too, and to
	// the webhook-secret and test POSTs that take no body.
	h.do("POST", "/api/profiles/"+pid+"/webhook-secret", `{"x":1}`).wantError(t, 400, apperr.CodeValidation, "x")
	h.do("POST", "/api/profiles/"+pid+"/webhook-secret", huge).wantError(t, 413, apperr.CodeValidation, "body")
	h.do("POST", "/api/profiles/"+pid+"/webhook-secret", "{}").want(t, 200)
}

// TestNoTokenInResponses exercises every route that touches a connector
// and checks that no answer, header or log line ever carries a token.
func TestNoTokenInResponses(t *testing.T) {
	h := newHarness(t)
	tokens := []string{"zammad-tok-AAAAAAAAAAAA-1", "kimai-tok-BBBBBBBBBBBB-2", "zammad-tok-CCCCCCCCCCCC-3"}
	z := h.createConnector("zammad", "Z", "https://zammad.example.com", tokens[0])["id"].(string)
	k := h.createConnector("kimai", "K", "https://kimai.example.com", tokens[1])["id"].(string)
	h.do("PATCH", "/api/connectors/"+z, map[string]any{"token": tokens[2], "version": 1}).want(t, 200)
	h.do("PATCH", "/api/connectors/"+z, map[string]any{"token": "bad token with spaces " + tokens[0], "version": 2}).want(t, 400)
	h.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "n", "base_url": "http://x", "token": tokens[0]}).want(t, 400)
	pid := h.do("POST", "/api/profiles", map[string]any{"name": "P", "zammad_connector_id": z, "kimai_connector_id": k}).want(t, 201).obj(t)["id"].(string)
	for _, path := range []string{"/api/connectors", "/api/connectors/" + z, "/api/connectors/" + k, "/api/profiles", "/api/profiles/" + pid,
		"/api/audit", "/api/audit?profile_id=" + pid, "/api/runs", "/api/conflicts"} {
		h.do("GET", path, nil).want(t, 200)
	}
	h.do("POST", "/api/connectors/"+z+"/test", nil).want(t, 200)
	h.do("GET", "/api/connectors/"+k+"/catalog", nil).want(t, 200)
	// An upstream error message that quotes the token must not pass it on
	// (the clients never put tokens into errors; this guards the API's own
	// paths, which only pass messages through).
	h.prober.catErr = apperr.New(apperr.Connection, "kimai: list", "Kimai could not be reached.")
	h.do("GET", "/api/connectors/"+k+"/catalog", nil).want(t, 502)
	h.do("DELETE", "/api/profiles/"+pid, nil).want(t, 204)
	h.do("DELETE", "/api/connectors/"+k, nil).want(t, 204)
	h.assertNoSecret(tokens...)
	// The audit log itself (before/after of connector changes) has no token.
	evs, _, err := h.st.ListAudit(context.Background(), tb.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(evs)
	for _, tok := range tokens {
		if strings.Contains(string(b), tok) {
			t.Fatal("the audit log contains a token")
		}
	}
}

// failingStore makes chosen store calls fail.
type failingStore struct {
	*store.Store
	listErr   error
	updateErr error
}

func (f failingStore) ListConnectors(ctx context.Context) ([]tb.Connector, error) {
	if f.listErr == nil {
		return f.Store.ListConnectors(ctx)
	}
	return nil, f.listErr
}

func (f failingStore) UpdateConnector(ctx context.Context, c tb.Connector, v int64) (tb.Connector, error) {
	if f.updateErr == nil {
		return f.Store.UpdateConnector(ctx, c, v)
	}
	return c, f.updateErr
}

// TestTokenRestoredWhenUpdateFails: a token change whose record update
// loses a race leaves the previous token in the vault.
func TestTokenRestoredWhenUpdateFails(t *testing.T) {
	h := newHarness(t, wrapStore(func(s *store.Store) Store {
		return failingStore{Store: s, updateErr: apperr.New(apperr.Conflict, "store: update connector", "changed concurrently")}
	}))
	id := h.createConnector("kimai", "K", "https://kimai.example.com", "old-token-1234")["id"].(string)
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"token": "new-token-5678", "version": 1}).wantError(t, 409, apperr.CodeConflict, "")
	if v, err := h.vault.Get(context.Background(), "connectors/"+id+"/token"); err != nil || v != "old-token-1234" {
		t.Fatalf("vault holds %q (%v), want the old token", v, err)
	}
	// Without a previous token the new one is removed again.
	id2 := h.createConnector("kimai", "K2", "https://kimai.example.com", "")["id"].(string)
	h.do("PATCH", "/api/connectors/"+id2, map[string]any{"token": "new-token-5678", "version": 1}).want(t, 409)
	if _, err := h.vault.Get(context.Background(), "connectors/"+id2+"/token"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("token left behind: %v", err)
	}
}

func TestInternalErrorsAreSafe(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.7:443: secret-internal-detail")
	h := newHarness(t, wrapStore(func(s *store.Store) Store {
		return failingStore{Store: s, listErr: apperr.Wrap(cause, apperr.Internal, "store: list connectors", "The database request failed; the details are in the logs.")}
	}))
	r := h.do("GET", "/api/connectors", nil, header("X-Request-Id", "req-12345"))
	e := r.wantError(t, 500, apperr.CodeInternal, "")
	if strings.Contains(string(r.body), "secret-internal-detail") || !strings.Contains(e.Message, "req-12345") || r.header.Get("X-Request-Id") != "req-12345" {
		t.Fatalf("internal error answer %s", r.body)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "secret-internal-detail") || !strings.Contains(logs, `"request_id":"req-12345"`) {
		t.Fatalf("the cause is not logged with the request id:\n%s", logs)
	}

	// An unclassified error gets the generic message.
	h2 := newHarness(t, wrapStore(func(s *store.Store) Store { return failingStore{Store: s, listErr: cause} }))
	r = h2.do("GET", "/api/connectors", nil)
	r.wantError(t, 500, apperr.CodeInternal, "")
	if strings.Contains(string(r.body), "secret-internal-detail") {
		t.Fatal("leaked")
	}

	// A panic is a logged 500, not a crash.
	h.prober.panics = true
	cid := h.createConnector("zammad", "Z", "https://zammad.example.com", "tok-1234")["id"].(string)
	h.do("POST", "/api/connectors/"+cid+"/test", nil).wantError(t, 500, apperr.CodeInternal, "")
	if !strings.Contains(h.logs.String(), "prober exploded") {
		t.Fatal("panic not logged")
	}
	// Bad X-Request-Id values are replaced.
	r = h.do("GET", "/api/health", nil, header("X-Request-Id", "bad id\nwith newline"))
	if id := r.header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Fatalf("request id %q", id)
	}
}

func TestErrorResponseMapping(t *testing.T) {
	for _, c := range []struct {
		kind   apperr.Kind
		status int
		code   string
	}{
		{apperr.Validation, 400, apperr.CodeValidation}, {apperr.NotFound, 404, apperr.CodeNotFound}, {apperr.Auth, 401, apperr.CodeUnauth},
		{apperr.Permission, 403, apperr.CodeForbidden}, {apperr.Conflict, 409, apperr.CodeConflict}, {apperr.RateLimited, 429, apperr.CodeRateLimited},
		{apperr.Connection, 502, apperr.CodeUpstream}, {apperr.Timeout, 502, apperr.CodeUpstream}, {apperr.Upstream, 502, apperr.CodeUpstream},
		{apperr.Internal, 500, apperr.CodeInternal},
	} {
		st, d := errorResponse(apperr.New(c.kind, "op", "msg"), "rid")
		if st != c.status || d.Code != c.code || d.Fields == nil {
			t.Errorf("%s: %d %s", c.kind, st, d.Code)
		}
	}
	if st, d := errorResponse(context.DeadlineExceeded, "rid"); st != 502 || d.Code != apperr.CodeUpstream {
		t.Errorf("deadline: %d %s", st, d.Code)
	}
	if st, _ := errorResponse(&http.MaxBytesError{Limit: 1}, "rid"); st != 413 {
		t.Errorf("too large: %d", st)
	}
}

// TestOpenAPIMatchesRoutes: the document is valid JSON (OpenAPI 3.1),
// documents every registered route and nothing else, marks exactly the
// public routes as needing no security, and every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/api/openapi.json", nil, noAuth).want(t, 200)
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc["openapi"].(string), "3.1.") {
		t.Fatalf("openapi %v", doc["openapi"])
	}
	documented := map[string]bool{}
	publicDoc := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			o := op.(map[string]any)
			if sec, ok := o["security"].([]any); ok && len(sec) == 0 {
				publicDoc[key] = true
			}
			if o["operationId"] == nil || o["responses"] == nil {
				t.Errorf("%s lacks operationId or responses", key)
			}
		}
	}
	for _, rt := range Routes() {
		if !documented[rt] {
			t.Errorf("route %s is not documented", rt)
		}
	}
	for d := range documented {
		if !slices.Contains(Routes(), d) {
			t.Errorf("documented %s is not a route", d)
		}
	}
	pub := PublicRoutes()
	slices.Sort(pub)
	var pubDoc []string
	for k := range publicDoc {
		pubDoc = append(pubDoc, k)
	}
	slices.Sort(pubDoc)
	if !slices.Equal(pub, pubDoc) {
		t.Errorf("public routes %v, documented as public %v", pub, pubDoc)
	}
	// Every $ref points at an existing component.
	comps := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if len(parts) != 2 {
					t.Errorf("odd $ref %s", ref)
				} else if sec, ok := comps[parts[0]].(map[string]any); !ok || sec[parts[1]] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if !json.Valid(OpenAPI()) {
		t.Fatal("OpenAPI() is not JSON")
	}
}

// TestResponsesMatchSchemas spot-checks that answers carry exactly the
// properties the OpenAPI schemas declare (required present, nothing extra).
func TestResponsesMatchSchemas(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string       `json:"required"`
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	check := func(schema string, m map[string]any) {
		t.Helper()
		s, ok := doc.Components.Schemas[schema]
		if !ok {
			t.Fatalf("no schema %s", schema)
		}
		for _, r := range s.Required {
			if _, ok := m[r]; !ok {
				t.Errorf("%s: required %q missing in %v", schema, r, m)
			}
		}
		for k := range m {
			if _, ok := s.Properties[k]; !ok {
				t.Errorf("%s: undocumented property %q", schema, k)
			}
		}
	}
	p := h.createProfile("P")
	check("ProfileCreated", p)
	pid := p["id"].(string)
	check("Profile", h.do("GET", "/api/profiles/"+pid, nil).want(t, 200).obj(t))
	cid := p["zammad_connector_id"].(string)
	check("Connector", h.do("GET", "/api/connectors/"+cid, nil).want(t, 200).obj(t))
	check("ConnectorTest", h.do("POST", "/api/connectors/"+cid+"/test", nil).want(t, 200).obj(t))
	check("Catalog", h.do("GET", "/api/connectors/"+cid+"/catalog", nil).want(t, 200).obj(t))
	check("Mapping", h.do("PUT", "/api/profiles/"+pid+"/mappings", map[string]any{"kind": "user", "source_id": "1", "target_id": 2}).want(t, 200).obj(t))
	id := h.do("POST", "/api/profiles/"+pid+"/runs", map[string]any{"mode": "full"}).want(t, 202).obj(t)["id"].(string)
	check("Run", h.do("GET", "/api/runs/"+id, nil).want(t, 200).obj(t))
	c := h.putConflict(pid, 9, tb.ConflictDeletedInKimai)
	check("Conflict", h.do("GET", "/api/conflicts/"+c.ID, nil).want(t, 200).obj(t))
	check("WebhookSecret", h.do("POST", "/api/profiles/"+pid+"/webhook-secret", nil).want(t, 200).obj(t))
	check("Token", h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth).want(t, 200).obj(t))
	check("Health", h.do("GET", "/api/health", nil).want(t, 200).obj(t))
	var pg struct{ Items []map[string]any }
	h.do("GET", "/api/audit", nil).want(t, 200).decode(t, &pg)
	for _, e := range pg.Items {
		check("AuditEvent", e)
	}
	check("Error", h.do("GET", "/api/nope", nil).obj(t))
}

// TestConcurrentRequests runs mixed requests in parallel (for -race).
func TestConcurrentRequests(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("P")["id"].(string)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				switch (i + j) % 4 {
				case 0:
					h.do("GET", "/api/profiles", nil)
				case 1:
					h.do("PUT", "/api/profiles/"+pid+"/mappings", map[string]any{"kind": "user", "source_id": fmt.Sprint(i), "target_id": j + 1})
				case 2:
					h.do("POST", "/api/profiles/"+pid+"/runs", map[string]any{"mode": "incremental"})
				default:
					h.do("GET", "/api/runs", nil)
				}
			}
		}()
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.responses {
		if r.status >= 500 {
			t.Errorf("%s %s: %d", r.method, r.path, r.status)
		}
	}
	_ = time.Second
}

// TestJSONContentTypeRequired: a body in any other type (text/plain needs no
// CORS preflight in a browser) is refused before it is read.
func TestJSONContentTypeRequired(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/api/auth/login", map[string]string{"username": "admin", "password": "x"}, header("Content-Type", "text/plain")).
		wantError(t, 400, apperr.CodeValidation, "Content-Type")
	h.do("POST", "/api/connectors", map[string]any{"kind": "kimai", "name": "K", "base_url": "https://kimai.example.com"},
		header("Content-Type", "application/x-www-form-urlencoded")).wantError(t, 400, apperr.CodeValidation, "Content-Type")
}
