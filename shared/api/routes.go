package api

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/auth"
)

// route is one entry of the route table.
type route struct {
	Method string
	Path   string // a ServeMux pattern path, also the OpenAPI path template
	Public bool   // no bearer token needed
	Handle func(*server, http.ResponseWriter, *http.Request) error
}

// routeTable is every route of the API. The OpenAPI document lists exactly
// these (TestOpenAPIMatchesRoutes).
var routeTable = []route{
	{"GET", "/api/health", true, (*server).health},
	{"GET", "/api/openapi.json", true, (*server).openAPI},
	{"POST", "/api/auth/login", true, (*server).login},
	{"POST", "/api/auth/refresh", false, (*server).refresh},
	{"POST", "/api/auth/logout", false, (*server).logout},
	{"POST", "/api/auth/logout-all", false, (*server).logoutAll},

	{"GET", "/api/connectors", false, (*server).listConnectors},
	{"POST", "/api/connectors", false, (*server).createConnector},
	{"GET", "/api/connectors/{id}", false, (*server).getConnector},
	{"PATCH", "/api/connectors/{id}", false, (*server).patchConnector},
	{"DELETE", "/api/connectors/{id}", false, (*server).deleteConnector},
	{"POST", "/api/connectors/{id}/test", false, (*server).testConnector},
	{"GET", "/api/connectors/{id}/catalog", false, (*server).connectorCatalog},

	{"GET", "/api/profiles", false, (*server).listProfiles},
	{"POST", "/api/profiles", false, (*server).createProfile},
	{"GET", "/api/profiles/{id}", false, (*server).getProfile},
	{"PATCH", "/api/profiles/{id}", false, (*server).patchProfile},
	{"DELETE", "/api/profiles/{id}", false, (*server).deleteProfile},
	{"POST", "/api/profiles/{id}/webhook-secret", false, (*server).rotateWebhookSecret},
	{"GET", "/api/profiles/{id}/summary", false, (*server).getSummary},
	{"GET", "/api/profiles/{id}/report", false, (*server).getReport},

	{"GET", "/api/profiles/{id}/mappings", false, (*server).listMappings},
	{"PUT", "/api/profiles/{id}/mappings", false, (*server).putMapping},
	{"DELETE", "/api/profiles/{id}/mappings/{kind}/{source_id}", false, (*server).deleteMapping},

	{"POST", "/api/profiles/{id}/runs", false, (*server).startRun},
	{"GET", "/api/runs", false, (*server).listRuns},
	{"GET", "/api/runs/{id}", false, (*server).getRun},
	{"GET", "/api/runs/{id}/entries", false, (*server).listRunEntries},
	{"POST", "/api/runs/{id}/retry", false, (*server).retryRun},

	{"GET", "/api/conflicts", false, (*server).listConflicts},
	{"GET", "/api/conflicts/{id}", false, (*server).getConflict},
	{"POST", "/api/conflicts/{id}/resolve", false, (*server).resolveConflict},

	{"GET", "/api/audit", false, (*server).listAudit},
}

func (s *server) routes() []route { return routeTable }

// Routes lists every route as "METHOD /path", public ones included.
func Routes() []string {
	out := make([]string, len(routeTable))
	for i, r := range routeTable {
		out[i] = r.Method + " " + r.Path
	}
	return out
}

// PublicRoutes lists the routes that need no bearer token.
func PublicRoutes() []string {
	var out []string
	for _, r := range routeTable {
		if r.Public {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the embedded OpenAPI 3.1 document.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	// The document changes only with a deployment.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
	return nil
}

func (s *server) health(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "time": s.Now().UTC().Format(time.RFC3339)})
	return nil
}

type loginRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	DeviceToken string `json:"device_token"`
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := problems{}
	if in.Username == "" {
		p.add("username", "is required")
	} else if len(in.Username) > 128 {
		p.add("username", "must have at most 128 characters")
	}
	if in.Password == "" {
		p.add("password", "is required")
	} else if len(in.Password) > 1024 {
		p.add("password", "must have at most 1024 characters")
	}
	if len(in.DeviceToken) > 256 {
		p.add("device_token", "must have at most 256 characters")
	}
	if err := p.err(); err != nil {
		return err
	}
	addr := s.clientAddress(r)
	tok, events, err := s.Auth.Login(r.Context(), auth.LoginRequest{Username: in.Username, Password: in.Password,
		Address: addr, DeviceToken: in.DeviceToken})
	for _, e := range events {
		s.audit(r, loginAudit(e))
	}
	if err != nil {
		return err
	}
	s.audit(r, auditEvent{Type: "auth.login", Subject: "user " + in.Username, Actor: in.Username,
		Message: "Logged in from " + addr})
	writeJSON(w, http.StatusOK, tok)
	return nil
}

// refresh renews the session's token (the console does it while it is used).
func (s *server) refresh(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.Auth.Refresh(r.Context(), claimsOf(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tok)
	return nil
}

// logout revokes the presented token.
func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.Auth.Logout(r.Context(), claimsOf(r.Context())); err != nil {
		return err
	}
	s.audit(r, auditEvent{Type: "auth.logout", Subject: "user " + actor(r.Context()), Message: "Signed out from " + s.clientAddress(r)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutAll ends every session.
func (s *server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	if err := s.Auth.LogoutEverywhere(r.Context()); err != nil {
		return err
	}
	s.audit(r, auditEvent{Type: "auth.logout_all", Subject: "user " + actor(r.Context()),
		Message: "Signed out everywhere (from " + s.clientAddress(r) + ")"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// loginAudit is the audit event of a failed login or a lockout. The
// username is what the client sent: quoted, so that control and bidi
// characters show as escapes.
func loginAudit(e auth.Event) auditEvent {
	from := e.Address
	if e.Device {
		from += " (a browser that signed in before)"
	}
	ev := auditEvent{Type: e.Type, Actor: "anonymous", Subject: "user " + strconv.QuoteToASCII(e.Username)}
	switch e.Type {
	case auth.EventLocked:
		what := map[string]string{
			auth.ScopeAddress: "Logins from " + e.Address,
			auth.ScopeUser:    "Logins for this username from browsers that never signed in",
			auth.ScopeGlobal:  "All logins from browsers that never signed in",
			auth.ScopeDevice:  "The browser's sign-in token",
		}[e.Scope]
		ev.Message = fmt.Sprintf("Too many failed logins: %s refused until %s (last failure from %s)",
			strings.ToLower(what[:1])+what[1:], e.Until.UTC().Format(time.RFC3339), from)
	default:
		ev.Message = "Failed login from " + from
	}
	return ev
}

// ---- audit ----

type auditEvent struct {
	ProfileID, RunID, Actor, Type, Subject, Message string
	Before, After                                   any
}

// audit appends one event with the request's user as actor. The mutation
// it records has already happened, so a failure to append is logged (with
// the request id) rather than turned into an error answer that would
// suggest the mutation failed.
func (s *server) audit(r *http.Request, e auditEvent) {
	if e.Actor == "" {
		e.Actor = actor(r.Context())
	}
	now := s.Now()
	// Not cancelled with the request: the mutation is done, its record must be too.
	err := s.Store.AppendAudit(context.WithoutCancel(r.Context()), auditRecord(e, now))
	if err != nil {
		s.Logger.Error("audit append failed", "request_id", requestIDOf(r.Context()), "type", e.Type,
			"subject", e.Subject, "class", string(apperr.KindOf(err)), "err", err.Error())
	}
}
