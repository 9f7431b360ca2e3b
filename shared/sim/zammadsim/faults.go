package zammadsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/timebridge/timebridge/shared/sim/fault"
)

// Faults describes failures injected in front of the API, as a flaky
// network, an overloaded Zammad or a proxy would produce them. The model is
// shared/sim/fault's, as in the Kimai simulator: at most one of hang, rate
// limit, error and malformed body hits a request (one seeded draw over the
// rates, in that order), so a rate is the share of matching requests with
// that fault; latency applies to every matching request.
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
	s.inj.Reset()
}

// FaultsInjected returns how many requests got a fault since SetFaults.
func (s *Server) FaultsInjected() int { return s.inj.Injected() }

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

// decideFault counts the request and draws its fault; s.mu must be held.
func (s *Server) decideFault(r *http.Request, pattern string) (fault.Kind, Faults, bool) {
	f := s.faults
	if !(fault.Match{Method: f.Method, Path: f.Path}).Matches(r.Method, pattern, r.URL.Path) {
		return fault.None, f, false
	}
	return s.inj.Draw(f.Max, fault.Rate{Kind: fault.Hang, P: f.HangRate}, fault.Rate{Kind: fault.RateLimit, P: f.RateLimitRate},
		fault.Rate{Kind: fault.Error, P: f.ErrorRate}, fault.Rate{Kind: fault.Malformed, P: f.MalformedRate}), f, true
}

// withFaults wraps a route's handler with counting and fault injection.
// pattern is the route without its method.
func (s *Server) withFaults(key, pattern string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counters[key]++
		kind, f, matched := s.decideFault(r, pattern)
		hangLimit := s.hangLimit
		malformedHTML := s.inj.Injected()%2 == 0
		s.mu.Unlock()
		if matched && !fault.Wait(r.Context(), s.closing, f.Latency) {
			return
		}
		switch kind {
		case fault.Hang:
			if fault.Wait(r.Context(), s.closing, hangLimit) {
				writeError(w, r, apiError{status: http.StatusGatewayTimeout, msg: "Gateway Timeout"})
			}
		case fault.Error:
			// What Zammad renders for an unexpected exception to a
			// non-admin: an opaque error id.
			writeError(w, r, apiError{status: http.StatusInternalServerError, msg: "Error ID zs1mUl8t: Please contact your administrator."})
		case fault.RateLimit:
			// Rack::Attack's default throttled response: plain text.
			w.Header().Set("Retry-After", fault.RetryAfter(f.RetryAfter))
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte("Retry later\n"))
		case fault.Malformed:
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
