// Package upstream performs HTTP calls to the upstream APIs (Zammad, Kimai)
// with the behaviour both clients need: a deadline on every attempt, retries
// with exponential backoff and full jitter inside the caller's deadline,
// Retry-After honoured on 429, and every failure classified into an
// apperr.Kind exactly once.
//
// Only requests marked Idempotent are retried after an ambiguous failure
// (timeout, dropped connection, 5xx): repeating a POST that the server may
// already have committed could create a duplicate, so for those the caller
// decides (the engine searches Kimai for its marker first). A refused
// connection or a 429 proves the server did not act, so those are retried
// for every request.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Policy bounds retries and attempt durations.
type Policy struct {
	MaxAttempts    int           // total attempts, ≥ 1; default 5
	BaseDelay      time.Duration // first backoff; default 200ms
	MaxDelay       time.Duration // backoff cap; default 10s
	AttemptTimeout time.Duration // deadline of one attempt; default 20s
	// MaxRetryAfter caps how long a Retry-After may make us wait; longer
	// hints fail the call as rate limited. Default 60s.
	MaxRetryAfter time.Duration
}

// DefaultPolicy is used for zero fields.
var DefaultPolicy = Policy{
	MaxAttempts:    5,
	BaseDelay:      200 * time.Millisecond,
	MaxDelay:       10 * time.Second,
	AttemptTimeout: 20 * time.Second,
	MaxRetryAfter:  60 * time.Second,
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultPolicy.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultPolicy.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultPolicy.MaxDelay
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = DefaultPolicy.AttemptTimeout
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultPolicy.MaxRetryAfter
	}
	return p
}

// ClassifyFunc turns a non-2xx response into a classified error with a
// message that names the fix. It is service-specific (Zammad's 403 means
// something else than Kimai's). Returning nil falls back to ClassifyStatus.
type ClassifyFunc func(op string, status int, header http.Header, body []byte) *apperr.Error

// Client sends requests to one upstream base URL.
type Client struct {
	base     *url.URL
	http     *http.Client
	policy   Policy
	service  string // "zammad" or "kimai", used in ops and messages
	auth     func(*http.Request)
	classify ClassifyFunc
	log      *slog.Logger
	sleep    func(ctx context.Context, d time.Duration) error
}

// MaxResponseBytes bounds one upstream answer: a Kimai page of 500
// timesheets or a Zammad page of expanded tickets is well below 1 MiB.
const MaxResponseBytes = 8 << 20

// Config configures a Client.
type Config struct {
	BaseURL string
	Service string
	// Auth sets the credentials on each request; the value is never logged.
	Auth       func(*http.Request)
	HTTPClient *http.Client
	Policy     Policy
	Classify   ClassifyFunc
	Logger     *slog.Logger
	// UserAgent defaults to "Timebridge".
	UserAgent string
}

// MaxConnsPerHost is how many connections to one upstream a client keeps
// open between requests: the most a run sends at once (a profile's write
// concurrency is at most 64).
const MaxConnsPerHost = 64

// NewTransport is the transport for upstream clients. Go's default keeps
// only 2 idle connections per host, so a run writing 8 or 32 at once would
// close and re-dial (and, against a real Kimai, redo the TLS handshake of)
// most connections after every request.
func NewTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = MaxConnsPerHost
	return tr
}

// defaultTransport serves the clients made without an HTTP client of their own.
var defaultTransport = NewTransport()

// New validates the base URL and returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Validation, cfg.Service+": base URL",
			fmt.Sprintf("The %s base URL is not valid: use the form https://host[/path].", serviceName(cfg.Service)))
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport}
	}
	// Never follow redirects: a redirect to a login page would turn into a
	// misleading "not JSON" error, and credentials must not leave the host.
	hcCopy := *hc
	hcCopy.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "Timebridge"
	}
	auth := cfg.Auth
	return &Client{
		base:    u,
		http:    &hcCopy,
		policy:  cfg.Policy.withDefaults(),
		service: cfg.Service,
		auth: func(r *http.Request) {
			r.Header.Set("User-Agent", ua)
			if auth != nil {
				auth(r)
			}
		},
		classify: cfg.Classify,
		log:      log,
		sleep:    Sleep,
	}, nil
}

