// Package kimai is Timebridge's client for the Kimai 2 REST API: it reads
// the catalog (customers, projects, activities, users, tags), creates
// missing catalog entries, and lists, creates, updates and deletes
// timesheets.
//
// It encodes what Kimai expects and tolerates what Kimai does (see
// shared/reference/kimai-api.md): Bearer-token auth; datetimes sent as
// local wall-clock time without offset and read back with a colon-less
// offset; tags as a comma-separated string; permission-dependent timesheet
// fields sent only when asked for (the "extra fields" trap); paging with
// size 500 in a stable id order with de-duplication; and errors classified
// into apperr kinds with messages that name the fix.
//
// Transport, deadlines, retries with backoff and Retry-After are delegated
// to shared/upstream. Reads, PATCH and DELETE are idempotent and retried on
// connection failures, timeouts, 429 and 5xx. POSTs (timesheets and catalog
// entries) are retried only when the server certainly did not act (a
// refused connection, a 429): after an ambiguous failure — a 5xx, a
// timeout, a dropped connection — the classified error is returned and the
// caller decides, because Kimai may already have created the record (the
// engine searches for its marker before creating again).
//
// The API token is only ever placed in the Authorization header; it never
// appears in logs or error strings.
package kimai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	// The zone database is compiled in: Kimai reads local times in its API
	// user's zone, and Lambda's provided.al2023 image does not promise
	// /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/upstream"
)

// Client talks to one Kimai installation as one API user. It is safe for
// concurrent use.
type Client struct {
	up          *upstream.Client
	log         *slog.Logger
	callTimeout time.Duration
}

type config struct {
	httpClient  *http.Client
	policy      upstream.Policy
	timeout     time.Duration
	logger      *slog.Logger
	callTimeout time.Duration
}

// Option configures a Client.
type Option func(*config)

// WithHTTPClient sets the HTTP client (transport, proxies, TLS). Redirects
// are never followed regardless of its CheckRedirect.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithRetryPolicy sets the retry policy (attempts, backoff, per-attempt
// timeout, Retry-After cap); zero fields take upstream.DefaultPolicy's values.
func WithRetryPolicy(p upstream.Policy) Option { return func(c *config) { c.policy = p } }

// WithTimeout sets the deadline of each HTTP request (attempt); it
// overrides the policy's AttemptTimeout whatever the order of options.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithCallTimeout bounds a whole call (all its attempts and backoff waits)
// when the caller's context has no deadline of its own. Default 2 minutes;
// ListTimesheets applies it per page.
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.callTimeout = d } }

// WithLogger sets the logger for retries and paging anomalies.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// DefaultCallTimeout bounds calls whose context has no deadline.
const DefaultCallTimeout = 2 * time.Minute

// New returns a client for the Kimai installation at baseURL (e.g.
// "https://kimai.example.com"; a trailing slash is ignored) using the API
// token of the Kimai user the connector acts as.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	cfg := config{callTimeout: DefaultCallTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, apperr.WithField(apperr.New(apperr.Validation, "kimai: new client",
			"The Kimai API token is empty: create a token in Kimai (user menu › API access) and paste it into the connector."), "token")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		// A pasted token with inner whitespace would corrupt the header.
		return nil, apperr.WithField(apperr.New(apperr.Validation, "kimai: new client",
			"The Kimai API token contains spaces or line breaks: paste only the token itself."), "token")
	}
	if cfg.timeout > 0 {
		cfg.policy.AttemptTimeout = cfg.timeout
	}
	log := cfg.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	up, err := upstream.New(upstream.Config{
		BaseURL:    baseURL,
		Service:    "kimai",
		Auth:       func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) },
		HTTPClient: cfg.httpClient,
		Policy:     cfg.policy,
		Classify:   classify,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	if cfg.callTimeout <= 0 {
		cfg.callTimeout = DefaultCallTimeout
	}
	return &Client{up: up, log: log, callTimeout: cfg.callTimeout}, nil
}

// call performs one request with a deadline and decodes a 2xx JSON body
// into out (when out is non-nil and the status is not 204).
func (c *Client) call(ctx context.Context, req upstream.Request, out any) (*upstream.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.callTimeout)
		defer cancel()
	}
	resp, err := c.up.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if out != nil && resp.Status >= 200 && resp.Status < 300 && resp.Status != http.StatusNoContent {
		if err := upstream.DecodeJSON(resp.Body, out); err != nil {
			return resp, notAPI(req.Op, resp.Status, err)
		}
	}
	return resp, nil
}

