package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"

	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/edge"
)

// concrete turns a route pattern into a request path with well-formed ids.
func concrete(path string) string {
	r := strings.NewReplacer("{id}", "01JQ7Z3M2Y8K4T6V9B1C5D7F0H", "{kind}", "activity", "{source_id}", "3")
	return r.Replace(path)
}

func TestLogin(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) {
		c.brake = auth.BrakeOptions{UserFailures: 3}
	})
	r := h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth).want(t, 200)
	m := r.obj(t)
	exp, err := time.Parse(time.RFC3339, m["expires_at"].(string))
	if err != nil || !exp.Equal(h.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("expires_at %v (%v), want now+15m", m["expires_at"], err)
	}
	if tok, _ := m["token"].(string); strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q is not a JWT", tok)
	}

	for name, body := range map[string]any{
		"wrong password": map[string]string{"username": adminUser, "password": "nope"},
		"wrong user":     map[string]string{"username": "root", "password": adminPassword},
	} {
		e := h.do("POST", "/api/auth/login", body, noAuth, fromIP("198.51.100.1")).wantError(t, 401, apperr.CodeUnauth, "")
		if strings.Contains(e.Message, "user") && strings.Contains(e.Message, "not exist") {
			t.Errorf("%s: the message tells which part was wrong: %q", name, e.Message)
		}
	}
	// Validation comes before the password check and names the field.
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser}, noAuth).wantError(t, 400, apperr.CodeValidation, "password")
	h.do("POST", "/api/auth/login", map[string]any{"username": 5, "password": "x"}, noAuth).wantError(t, 400, apperr.CodeValidation, "username")
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": "x", "otp": "1"}, noAuth).wantError(t, 400, apperr.CodeValidation, "otp")
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": strings.Repeat("x", 1025)}, noAuth).wantError(t, 400, apperr.CodeValidation, "password")

	// The brake: a few failures for one username from browsers that
	// never signed in refuse further such logins until the window ends,
	// even with the right password (429 and Retry-After), while a browser
	// that signed in before (device_token) still gets in.
	device, _ := m["device_token"].(string)
	if !strings.HasPrefix(device, "d1.") {
		t.Fatalf("device_token %q", device)
	}
	// One failure above ("wrong password"), two more here.
	for i := 0; i < 2; i++ {
		h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": "guess"}, noAuth, fromIP(fmt.Sprint("192.0.2.", 70+i))).want(t, 401)
	}
	r = h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth, fromIP("192.0.2.99"))
	e := r.wantError(t, 429, apperr.CodeRateLimited, "")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" || !strings.Contains(e.Message, "signed in from before") {
		t.Fatalf("Retry-After %q, message %q", ra, e.Message)
	}
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword, "device_token": device}, noAuth, fromIP("192.0.2.99")).want(t, 200)
	h.clock.Add(time.Minute)
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth, fromIP("192.0.2.99")).want(t, 200)
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": "x", "device_token": strings.Repeat("d", 300)}, noAuth).wantError(t, 400, apperr.CodeValidation, "device_token")

	// Logins (the harness's own, three here), failed logins and the
	// lockout are audited, with the
	// client address and the username quoted.
	count := map[string]int{}
	for _, ty := range h.auditTypes("") {
		count[ty]++
	}
	if count["auth.login"] != 4 || count["auth.login_failed"] != 4 || count["auth.locked"] != 1 {
		t.Fatalf("audit %v", count)
	}
	var locked, failed bool
	for _, ev := range h.auditEvents("") {
		switch ev.Type {
		case "auth.locked":
			locked = ev.Actor == "anonymous" && ev.Subject == `user "admin"` && strings.Contains(ev.Message, "192.0.2.71")
		case "auth.login_failed":
			failed = failed || strings.Contains(ev.Message, "192.0.2.7")
		}
	}
	if !locked || !failed {
		t.Fatalf("audit events lack address or subject: %+v", h.auditEvents(""))
	}
	if types := h.auditTypes(""); len(types) == 0 || types[0] != "auth.login" {
		t.Fatalf("audit %v, want auth.login events", types)
	}
}

// TestEveryRouteNeedsAuth sends every non-public route without a token,
// with a malformed header, with a forged token and with an expired token.
func TestEveryRouteNeedsAuth(t *testing.T) {
	h := newHarness(t)
	public := map[string]bool{}
	for _, r := range PublicRoutes() {
		public[r] = true
	}
	if len(public) != 3 || !public["GET /api/health"] || !public["POST /api/auth/login"] || !public["GET /api/openapi.json"] {
		t.Fatalf("public routes %v", PublicRoutes())
	}
	forged := strings.Split(h.token, ".")
	forged[1] = strings.TrimRight(forged[1], "A") + "B"
	cases := map[string]reqOpt{
		"missing":  noAuth,
		"basic":    header("Authorization", "Basic YWRtaW46cGFzcw=="),
		"empty":    header("Authorization", "Bearer "),
		"garbage":  bearer("not-a-jwt"),
		"forged":   bearer(strings.Join(forged, ".")),
		"too long": bearer(strings.Repeat("a", 5000)),
	}
	for _, rt := range Routes() {
		if public[rt] {
			continue
		}
		method, path, _ := strings.Cut(rt, " ")
		for name, opt := range cases {
			r := h.do(method, concrete(path), nil, opt)
			r.wantError(t, 401, apperr.CodeUnauth, "")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s (%s): no WWW-Authenticate", rt, name)
			}
		}
	}
	// Public routes answer without a token.
	h.do("GET", "/api/health", nil, noAuth).want(t, 200)
	h.do("GET", "/api/openapi.json", nil, noAuth).want(t, 200)

	// An expired token says so.
	h.do("GET", "/api/connectors", nil).want(t, 200)
	h.clock.Add(12*time.Hour + time.Second)
	e := h.do("GET", "/api/connectors", nil).wantError(t, 401, apperr.CodeUnauth, "")
	if !strings.Contains(e.Message, "expired") {
		t.Fatalf("expired token message %q", e.Message)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	h.do("GET", "/api/nope", nil).wantError(t, 404, apperr.CodeNotFound, "")
	h.do("GET", "/api/connectors/a/b/c", nil).wantError(t, 404, apperr.CodeNotFound, "")
	for _, p := range []string{"/api//connectors", "/api/connectors/../profiles", "/api/./health", "/api/runs/%2E%2E", "/api/connectors/", "/api", "/"} {
		h.do("GET", p, nil).wantError(t, 404, apperr.CodeNotFound, "")
	}
	r := h.do("DELETE", "/api/runs", nil)
	r.wantError(t, 405, apperr.CodeValidation, "") // the same code as the webhook's 405
	if r.header.Get("Allow") != "GET" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	r = h.do("PUT", "/api/connectors/01JQ7Z3M2Y8K4T6V9B1C5D7F0H", nil)
	r.want(t, 405)
	if got := r.header.Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Fatalf("Allow %q", got)
	}
}