// ParseBaseURL accepts an absolute http(s) URL and strips a trailing slash.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, errors.New("host missing")
	}
	if u.User != nil {
		return nil, errors.New("credentials in the URL are not allowed")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// BaseURL returns the normalised base URL.
func (c *Client) BaseURL() *url.URL { u := *c.base; return &u }

// Request is one logical call.
type Request struct {
	Op     string // e.g. "kimai: create timesheet for entry 42"
	Method string
	Path   string // appended to the base URL path, e.g. "/api/timesheets"
	Query  url.Values
	Body   any // JSON-encoded when non-nil
	// Idempotent allows retries after ambiguous failures.
	Idempotent bool
	// OK lists extra statuses to accept besides 2xx (e.g. 404 as "absent").
	OK []int
}

// Response is a successful (or accepted) response with its body read.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Attempts int
}

// Do performs req with retries and returns the response or a classified
// error. The error wraps *apperr.Error with Op set.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, apperr.Wrap(err, apperr.Internal, req.Op, "")
		}
		body = b
	}
	var lastErr *apperr.Error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		resp, aerr, sent := c.attempt(ctx, req, body)
		c.observe(ctx, req, start, resp, aerr)
		if aerr == nil {
			resp.Attempts = attempt
			return resp, nil
		}
		lastErr = aerr
		if !c.retryable(req, aerr, sent) || attempt >= c.policy.MaxAttempts {
			return nil, lastErr
		}
		wait := c.backoff(attempt)
		if aerr.Kind == apperr.RateLimited && aerr.RetryAfter > 0 {
			if aerr.RetryAfter > c.policy.MaxRetryAfter {
				return nil, lastErr
			}
			wait = aerr.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would outlive the caller's deadline: fail now with
			// the real cause instead of a bare deadline error.
			return nil, lastErr
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "upstream retry",
			slog.String("service", c.service), slog.String("op", req.Op),
			slog.Int("attempt", attempt), slog.String("class", string(aerr.Kind)),
			slog.Int("status", aerr.Status), slog.Duration("wait", wait))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, lastErr
		}
	}
}

// JSON performs req and decodes a 2xx JSON body into out (if non-nil).
func (c *Client) JSON(ctx context.Context, req Request, out any) (*Response, error) {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if out != nil && resp.Status >= 200 && resp.Status < 300 && resp.Status != http.StatusNoContent {
		if err := DecodeJSON(resp.Body, out); err != nil {
			return resp, &apperr.Error{Kind: apperr.Upstream, Op: req.Op, Status: resp.Status, Err: err,
				Message: fmt.Sprintf("%s answered with something that is not its JSON API; check the connector's base URL.", serviceName(c.service))}
		}
	}
	return resp, nil
}

// DecodeJSON decodes body into out, rejecting empty or non-JSON bodies.
func DecodeJSON(body []byte, out any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("empty body")
	}
	if trimmed[0] != '{' && trimmed[0] != '[' {
		return fmt.Errorf("body is not JSON (starts with %q)", snippet(trimmed))
	}
	if err := json.Unmarshal(trimmed, out); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return nil
}

func snippet(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// attempt runs one HTTP exchange. sent reports whether the request may have
// reached the server (false only when the connection was never made).
func (c *Client) attempt(ctx context.Context, req Request, body []byte) (*Response, *apperr.Error, bool) {
	actx, cancel := context.WithTimeout(ctx, c.policy.AttemptTimeout)
	defer cancel()
	u := *c.base
	u.Path = c.base.Path + req.Path
	if len(req.Query) > 0 {
		u.RawQuery = req.Query.Encode()
	}
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(actx, req.Method, u.String(), rdr)
	if err != nil {
		return nil, &apperr.Error{Kind: apperr.Internal, Op: req.Op, Err: err}, false
	}
	hreq.Header.Set("Accept", "application/json")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	c.auth(hreq)
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, req.Op, err), !neverSent(err)
	}
	defer hresp.Body.Close()
	// Bound what we read: the functions have 256-512 MB, and no page we ask
	// for comes near the limit. Larger answers are refused, never cut short
	// into JSON that fails to parse for an unclear reason.
	data, err := io.ReadAll(io.LimitReader(hresp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, req.Op, err), true
	}
	if len(data) > MaxResponseBytes {
		return nil, &apperr.Error{Kind: apperr.Upstream, Op: req.Op, Status: hresp.StatusCode,
			Message: fmt.Sprintf("%s sent an answer larger than %d MiB; check that the base URL points at its API.",
				serviceName(c.service), MaxResponseBytes>>20)}, true
	}
	if hresp.StatusCode >= 200 && hresp.StatusCode < 300 || contains(req.OK, hresp.StatusCode) {
		return &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}, nil, true
	}
	var aerr *apperr.Error
	if c.classify != nil {
		aerr = c.classify(req.Op, hresp.StatusCode, hresp.Header, data)
	}
	if aerr == nil {
		aerr = ClassifyStatus(c.service, req.Op, hresp.StatusCode, hresp.Header)
	}
	if aerr.Op == "" {
		aerr.Op = req.Op
	}
	aerr.Status = hresp.StatusCode
	if aerr.Kind == apperr.RateLimited && aerr.RetryAfter == 0 {
		aerr.RetryAfter = ParseRetryAfter(hresp.Header.Get("Retry-After"), time.Now())
	}
	return nil, aerr, true
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func (c *Client) retryable(req Request, e *apperr.Error, sent bool) bool {
	switch e.Kind {
	case apperr.RateLimited:
		return true // the server refused the request; it did nothing
	case apperr.Connection:
		return req.Idempotent || !sent
	case apperr.Timeout:
		return req.Idempotent
	case apperr.Upstream:
		// Only server errors are transient; a redirect or an odd status
		// will answer the same way again.
		return e.Status >= 500 && req.Idempotent
	}
	return false
}

