// Package zammad is Timebridge's client for the Zammad REST API: it reads
// time accounting entries, tickets, organizations, users, groups and
// activity types, and probes whether a Zammad and its token can be synced.
//
// It knows Zammad's traps (see shared/reference/zammad-api.md): time_unit is
// a decimal string that may be negative, list endpoints cap per_page
// silently (so "fewer rows than asked" is only a valid end-of-list signal
// when the client never asks for more than the cap), rows with equal sort
// keys may move between pages (so pages are de-duplicated by id), errors
// without Accept: application/json come back as HTML, and a missing
// credential is a 403, not a 401.
//
// Every call goes through shared/upstream, which retries GETs on timeouts,
// connection failures and 5xx, honours Retry-After on 429, and keeps each
// attempt inside the caller's deadline. Failures are classified once, as
// *apperr.Error, with a message that names the fix. The token never appears
// in logs or errors.
package zammad

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/upstream"
)

// Option configures a Client.
type Option func(*config)

type config struct {
	http    *http.Client
	policy  upstream.Policy
	timeout time.Duration
	log     *slog.Logger
}

// WithHTTPClient sets the HTTP client (transport, TLS, proxies). Redirects
// are never followed either way.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.http = hc } }

// WithRetryPolicy sets the retry policy (attempts, backoff, per-attempt
// timeout, Retry-After cap); zero fields take upstream.DefaultPolicy's values.
func WithRetryPolicy(p upstream.Policy) Option { return func(c *config) { c.policy = p } }

// WithTimeout bounds each HTTP attempt (the policy's AttemptTimeout). The
// caller's context bounds the call as a whole, retries included.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLogger sets the logger for retries and paging (debug level).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// Client talks to one Zammad with one token. It is safe for concurrent use.
type Client struct {
	up       *upstream.Client
	instance string
	log      *slog.Logger
}

// New returns a client for the Zammad at baseURL (e.g.
// https://support.example.com; a trailing /api/v1 is accepted and
// dropped) using a personal access token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	const op = "zammad: new client"
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	norm, err := normalizeBaseURL(baseURL)
	if err != nil {
		return nil, apperr.WithField(apperr.Wrap(err, apperr.Validation, op,
			"The Zammad base URL is not valid: use the address you open Zammad with, such as https://support.example.com."), "base_url")
	}
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return nil, apperr.WithField(apperr.New(apperr.Validation, op,
			"The Zammad token is empty: create a personal access token in Zammad (Profile › Token Access) and paste it into the connector."), "token")
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == '"' || r == 0x7f }):
		return nil, apperr.WithField(apperr.New(apperr.Validation, op,
			"The Zammad token contains spaces or control characters: paste the token exactly as Zammad showed it."), "token")
	}
	if cfg.timeout > 0 {
		cfg.policy.AttemptTimeout = cfg.timeout
	}
	auth := "Token token=" + token
	up, err := upstream.New(upstream.Config{
		BaseURL:    norm.String(),
		Service:    "zammad",
		Auth:       func(r *http.Request) { r.Header.Set("Authorization", auth) },
		HTTPClient: cfg.http,
		Policy:     cfg.policy,
		Classify:   classify,
		Logger:     cfg.log,
	})
	if err != nil {
		return nil, err
	}
	return &Client{up: up, instance: instanceOf(norm), log: cfg.log}, nil
}

// Instance returns a stable 8-hex-character id of the Zammad instance: the
// start of the SHA-256 of the normalised base URL. Kimai description
// markers carry it, so it must never change for the same Zammad.
func (c *Client) Instance() string { return c.instance }

// BaseURL returns the normalised base URL the client calls.
func (c *Client) BaseURL() string { return c.up.BaseURL().String() }

// InstanceID computes Client.Instance for a base URL without a client.
func InstanceID(baseURL string) (string, error) {
	u, err := normalizeBaseURL(baseURL)
	if err != nil {
		return "", fmt.Errorf("zammad: instance id: %w", err)
	}
	return instanceOf(u), nil
}

func instanceOf(u *url.URL) string {
	sum := sha256.Sum256([]byte(u.Scheme + "://" + u.Host + u.Path))
	return hex.EncodeToString(sum[:])[:8]
}

// normalizeBaseURL makes equivalent spellings of one Zammad address equal:
// lower-case scheme and host, no default port, no trailing slash, no
// trailing /api/v1 (people paste the API root), no query or fragment.
func normalizeBaseURL(raw string) (*url.URL, error) {
	u, err := upstream.ParseBaseURL(raw)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u.Host = host
	u.Path = strings.TrimRight(u.Path, "/")
	if strings.HasSuffix(strings.ToLower(u.Path), "/api/v1") {
		u.Path = strings.TrimRight(u.Path[:len(u.Path)-len("/api/v1")], "/")
	}
	u.RawPath, u.RawQuery, u.Fragment, u.ForceQuery = "", "", "", false
	return u, nil
}

// Messages naming the fix, shared by classification and Probe.
const (
	msgAuth = "The Zammad token is invalid or expired: create a personal access token in Zammad " +
		"(Profile › Token Access) with the admin.time_accounting and ticket.agent permissions and paste it into the connector."
	msgNoCredentials = "Zammad did not receive the token (it answered \"Authentication required\"): " +
		"check that no proxy in front of Zammad strips the Authorization header."
	msgTokenAccessOff = "Zammad has API token access switched off: enable it in Zammad (Settings › System › API › Token Access)."
	msgNotJSON        = "Zammad answered with something that is not its JSON API — check the base URL " +
		"(use the address you open Zammad with, without /api/v1 or a login page)."
	msgOldZammad = "This Zammad is older than the global time accounting API (needs ≥ 6.1 with " +
		"/api/v1/time_accountings): update Zammad to sync its time accounting."
)