func get(op, path string, q url.Values) upstream.Request {
	return upstream.Request{Op: op, Method: http.MethodGet, Path: path, Query: q, Idempotent: true}
}

// ---------------------------------------------------------------------
// Error classification

// GlobalField is the key in apperr.Error.Fields under which Kimai's
// form-level (not field-specific) validation messages are reported.
const GlobalField = "_global"

// Messages that name the fix.
const (
	msgAuth     = "The Kimai API token is invalid or expired: create a new token in Kimai (user menu › API access) and paste it into the connector."
	msgPerm     = "The Kimai user of this connector lacks a permission for this action: give it a role with the needed permission (team lead or administrator) in Kimai."
	msgNotFound = "Kimai does not have the requested record; it may have been deleted in Kimai."
	msgRate     = "Kimai (or a proxy in front of it) is rate limiting Timebridge; it retries later."
	msgNotAPI   = "Kimai answered with something that is not its API — check the base URL (it must point at the Kimai installation, e.g. https://kimai.example.com, without /api)."
	msgExtra    = "Kimai refused the timesheet because the connector's Kimai user may not set user, billable or exported (\"This form should not contain extra fields.\"): give that Kimai user the team lead or administrator role, or change the profile's user mapping so that timesheets are booked as the token user."
	msgBadReq   = "Kimai rejected the request as malformed (for a timesheet search: a tag in the filter does not exist in Kimai, or a filter value has the wrong format)."
)

const extraFieldsText = "This form should not contain extra fields."

// apiError is Kimai's error body. code is a number, or a string for
// service-layer errors.
type apiError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Errors  json.RawMessage `json:"errors"`
}

// decodeAPIError reports whether body is a Kimai error object.
func decodeAPIError(body []byte, ae *apiError) bool {
	return upstream.DecodeJSON(body, ae) == nil && (len(ae.Code) > 0 || ae.Message != "")
}

func isKimaiError(body []byte) bool {
	var ae apiError
	return decodeAPIError(body, &ae)
}

// classify turns a non-2xx Kimai response into a classified error.
func classify(op string, status int, header http.Header, body []byte) *apperr.Error {
	var ae apiError
	isJSON := decodeAPIError(body, &ae)
	e := &apperr.Error{Op: op, Status: status}
	switch {
	case status == http.StatusUnauthorized:
		// A bad token gets an empty body; a proxy may answer too — either
		// way the credentials are the problem.
		e.Kind, e.Message = apperr.Auth, msgAuth
	case status == http.StatusForbidden:
		e.Kind, e.Message = apperr.Permission, msgPerm
	case status == http.StatusTooManyRequests:
		e.Kind, e.Message = apperr.RateLimited, msgRate
		e.RetryAfter = upstream.ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status >= 500:
		e.Kind = apperr.Upstream
		e.Message = fmt.Sprintf("Kimai had a server error (HTTP %d); Timebridge retries automatically.", status)
	case !isJSON && status >= 400:
		// A 404 or 400 that is not Kimai's JSON comes from another web
		// server: the base URL is wrong.
		e.Kind, e.Message = apperr.Upstream, msgNotAPI
		e.Err = fmt.Errorf("HTTP %d with a non-API body", status)
	case status == http.StatusNotFound:
		e.Kind, e.Message = apperr.NotFound, msgNotFound
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		e.Kind = apperr.Validation
		global, fields := parseFormErrors(ae.Errors)
		if len(global) > 0 || len(fields) > 0 {
			e.Fields = map[string]string{}
			for k, v := range fields {
				e.Fields[k] = strings.Join(v, "; ")
			}
			if len(global) > 0 {
				e.Fields[GlobalField] = strings.Join(global, "; ")
			}
		}
		e.Message = validationMessage(ae.Message, global, fields)
	default:
		// Redirects and odd statuses: upstream's generic classification
		// (a redirect message that names the final URL) fits better.
		return nil
	}
	return e
}

