package zammadsim

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Faults describes failures injected in front of the API, as a flaky
// network, an overloaded Zammad or a proxy would produce them. At most one
// of hang, error, rate limit and malformed body hits a request (chosen in
// that order from one seeded random draw); latency applies to every
// matching request.
type Faults struct {
	// Method limits the faults to one HTTP method ("" = any).
	Method string
	// Path limits the faults to one endpoint: a route pattern such as
	// "/api/v1/tickets/{id}/time_accountings" or a concrete path such as
	// "/api/v1/tickets/7/time_accountings" ("" = any).
	Path string

	Latency time.Duration // added before answering

	ErrorRate     float64 // share of requests answered 500
	RateLimitRate float64 // share answered 429 with a Retry-After header
	// RetryAfter is sent with 429s, in whole seconds rounded up ("0" for 0).
	RetryAfter time.Duration
	// HangRate is the share of requests that never answer: they block until
	// the client goes away, the server closes, or the hang limit passes
	// (then 504, as a gateway would answer).
	HangRate float64
	// MalformedRate is the share answered 200 with a body that is not valid
	// JSON (alternately the real body cut in half, or a proxy's HTML page).
	MalformedRate float64

	// Max bounds how many requests get a fault (latency excluded); 0 means
	// no bound. {ErrorRate: 1, Max: 1} fails exactly the first request.
	Max int
}

// SetFaults replaces the active faults and resets the count of injected
// faults; the zero Faults switches them off. Safe while serving.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faultsApplied = 0
}

// FaultsInjected returns how many requests got a fault since SetFaults.
func (s *Server) FaultsInjected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faultsApplied
}

// Requests returns the request counts keyed by "METHOD /api/v1/route", e.g.
// "GET /api/v1/tickets/{id}/time_accountings". Requests that matched no
// route count under "METHOD (no route)". Faulted requests count too.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counters))
	for k, v := range s.counters {
		out[k] = v
	}
	return out
}

// ResetCounters sets all request counts to zero.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counters)
}

type faultKind int

const (
	faultNone faultKind = iota
	faultHang
	faultError
	faultRateLimit
	faultMalformed
)

// decideFault counts the request and draws its fault; s.mu must be held.
func (s *Server) decideFault(r *http.Request, pattern string) (faultKind, Faults, bool) {
	f := s.faults
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return faultNone, f, false
	}
	if f.Path != "" && f.Path != pattern && f.Path != r.URL.Path {
		return faultNone, f, false
	}
	if f.Max > 0 && s.faultsApplied >= f.Max {
		return faultNone, f, true
	}
	x := s.rng.Float64()
	kind := faultNone
	for _, c := range []struct {
		rate float64
		kind faultKind
	}{{f.HangRate, faultHang}, {f.ErrorRate, faultError}, {f.RateLimitRate, faultRateLimit}, {f.MalformedRate, faultMalformed}} {
		if x < c.rate {
			kind = c.kind
			break
		}
		x -= c.rate
	}
	if kind != faultNone {
		s.faultsApplied++
	}
	return kind, f, true
}

// wait blocks for d, or until the client or the server goes away. It
// reports whether the full time passed.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// withFaults wraps a route's handler with counting and fault injection.
// pattern is the route without its method.
func (s *Server) withFaults(key, pattern string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counters[key]++
		kind, f, matched := s.decideFault(r, pattern)
		hangLimit := s.hangLimit
		malformedHTML := s.faultsApplied%2 == 0
		s.mu.Unlock()
		if matched && !s.wait(r, f.Latency) {
			return
		}
		switch kind {
		case faultHang:
			if s.wait(r, hangLimit) {
				writeError(w, r, apiError{status: http.StatusGatewayTimeout, msg: "Gateway Timeout"})
			}
		case faultError:
			// What Zammad renders for an unexpected exception to a
			// non-admin: an opaque error id.
			writeError(w, r, apiError{status: http.StatusInternalServerError, msg: "Error ID zs1mUl8t: Please contact your administrator."})
		case faultRateLimit:
			// Rack::Attack's default throttled response: plain text.
			secs := int(math.Ceil(f.RetryAfter.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte("Retry later\n"))
		case faultMalformed:
			rec := httptest.NewRecorder()
			next(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			if malformedHTML || len(body) < 2 {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				body = []byte("<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in to continue.</body></html>")
			} else {
				body = bytes.Clone(body[:len(body)/2])
			}
			w.WriteHeader(http.StatusOK)
			w.Write(body)
		default:
			next(w, r)
		}
	}
}