// backoff returns a full-jitter exponential delay for the given attempt.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.policy.BaseDelay << (attempt - 1)
	if d <= 0 || d > c.policy.MaxDelay {
		d = c.policy.MaxDelay
	}
	// Full jitter, but never less than a quarter of the step so retries
	// against a struggling server do not arrive in a burst.
	return d/4 + rand.N(d-d/4+1)
}

func (c *Client) transportError(ctx context.Context, op string, err error) *apperr.Error {
	name := serviceName(c.service)
	host := c.base.Host
	switch {
	case ctx.Err() != nil:
		return &apperr.Error{Kind: apperr.Timeout, Op: op, Err: err,
			Message: fmt.Sprintf("The run ran out of time while waiting for %s; it will continue next time.", name)}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &apperr.Error{Kind: apperr.Timeout, Op: op, Err: err,
			Message: fmt.Sprintf("%s at %s did not answer in time; check that it is up and not overloaded.", name, host)}
	}
	return &apperr.Error{Kind: apperr.Connection, Op: op, Err: err,
		Message: fmt.Sprintf("Could not connect to %s at %s; check the base URL, DNS and that the server is reachable from AWS.", name, host)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// neverSent reports failures that prove the request never reached a server.
func neverSent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	return false
}

// ClassifyStatus is the generic classification of an HTTP status.
func ClassifyStatus(service, op string, status int, header http.Header) *apperr.Error {
	name := serviceName(service)
	e := &apperr.Error{Op: op, Status: status}
	switch {
	case status == http.StatusUnauthorized:
		e.Kind, e.Message = apperr.Auth, fmt.Sprintf("%s rejected the API token; paste a valid token into the connector.", name)
	case status == http.StatusForbidden:
		e.Kind, e.Message = apperr.Permission, fmt.Sprintf("%s denied the request; give the connector's user the needed permissions.", name)
	case status == http.StatusNotFound || status == http.StatusGone:
		e.Kind, e.Message = apperr.NotFound, fmt.Sprintf("%s does not have the requested record.", name)
	case status == http.StatusTooManyRequests:
		e.Kind, e.Message = apperr.RateLimited, fmt.Sprintf("%s is rate limiting Timebridge; it will retry later.", name)
		e.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), time.Now())
	case status == http.StatusBadRequest || status == http.StatusUnprocessableEntity:
		e.Kind, e.Message = apperr.Validation, fmt.Sprintf("%s refused the data as invalid.", name)
	case status >= 500:
		e.Kind, e.Message = apperr.Upstream, fmt.Sprintf("%s had a server error (HTTP %d); Timebridge retries automatically.", name, status)
	case status >= 300 && status < 400:
		e.Kind, e.Message = apperr.Upstream, fmt.Sprintf("%s redirected the request (HTTP %d); use the final https:// base URL in the connector.", name, status)
	default:
		e.Kind, e.Message = apperr.Upstream, fmt.Sprintf("%s answered HTTP %d unexpectedly.", name, status)
	}
	return e
}

// ParseRetryAfter reads a Retry-After header (seconds or HTTP date).
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func serviceName(s string) string {
	switch s {
	case "zammad":
		return "Zammad"
	case "kimai":
		return "Kimai"
	case "":
		return "The upstream server"
	}
	return s
}

// Sleep waits for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