// parseFormErrors reads FOSRest's form error tree: errors.errors are global,
// errors.children.<field>.errors belong to fields (nested children give
// dotted paths). It tolerates PHP's habit of encoding empty objects as [].
func parseFormErrors(raw json.RawMessage) (global []string, fields map[string][]string) {
	fields = map[string][]string{}
	var walk func(prefix string, raw json.RawMessage)
	walk = func(prefix string, raw json.RawMessage) {
		var node struct {
			Errors   json.RawMessage            `json:"errors"`
			Children map[string]json.RawMessage `json:"children"`
		}
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &node) != nil {
			return
		}
		var msgs []string
		if len(node.Errors) > 0 && node.Errors[0] == '[' {
			_ = json.Unmarshal(node.Errors, &msgs)
		}
		if prefix == "" {
			global = append(global, msgs...)
		} else if len(msgs) > 0 {
			fields[prefix] = append(fields[prefix], msgs...)
		}
		for name, child := range node.Children {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			walk(p, child)
		}
	}
	walk("", raw)
	return global, fields
}

func validationMessage(top string, global []string, fields map[string][]string) string {
	for _, g := range global {
		if g == extraFieldsText {
			return msgExtra
		}
	}
	var parts []string
	parts = append(parts, global...)
	for _, k := range sortedKeys(fields) {
		parts = append(parts, k+": "+strings.Join(fields[k], "; "))
	}
	if len(parts) == 0 {
		if top == "" || top == "Bad Request" {
			return msgBadReq
		}
		return "Kimai rejected the request: " + top + "."
	}
	return "Kimai rejected the data: " + strings.Join(parts, "; ")
}

func sortedKeys(m map[string][]string) []string { return slices.Sorted(maps.Keys(m)) }

func notAPI(op string, status int, cause error) error {
	return &apperr.Error{Kind: apperr.Upstream, Op: op, Status: status, Message: msgNotAPI, Err: cause}
}

// refine replaces the message of a classified error of kind k, keeping
// everything else, to say what the failure means for this operation.
func refine(err error, k apperr.Kind, message string) error {
	e, ok := apperr.As(err)
	if !ok || e.Kind != k {
		return err
	}
	c := *e
	c.Message = message
	return &c
}

// malformed reports a 2xx body that decoded but does not hold what Kimai
// sends (e.g. an unparsable datetime).
func malformed(op string, cause error) error {
	return notAPI(op, http.StatusOK, cause)
}

var errUnexpected = errors.New("unexpected response")

// ---------------------------------------------------------------------
// Smoke tests

// Ping checks that the base URL points at Kimai and the token works.
func (c *Client) Ping(ctx context.Context) error {
	const op = "kimai: ping"
	var out struct {
		Message string `json:"message"`
	}
	if _, err := c.call(ctx, get(op, "/api/ping", nil), &out); err != nil {
		return err
	}
	if out.Message != "pong" {
		return malformed(op, fmt.Errorf("%w: ping answered %q", errUnexpected, out.Message))
	}
	return nil
}

// Version is the answer of GET /api/version.
type Version struct {
	Version   string `json:"version"`
	VersionID int    `json:"versionId"`
	Copyright string `json:"copyright"`
}

// Version returns the Kimai version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	const op = "kimai: version"
	var v Version
	if _, err := c.call(ctx, get(op, "/api/version", nil), &v); err != nil {
		return Version{}, err
	}
	if v.Version == "" {
		return Version{}, malformed(op, fmt.Errorf("%w: no version", errUnexpected))
	}
	return v, nil
}

// TimesheetConfig is Kimai's timesheet configuration.
type TimesheetConfig struct {
	TrackingMode           string `json:"trackingMode"`
	DefaultBeginTime       string `json:"defaultBeginTime"`
	ActiveEntriesHardLimit int    `json:"activeEntriesHardLimit"`
	IsAllowFutureTimes     bool   `json:"isAllowFutureTimes"`
	IsAllowOverlapping     bool   `json:"isAllowOverlapping"`
}

// TimesheetConfig returns the timesheet configuration. In the "punch" and
// "duration_fixed_begin" tracking modes only users with
// view_other_timesheet may set begin and end.
func (c *Client) TimesheetConfig(ctx context.Context) (TimesheetConfig, error) {
	const op = "kimai: timesheet config"
	var tc TimesheetConfig
	if _, err := c.call(ctx, get(op, "/api/config/timesheet", nil), &tc); err != nil {
		return TimesheetConfig{}, err
	}
	if tc.TrackingMode == "" {
		return TimesheetConfig{}, malformed(op, fmt.Errorf("%w: no trackingMode", errUnexpected))
	}
	return tc, nil
}