// msgPermission names the permission a call needed.
func msgPermission(perm string) string {
	return fmt.Sprintf("The Zammad token lacks %s: in Zammad, give the connector's user a role with %s "+
		"(Admin › Roles), then create a new token that includes %s (Profile › Token Access).", perm, perm, perm)
}

// zammadError is Zammad's error body.
type zammadError struct {
	Error      string `json:"error"`
	ErrorHuman string `json:"error_human"`
}

// parseError reads Zammad's JSON error body; ok is false when the body is
// not one (HTML, a proxy's page, empty).
func parseError(body []byte) (string, bool) {
	var ze zammadError
	if upstream.DecodeJSON(body, &ze) != nil || (ze.Error == "" && ze.ErrorHuman == "") {
		return "", false
	}
	if ze.ErrorHuman != "" {
		return ze.ErrorHuman, true
	}
	return ze.Error, true
}

// said quotes Zammad's own message for the user, shortened.
func said(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return ""
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Sprintf(" (Zammad said: %q)", msg)
}

// classify is the Zammad-specific upstream.ClassifyFunc. It keys on the
// status first (messages changed between releases) and uses the message
// only to tell apart the 403s.
func classify(op string, status int, header http.Header, body []byte) *apperr.Error {
	msg, isJSON := parseError(body)
	e := &apperr.Error{Op: op, Status: status}
	switch {
	case status == http.StatusUnauthorized:
		e.Kind, e.Message = apperr.Auth, msgAuth+said(msg)
	case status == http.StatusForbidden:
		switch {
		case msg == "Authentication required":
			e.Kind, e.Message = apperr.Auth, msgNoCredentials
		case strings.Contains(msg, "API token access disabled"):
			e.Kind, e.Message = apperr.Permission, msgTokenAccessOff
		default:
			// "Token authorization failed." / "User authorization failed."
			// (older: "Not authorized (token)!"), or a policy's refusal.
			// The call site names the permission it needed.
			e.Kind, e.Message = apperr.Permission, "Zammad refused the request for lack of permission"+said(msg)+"."
		}
	case !isJSON && status >= 400 && status < 500 && status != http.StatusTooManyRequests:
		// Zammad answers JSON to every JSON request; anything else came
		// from somewhere else (a wrong path, a proxy, a login page).
		e.Kind, e.Message = apperr.Upstream, msgNotJSON
	case status == http.StatusNotFound:
		e.Kind, e.Message = apperr.NotFound, "Zammad has no such record"+said(msg)+"."
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		e.Kind, e.Message = apperr.Validation, "Zammad refused the request as invalid"+said(msg)+"."
	case status == http.StatusTooManyRequests:
		e.Kind, e.Message = apperr.RateLimited, "Zammad is rate limiting Timebridge; it will retry later."
		e.RetryAfter = upstream.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status >= 500:
		e.Kind = apperr.Upstream
		e.Message = fmt.Sprintf("Zammad had a server error (HTTP %d); Timebridge retries automatically. If it persists, check Zammad's production.log.", status)
	default:
		return nil // redirects and odd statuses: upstream's generic wording
	}
	return e
}

// call describes one request for get/post.
type call struct {
	op    string     // e.g. "zammad: ticket 42 entries"
	path  string     // below the base URL, e.g. "/api/v1/tickets/42"
	query url.Values // may be nil
	body  any        // JSON body for POST
	// perm is the permission the call needs, named in a 403's message.
	perm string
	// denied, when set, replaces the message of a permission 403 (calls
	// whose refusal has more causes than one missing permission).
	denied string
	// notFound is the message for a 404 (the record is gone).
	notFound string
}

// do performs a read-only request (retried by upstream) and decodes the
// JSON answer into out.
func (c *Client) do(ctx context.Context, method string, k call, out any) error {
	resp, err := c.up.Do(ctx, upstream.Request{
		Op: k.op, Method: method, Path: k.path, Query: k.query, Body: k.body,
		// Every call of this client only reads (POST /tickets/search
		// too) or is idempotent in Zammad (tags/add of a tag the ticket
		// has, tags/remove of one it lacks, both answer true), so
		// repeating it after an ambiguous failure is safe.
		Idempotent: true,
	})
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Status != 0 {
			switch {
			case ae.Kind == apperr.Permission && ae.Status == http.StatusForbidden && k.denied != "" && ae.Message != msgTokenAccessOff:
				ae.Message = k.denied
			case ae.Kind == apperr.Permission && ae.Status == http.StatusForbidden && k.perm != "" && ae.Message != msgTokenAccessOff:
				ae.Message = msgPermission(k.perm)
			case ae.Kind == apperr.NotFound && k.notFound != "":
				ae.Message = k.notFound
			}
		}
		return err
	}
	body := bytes.TrimSpace(resp.Body)
	if b, ok := out.(*bool); ok {
		// tags/add and tags/remove answer a bare `true`, which
		// DecodeJSON (objects and arrays only) would take for a proxy's
		// page; anything else is not Zammad's answer.
		if s := string(body); s == "true" || s == "false" {
			*b = s == "true"
			return nil
		}
		return &apperr.Error{Kind: apperr.Upstream, Op: k.op, Status: resp.Status, Message: msgNotJSON}
	}
	if err := upstream.DecodeJSON(body, out); err != nil {
		msg := msgNotJSON
		if json.Valid(body) {
			// Well-formed JSON that does not fit: a record with a value
			// Zammad should never send (e.g. time_unit out of range).
			msg = "Zammad sent data Timebridge cannot read (" + shortErr(err) +
				"); nothing was synced from it. Please report this with your Zammad version."
		}
		return &apperr.Error{Kind: apperr.Upstream, Op: k.op, Status: resp.Status, Message: msg, Err: err}
	}
	return nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
