package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/probe"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/zammad"
)

const (
	maxNameLength  = 100
	maxTokenLength = 4096
)

type connectorCreate struct {
	Kind    string  `json:"kind"`
	Name    string  `json:"name"`
	BaseURL string  `json:"base_url"`
	Token   *string `json:"token"`
}

type connectorPatch struct {
	Kind    *string `json:"kind"` // refused: a connector's kind is fixed
	Name    *string `json:"name"`
	BaseURL *string `json:"base_url"`
	Token   *string `json:"token"`
	Version *int64  `json:"version"`
}

// checkToken validates a pasted upstream token.
func checkToken(p problems, field, v string) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		p.add(field, "must not be empty (leave the field out to keep the current token)")
	case len(v) > maxTokenLength:
		p.add(field, fmt.Sprintf("must have at most %d characters", maxTokenLength))
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '"' }):
		p.add(field, "must not contain spaces, quotes or line breaks; paste only the token")
	}
	return v
}

func checkKind(p problems, v string) tb.ConnectorKind {
	switch k := tb.ConnectorKind(v); k {
	case tb.KindZammad, tb.KindKimai:
		return k
	case "":
		p.add("kind", "is required (zammad or kimai)")
	default:
		p.add("kind", "must be zammad or kimai")
	}
	return ""
}

func (s *server) listConnectors(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	cs, err := s.Store.ListConnectors(r.Context())
	if err != nil {
		return err
	}
	out := make([]connectorView, len(cs))
	for i, c := range cs {
		out[i] = viewConnector(c)
	}
	writeJSON(w, http.StatusOK, list[connectorView]{Items: out})
	return nil
}