type staticSecret string

func (s staticSecret) Get(context.Context, string) (string, error) { return string(s), nil }

// Behind CloudFront: a request without the origin secret is refused on
// every route (the execute-api endpoint is closed), and the login brake
// and the audit see the viewer's address, never X-Forwarded-For. (The
// harness does not log in with a guard configured.)
func TestOriginGuard(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) {
		c.edge = edge.New(staticSecret("origin-value"), "origin")
	}, func(c *harnessConfig) { c.brake = auth.BrakeOptions{AddressFailures: 2} })
	viaCloudFront := func(viewer string) reqOpt {
		return func(r *http.Request) {
			r.Header.Set(edge.OriginHeader, "origin-value")
			r.Header.Set(edge.ViewerHeader, viewer)
		}
	}
	for _, rt := range []string{"GET /api/health", "POST /api/auth/login", "GET /api/connectors"} {
		method, path, _ := strings.Cut(rt, " ")
		e := h.do(method, path, map[string]string{"username": adminUser, "password": adminPassword}, noAuth,
			header("X-Forwarded-For", "198.51.100.1")).wantError(t, 403, apperr.CodeForbidden, "")
		if !strings.Contains(e.Message, "CloudFront") {
			t.Fatalf("%s: %q", rt, e.Message)
		}
	}
	h.do("GET", "/api/health", nil, noAuth, viaCloudFront("198.51.100.5")).want(t, 200)
	for i := 0; i < 2; i++ {
		h.do("POST", "/api/auth/login", map[string]string{"username": fmt.Sprint("u", i), "password": "x"}, noAuth,
			viaCloudFront("198.51.100.5"), header("X-Forwarded-For", "192.0.2.1")).want(t, 401)
	}
	// The viewer is braked, whatever X-Forwarded-For says; another viewer
	// behind the same CloudFront edge is not.
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth,
		viaCloudFront("198.51.100.5"), header("X-Forwarded-For", "192.0.2.2")).wantError(t, 429, apperr.CodeRateLimited, "")
	h.do("POST", "/api/auth/login", map[string]string{"username": adminUser, "password": adminPassword}, noAuth,
		viaCloudFront("198.51.100.6")).want(t, 200)
	var sawViewer bool
	for _, ev := range h.auditEvents("") {
		if strings.Contains(ev.Message, "192.0.2.") {
			t.Fatalf("audit trusted X-Forwarded-For: %+v", ev)
		}
		sawViewer = sawViewer || (ev.Type == "auth.login_failed" && strings.Contains(ev.Message, "198.51.100.5"))
	}
	if !sawViewer {
		t.Fatal("failed logins not audited with the viewer's address")
	}
}

// Sessions end on the server: refresh renews, logout revokes one token,
// logout-all every token; each is audited.
func TestSessionRoutes(t *testing.T) {
	h := newHarness(t)
	other := h.login() // a second browser
	r := h.do("POST", "/api/auth/refresh", nil).want(t, 200)
	var renewed auth.Token
	r.decode(t, &renewed)
	if renewed.Token == "" || renewed.Token == h.token {
		t.Fatalf("refresh returned %+v", renewed)
	}
	// Sign out this browser: its tokens stop working at once, the other
	// browser's do not.
	h.do("POST", "/api/auth/logout", nil).want(t, 204)
	e := h.do("GET", "/api/connectors", nil).wantError(t, 401, apperr.CodeUnauth, "")
	if !strings.Contains(e.Message, "signed out") {
		t.Fatalf("revoked token: %q", e.Message)
	}
	h.do("GET", "/api/connectors", nil, bearer(renewed.Token)).want(t, 200)
	h.do("GET", "/api/connectors", nil, bearer(other)).want(t, 200)
	// Sign out everywhere.
	h.do("POST", "/api/auth/logout-all", nil, bearer(other)).want(t, 204)
	for _, tok := range []string{renewed.Token, other} {
		h.do("GET", "/api/connectors", nil, bearer(tok)).wantError(t, 401, apperr.CodeUnauth, "")
	}
	h.token = h.login()
	h.do("GET", "/api/connectors", nil).want(t, 200)
	count := map[string]int{}
	for _, ty := range h.auditTypes("") {
		count[ty]++
	}
	if count["auth.logout"] != 1 || count["auth.logout_all"] != 1 {
		t.Fatalf("audit %v", count)
	}
}
