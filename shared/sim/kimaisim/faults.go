package kimaisim

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults describes failures to inject. The zero value injects nothing.
// Rates are probabilities in [0, 1], rolled independently per matching
// request with the server's seeded generator, in this order: hang, rate
// limit, error, fail-after-write. Latency applies to every matching request.
type Faults struct {
	// Latency delays every matching request before anything else happens.
	Latency time.Duration
	// ErrorRate answers 500 {"code":500,"message":"Internal Server Error"}
	// without doing anything.
	ErrorRate float64
	// RateLimitRate answers 429 without doing anything, with a Retry-After
	// header of RetryAfter rounded up to whole seconds (no header when
	// RetryAfter is 0).
	RateLimitRate float64
	RetryAfter    time.Duration
	// HangRate blocks the request until the client goes away, the server is
	// closed, or MaxHang (default 30 s) passes; after MaxHang the request
	// is served normally (a very slow answer).
	HangRate float64
	MaxHang  time.Duration
	// FailAfterWriteRate applies to timesheet writes only (POST
	// /api/timesheets, PATCH and DELETE /api/timesheets/{id}): the write is
	// committed, then — if it succeeded — the answer is replaced by a 500,
	// or the connection is dropped without an answer when DropConnection is
	// set. A write Kimai refused (4xx) is answered normally, since nothing
	// was committed and nothing is ambiguous.
	FailAfterWriteRate float64
	DropConnection     bool
	// SlowCommitRate applies to timesheet writes only and models PHP: the
	// request keeps running for SlowCommitDelay whether or not the client
	// is still there, and then its write is committed (exactly once). A
	// client that waits gets the normal answer; one that gave up (its
	// timeout, a dropped connection) gets nothing, but the write happens
	// all the same. WaitIdle waits for the pending ones. Rolled
	// after the other kinds; a request that drew a hang, rate limit, error
	// or fail-after-write is not also slow.
	SlowCommitRate  float64
	SlowCommitDelay time.Duration

	// Method and PathPrefix restrict faults to matching requests ("" matches
	// everything), e.g. Method "POST", PathPrefix "/api/timesheets". Match,
	// when set, must also return true. Path is the request's URL path.
	Method     string
	PathPrefix string
	Match      func(method, path string) bool
}

type faultState struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func (fs *faultState) seed(seed uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// SetFaults replaces the active faults; it takes effect for requests that
// arrive afterwards (requests already hanging keep hanging).
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
}

// ClearFaults switches fault injection off.
func (s *Server) ClearFaults() { s.SetFaults(Faults{}) }

// CurrentFaults returns the active faults.
func (s *Server) CurrentFaults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.f
}

type faultDecision struct {
	latency        time.Duration
	hang           bool
	maxHang        time.Duration
	rateLimit      bool
	retryAfter     time.Duration
	serverError    bool
	failAfterWrite bool
	drop           bool
	slowCommit     bool
	slowDelay      time.Duration
}

func (f Faults) matches(method, path string) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	if f.PathPrefix != "" && !strings.HasPrefix(path, f.PathPrefix) {
		return false
	}
	if f.Match != nil && !f.Match(method, path) {
		return false
	}
	return true
}