func (s *server) createConnector(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in connectorCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := problems{}
	kind := checkKind(p, in.Kind)
	name := checkText(p, "name", in.Name, true, maxNameLength)
	base := s.checkBaseURL(ctx, p, "base_url", in.BaseURL)
	var token string
	if in.Token != nil {
		token = checkToken(p, "token", *in.Token)
	}
	if err := p.err(); err != nil {
		return err
	}
	c := tb.Connector{ID: ident.New(s.Now()), Kind: kind, Name: name, BaseURL: base}
	if token != "" {
		c.TokenSecret = vault.ConnectorToken(c.ID)
		if err := s.Vault.Put(ctx, c.TokenSecret, token); err != nil {
			return err
		}
		c.TokenHint = vault.Hint(token)
	}
	created, err := s.Store.CreateConnector(ctx, c)
	if err != nil {
		if c.TokenSecret != "" {
			s.dropSecret(ctx, c.TokenSecret)
		}
		return err
	}
	v := viewConnector(created)
	s.audit(r, auditEvent{Type: "connector.created", Subject: "connector " + created.ID,
		Message: fmt.Sprintf("Created %s connector %q", created.Kind, created.Name), After: v})
	setETag(w, created.Version)
	w.Header().Set("Location", "/api/connectors/"+created.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// dropSecret deletes a secret as cleanup; failures only get logged.
func (s *server) dropSecret(ctx context.Context, name string) {
	if err := s.Vault.Delete(context.WithoutCancel(ctx), name); err != nil {
		s.Logger.Warn("secret cleanup failed", "request_id", requestIDOf(ctx), "secret", name, "err", err.Error())
	}
}

func (s *server) loadConnector(r *http.Request) (tb.Connector, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return tb.Connector{}, err
	}
	return s.Store.GetConnector(r.Context(), id)
}

func (s *server) getConnector(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	c, err := s.loadConnector(r)
	if err != nil {
		return err
	}
	setETag(w, c.Version)
	writeJSON(w, http.StatusOK, viewConnector(c))
	return nil
}

// staleVersion is the answer when a client's expected version is not the
// stored one.
func staleVersion(what string, current int64) error {
	return apperr.New(apperr.Conflict, "api: version check",
		fmt.Sprintf("The %s was changed in the meantime (version %d is current); reload it and try again.", what, current))
}

// loadForPatch decodes a PATCH request's body into in and loads the record
// at its path id with get, refusing a missing or stale expected version
// (version(in), or If-Match).
func loadForPatch[In, R any](r *http.Request, in *In, what string, version func(*In) *int64,
	get func(context.Context, string) (R, error), stored func(R) int64) (R, error) {
	var zero R
	id, err := pathID(r, "id")
	if err != nil {
		return zero, err
	}
	if err := decodeJSON(r, in); err != nil {
		return zero, err
	}
	expect, ok, err := expectedVersion(r, version(in))
	if err != nil {
		return zero, err
	}
	if !ok {
		return zero, fieldError("version", "is required (the version you read, or send If-Match)")
	}
	cur, err := get(r.Context(), id)
	if err != nil {
		return zero, err
	}
	if v := stored(cur); v != expect {
		return zero, staleVersion(what, v)
	}
	return cur, nil
}

// loadForDelete loads the record a DELETE request names with load, refusing
// a stale expected version (If-Match, optional).
func loadForDelete[R any](r *http.Request, what string, load func(*http.Request) (R, error), stored func(R) int64) (R, error) {
	var zero R
	if _, err := query(r); err != nil {
		return zero, err
	}
	cur, err := load(r)
	if err != nil {
		return zero, err
	}
	expect, ok, err := expectedVersion(r, nil)
	if err != nil {
		return zero, err
	}
	if v := stored(cur); ok && expect != v {
		return zero, staleVersion(what, v)
	}
	return cur, nil
}

func (s *server) patchConnector(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in connectorPatch
	cur, err := loadForPatch(r, &in, "connector", func(in *connectorPatch) *int64 { return in.Version },
		s.Store.GetConnector, func(c tb.Connector) int64 { return c.Version })
	if err != nil {
		return err
	}
	id := cur.ID
	p := problems{}
	next := cur
	if in.Kind != nil && tb.ConnectorKind(*in.Kind) != cur.Kind {
		p.add("kind", "cannot be changed; create a new connector instead")
	}
	if in.Name != nil {
		next.Name = checkText(p, "name", *in.Name, true, maxNameLength)
	}
	if in.BaseURL != nil {
		next.BaseURL = s.checkBaseURL(ctx, p, "base_url", *in.BaseURL)
	}
	var token string
	if in.Token != nil {
		token = checkToken(p, "token", *in.Token)
	}
	if err := p.err(); err != nil {
		return err
	}
	// The stored token never follows the connector to another server: a
	// session (or a stolen one) could otherwise read it out by pointing the
	// connector at a host it controls and pressing "test".
	if token == "" && cur.TokenSecret != "" && movesServer(cur.BaseURL, next.BaseURL) {
		return fieldError("token", "is required when the base URL moves to another server (the stored token is never sent to a new host)")
	}
	if err := s.checkInstanceChange(ctx, cur, next); err != nil {
		return err
	}
	// The record is written first: its version condition lets exactly one
	// of two concurrent PATCHes through, and only that one then writes the
	// token, so the vault always holds the token the record's hint
	// describes. Should the token write fail, the old token is dropped
	// rather than left to be sent to a base URL that may have changed
	// (fail closed: the connector then asks for its token again).
	if token != "" {
		next.TokenSecret = vault.ConnectorToken(id)
		next.TokenHint = vault.Hint(token)
	}
	updated, err := s.Store.UpdateConnector(ctx, next, cur.Version)
	if err != nil {
		return err
	}
	if token != "" {
		if err := s.Vault.Put(ctx, next.TokenSecret, token); err != nil {
			s.dropSecret(context.WithoutCancel(ctx), next.TokenSecret)
			return apperr.Wrap(err, apperr.Upstream, "api: store connector token",
				"The connector was saved, but its new token could not be stored; paste the token again.")
		}
	}
	v := viewConnector(updated)
	msg := fmt.Sprintf("Updated connector %q", updated.Name)
	if token != "" {
		msg += " (token replaced)"
	}
	s.audit(r, auditEvent{Type: "connector.updated", Subject: "connector " + id, Message: msg,
		Before: viewConnector(cur), After: v})
	setETag(w, updated.Version)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) deleteConnector(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cur, err := loadForDelete(r, "connector", s.loadConnector, func(c tb.Connector) int64 { return c.Version })
	if err != nil {
		return err
	}
	profiles, err := s.Store.ListProfiles(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, p := range profiles {
		if p.ZammadConnectorID == cur.ID || p.KimaiConnectorID == cur.ID {
			users = append(users, fmt.Sprintf("%q", p.Name))
		}
	}
	if len(users) > 0 {
		slices.Sort(users)
		return apperr.New(apperr.Conflict, "api: delete connector",
			fmt.Sprintf("The connector is used by profile %s; change or delete those profiles first.", strings.Join(users, ", ")))
	}
	if err := s.Store.DeleteConnector(ctx, cur.ID, cur.Version); err != nil {
		return err
	}
	if cur.TokenSecret != "" {
		s.dropSecret(ctx, vault.ConnectorToken(cur.ID))
	}
	s.audit(r, auditEvent{Type: "connector.deleted", Subject: "connector " + cur.ID,
		Message: fmt.Sprintf("Deleted connector %q", cur.Name), Before: viewConnector(cur)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// connectorToken reads a connector's token from the vault. A missing token
// is a validation error that says how to fix it.
func (s *server) connectorToken(ctx context.Context, c tb.Connector) (string, error) {
	if c.TokenSecret == "" {
		return "", &apperr.Error{Kind: apperr.Validation, Op: "api: connector token",
			Message: "The connector has no token; paste one into the connector first.",
			Fields:  map[string]string{"token": "is not set"}}
	}
	// The record's version and hint make an instance whose cached token
	// was replaced through another instance read it again.
	tok, err := s.Vault.GetFresh(ctx, vault.ConnectorToken(c.ID), vault.Want{Version: c.Version, Hint: c.TokenHint})
	if apperr.Is(err, apperr.NotFound) {
		return "", &apperr.Error{Kind: apperr.Validation, Op: "api: connector token", Err: err,
			Message: "The connector's token is missing from Secrets Manager; paste the token into the connector again.",
			Fields:  map[string]string{"token": "is missing from Secrets Manager"}}
	}
	return tok.Reveal(), err
}

// testResponse is the answer of POST /api/connectors/{id}/test.
type testResponse struct {
	ConnectorID string           `json:"connector_id"`
	Kind        tb.ConnectorKind `json:"kind"`
	BaseURL     string           `json:"base_url"`
	probe.TestResult
}

func (s *server) testConnector(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	if err := emptyBody(r); err != nil {
		return err
	}
	c, err := s.loadConnector(r)
	if err != nil {
		return err
	}
	out := testResponse{ConnectorID: c.ID, Kind: c.Kind, BaseURL: c.BaseURL}
	tok, err := s.connectorToken(ctx, c)
	switch {
	case apperr.Is(err, apperr.Validation):
		out.TestResult = probe.FailedBefore(probe.CheckAuth, string(apperr.Auth), apperr.MessageOf(err))
	case err != nil:
		return err
	default:
		if msg := s.recheckURL(ctx, c.BaseURL); msg != "" {
			out.TestResult = probe.FailedBefore(probe.CheckConnection, string(apperr.Validation), "The base URL "+msg+".")
		} else {
			out.TestResult = s.Prober.Test(ctx, c.Kind, c.BaseURL, tok)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// recheckURL repeats the address check of a stored base URL before it is
// called (DNS may have changed since the connector was saved).
func (s *server) recheckURL(ctx context.Context, base string) string {
	if s.LocalMode {
		return ""
	}
	p := problems{}
	s.checkBaseURL(ctx, p, "base_url", base)
	return p["base_url"]
}

func (s *server) connectorCatalog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	c, err := s.loadConnector(r)
	if err != nil {
		return err
	}
	tok, err := s.connectorToken(ctx, c)
	if err != nil {
		return err
	}
	if msg := s.recheckURL(ctx, c.BaseURL); msg != "" {
		return fieldError("base_url", msg)
	}
	cat, err := s.Catalog.Catalog(ctx, c.Kind, c.BaseURL, tok)
	if err != nil {
		return apperr.FromUpstream(err)
	}
	body := map[string]any{"connector_id": c.ID, "kind": c.Kind, "warnings": cat.Warnings}
	if cat.Warnings == nil {
		body["warnings"] = []probe.CatalogWarning{}
	}
	for name, items := range cat.Sections {
		if items == nil {
			items = []probe.CatalogItem{}
		}
		body[name] = items
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// checkInstanceChange refuses a new base URL for a Zammad connector that
// profiles use when it names another Zammad instance: every synced
// timesheet's marker carries the instance id, so the next run would no
// longer recognise Timebridge's own timesheets. Same-instance spellings
// (trailing slash, default port, case) are fine.
func (s *server) checkInstanceChange(ctx context.Context, cur, next tb.Connector) error {
	if cur.Kind != tb.KindZammad || next.BaseURL == cur.BaseURL {
		return nil
	}
	before, err1 := zammad.InstanceID(cur.BaseURL)
	after, err2 := zammad.InstanceID(next.BaseURL)
	if err1 != nil || err2 != nil || before == after {
		return nil
	}
	profiles, err := s.Store.ListProfiles(ctx)
	if err != nil {
		return err
	}
	for _, pr := range profiles {
		if pr.ZammadConnectorID == cur.ID {
			return &apperr.Error{Kind: apperr.Conflict, Op: "api: update connector",
				Message: fmt.Sprintf("Profile %q syncs this Zammad; a base URL naming another instance would orphan its timesheets in Kimai. Create a new connector (and profile) for the other Zammad instead.", pr.Name),
				Fields:  map[string]string{"base_url": "names another Zammad instance than the one profile " + pr.Name + " has synced"}}
		}
	}
	return nil
}

// movesServer reports whether two base URLs reach different servers
// (scheme, host or port differ; the path may change freely).
func movesServer(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return a != b
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return !strings.EqualFold(ua.Scheme, ub.Scheme) || !strings.EqualFold(ua.Hostname(), ub.Hostname()) || port(ua) != port(ub)
}
