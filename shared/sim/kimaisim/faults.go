package kimaisim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/sim/fault"
)

// Faults describes failures to inject. The zero value injects nothing. The
// model is shared/sim/fault's, as in the Zammad simulator: at most one kind
// hits a matching request (one draw from the server's seeded generator over
// the rates, in the order hang, rate limit, error, then, for timesheet
// writes, fail-after-write and slow commit), so a rate is the share of
// matching requests with that fault and the rates should sum to at most 1.
// Latency applies to every matching request; Max bounds how many requests
// get a fault.
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
	// /api/timesheets, PATCH and DELETE /api/timesheets/{id}, PATCH
	// /api/timesheets/{id}/export): the write is
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
	// all the same. WaitIdle waits for the pending ones.
	SlowCommitRate  float64
	SlowCommitDelay time.Duration

	// Capacity, when positive, bounds how many matching requests are
	// served at once, as PHP-FPM's pm.max_children does: each holds one of
	// Capacity workers for its whole handling (Latency included), and the
	// others wait in FIFO order (the pool's listen backlog), so latency
	// grows with the queue. QueueLimit bounds the queue as an nginx
	// limit_conn in front would: a request that finds QueueLimit waiting is
	// answered 429 at once, with Retry-After as for RateLimitRate (0: no
	// waiting room at all; negative: an unbounded queue). The model sees
	// the matching requests only (Method, PathPrefix, Match; not FaultOnly):
	// leave them empty to model the whole server. CapacityStats reports
	// what the pool did. See capacity.go.
	Capacity   int
	QueueLimit int

	// Method and PathPrefix restrict faults to matching requests ("" matches
	// everything), e.g. Method "POST", PathPrefix "/api/timesheets". Match,
	// when set, must also return true. Path is the request's URL path.
	Method     string
	PathPrefix string
	Match      func(method, path string) bool
	// Max bounds how many requests get a fault (latency excluded); 0 means
	// no bound.
	Max int
	// FaultOnly, when set, narrows the fault kinds (not Latency) to the
	// matching requests it accepts, so one spec can slow every request and
	// fail only some: {Latency: d, ErrorRate: 1, Max: n, FaultOnly: creates}
	// delays everything and fails the first n creates. Requests it refuses
	// draw nothing, so they leave the seeded sequence alone.
	FaultOnly func(method, path string) bool
}

type faultState struct {
	mu  sync.Mutex
	f   Faults
	gen int // bumped by SetFaults
	inj *fault.Injector
}

// SetFaults replaces the active faults; it takes effect for requests that
// arrive afterwards (requests already hanging keep hanging).
func (s *Server) SetFaults(f Faults) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.f = f
	s.faults.gen++
	s.faults.inj.Reset()
}

// ClearFaults switches fault injection off.
func (s *Server) ClearFaults() { s.SetFaults(Faults{}) }

// CurrentFaults returns the active faults.
func (s *Server) CurrentFaults() Faults {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.f
}

// FaultsInjected returns how many requests got a fault since SetFaults.
func (s *Server) FaultsInjected() int { return s.faults.inj.Injected() }

// decide draws the fault of one request; false when the active faults do
// not apply to it.
func (fs *faultState) decide(method, path string, timesheetWrite bool) (fault.Kind, Faults, bool) {
	fs.mu.Lock()
	f, gen := fs.f, fs.gen
	fs.mu.Unlock()
	// Match and FaultOnly are user code: called without holding the lock.
	if !(fault.Match{Method: f.Method, PathPrefix: f.PathPrefix, Func: f.Match}).Matches(method, "", path) {
		return fault.None, f, false
	}
	if f.FaultOnly != nil && !f.FaultOnly(method, path) {
		return fault.None, f, true // latency only
	}
	rates := []fault.Rate{{Kind: fault.Hang, P: f.HangRate}, {Kind: fault.RateLimit, P: f.RateLimitRate}, {Kind: fault.Error, P: f.ErrorRate}}
	if timesheetWrite {
		rates = append(rates, fault.Rate{Kind: fault.FailAfterWrite, P: f.FailAfterWriteRate}, fault.Rate{Kind: fault.SlowCommit, P: f.SlowCommitRate})
	}
	// Settings replaced while Match ran (a test may replace them from
	// Match): the request still gets its fault, but does not count against
	// the new settings' Max.
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.gen != gen {
		return fs.inj.Pick(rates...), f, true
	}
	return fs.inj.Draw(f.Max, rates...), f, true
}

func isTimesheetWrite(pattern string) bool {
	switch pattern {
	case "POST /api/timesheets", "PATCH /api/timesheets/{id}", "DELETE /api/timesheets/{id}", "PATCH /api/timesheets/{id}/export":
		return true
	}
	return false
}

// injectFaults applies the active faults to one request and reports whether
// it fully handled the request.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, pattern string) bool {
	kind, f, ok := s.faults.decide(r.Method, r.URL.Path, isTimesheetWrite(pattern))
	if !ok {
		return false
	}
	if !fault.Wait(r.Context(), s.closing, f.Latency) {
		s.abandon(w, r)
		return true
	}
	switch kind {
	case fault.Hang:
		// The server only notices a vanished client once the request body
		// has been consumed, so read it now and hand the handler a copy.
		// After MaxHang the request is served normally (a very slow answer).
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		maxHang := f.MaxHang
		if maxHang <= 0 {
			maxHang = 30 * time.Second
		}
		if !fault.Wait(r.Context(), s.closing, maxHang) {
			s.abandon(w, r)
			return true
		}
	case fault.RateLimit:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fault.RetryAfter(f.RetryAfter))
		}
		writeError(w, http.StatusTooManyRequests)
		return true
	case fault.Error:
		writeError(w, http.StatusInternalServerError)
		return true
	case fault.SlowCommit:
		s.slowCommit(w, r, pattern, f.SlowCommitDelay)
		return true
	case fault.FailAfterWrite:
		rec := httptest.NewRecorder()
		s.route(rec, r, pattern)
		if rec.Code >= 300 {
			copyRecorded(w, rec)
			return true
		}
		if f.DropConnection {
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