// decide rolls the dice for one request. Only configured kinds consume
// random numbers, so a given configuration and seed give a reproducible
// sequence of outcomes for a sequence of requests.
func (fs *faultState) decide(method, path string, timesheetWrite bool) (faultDecision, bool) {
	fs.mu.Lock()
	f := fs.f
	fs.mu.Unlock()
	// Match is user code: call it without holding the lock.
	if !f.matches(method, path) {
		return faultDecision{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	roll := func(rate float64) bool {
		if rate <= 0 {
			return false
		}
		return fs.rng.Float64() < rate
	}
	d := faultDecision{latency: f.Latency, maxHang: f.MaxHang, retryAfter: f.RetryAfter, drop: f.DropConnection}
	if d.maxHang <= 0 {
		d.maxHang = 30 * time.Second
	}
	d.hang = roll(f.HangRate)
	d.rateLimit = roll(f.RateLimitRate)
	d.serverError = roll(f.ErrorRate)
	if timesheetWrite {
		d.failAfterWrite = roll(f.FailAfterWriteRate)
		d.slowCommit = roll(f.SlowCommitRate)
		d.slowDelay = f.SlowCommitDelay
	}
	return d, true
}

func isTimesheetWrite(pattern string) bool {
	switch pattern {
	case "POST /api/timesheets", "PATCH /api/timesheets/{id}", "DELETE /api/timesheets/{id}":
		return true
	}
	return false
}

// injectFaults applies the active faults to one request and reports whether
// it fully handled the request.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, pattern string) bool {
	d, ok := s.faults.decide(r.Method, r.URL.Path, isTimesheetWrite(pattern))
	if !ok {
		return false
	}
	if d.latency > 0 && !s.wait(r, d.latency) {
		s.abandon(w, r)
		return true
	}
	if d.hang {
		// The server only notices a vanished client once the request body
		// has been consumed, so read it now and hand the handler a copy.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !s.wait(r, d.maxHang) {
			s.abandon(w, r)
			return true
		}
	}
	if d.rateLimit {
		if d.retryAfter > 0 {
			secs := int64((d.retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		writeError(w, http.StatusTooManyRequests)
		return true
	}
	if d.serverError {
		writeError(w, http.StatusInternalServerError)
		return true
	}
	if d.slowCommit && !d.failAfterWrite {
		s.slowCommit(w, r, pattern, d.slowDelay)
		return true
	}
	if d.failAfterWrite {
		rec := httptest.NewRecorder()
		s.route(rec, r, pattern)
		if rec.Code >= 300 {
			copyRecorded(w, rec)
			return true
		}
		if d.drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return true
				}
			}
		}
		writeError(w, http.StatusInternalServerError)
		return true
	}
	return false
}

// wait blocks for d and reports false when the client went away or the
// server is closing first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closing:
		return false
	}
}

// abandon ends a request whose wait was cut short: nothing to write when the
// client is gone; a 503 when the server is shutting down (never an empty 200).
func (s *Server) abandon(w http.ResponseWriter, r *http.Request) {
	if r.Context().Err() == nil {
		writeError(w, http.StatusServiceUnavailable)
	}
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// slowCommit runs the write after delay in a request of its own that no
// client can cancel, as PHP finishes a script whose client hung up. The
// client gets the answer only if it is still waiting by then. Close makes
// pending commits happen at once.
func (s *Server) slowCommit(w http.ResponseWriter, r *http.Request, pattern string, delay time.Duration) {
	body, _ := io.ReadAll(r.Body)
	detached := r.Clone(context.WithoutCancel(r.Context()))
	detached.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	s.slowMu.Lock()
	s.slowStarted++
	s.slowPending++
	s.slowMu.Unlock()
	s.slowCond.Broadcast()
	go func() {
		defer func() {
			s.slowMu.Lock()
			s.slowPending--
			s.slowMu.Unlock()
			s.slowCond.Broadcast()
		}()
		defer close(done)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closing:
		}
		s.route(rec, detached, pattern)
		s.slowCommits.Add(1)
	}()
	select {
	case <-done:
		copyRecorded(w, rec)
	case <-r.Context().Done():
		// The client gave up; the goroutine still commits.
	}
}

// WaitIdle blocks until no request is being handled and every slow commit
// started so far has been applied, so a test sees every write a client may
// have caused, including one whose client already gave up.
func (s *Server) WaitIdle() {
	s.slowMu.Lock()
	defer s.slowMu.Unlock()
	for s.slowPending > 0 || s.inflight > 0 {
		s.slowCond.Wait()
	}
}

// AwaitSlowCommitsStarted blocks until at least n slow commits have begun,
// that is their requests reached the server. A test whose client timed out
// calls it before WaitIdle to know the server saw the request.
func (s *Server) AwaitSlowCommitsStarted(n int) {
	s.slowMu.Lock()
	defer s.slowMu.Unlock()
	for s.slowStarted < n {
		s.slowCond.Wait()
	}
}

// SlowCommits reports how many slow commits have been applied.
func (s *Server) SlowCommits() int { return int(s.slowCommits.Load()) }
