package kimaisim

import (
	"net/http"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/sim/fault"
)

// The capacity model (Faults.Capacity, Faults.QueueLimit) is a Kimai
// behind nginx and PHP-FPM: pm.max_children workers each serve one request
// at a time, so at most Capacity requests are being worked on; the others
// wait in FIFO order in the pool's listen backlog, so their latency grows
// with the queue; and an nginx limit_conn on the Kimai location (with
// limit_conn_status 429 and a Retry-After added) turns away whatever
// exceeds Capacity + QueueLimit at once. A worker stays busy for the
// request's whole handling: Faults.Latency (the service time) included.

// CapacityStats are the capacity model's counters since the last
// ResetCounters (or New), for benchmarks: the workers' utilization over the
// span they were in demand is Busy / (Capacity × (Last − First)).
type CapacityStats struct {
	Served   int // requests a worker handled to the end
	Rejected int // requests answered 429 because the queue was full
	// PeakBusy is the most workers busy at once, PeakQueued the longest
	// queue, PeakInFlight the most requests at the server at once (busy
	// and queued).
	PeakBusy, PeakQueued, PeakInFlight int
	// Busy is the workers' busy time, summed over the workers.
	Busy time.Duration
	// First is when the first worker became busy, Last when the last
	// request was served.
	First, Last time.Time
}

// gate is the worker pool with its FIFO backlog.
type gate struct {
	mu       sync.Mutex
	capacity int // as of the latest request, so SetFaults resizes the pool
	busy     int
	queue    []*waiter
	stats    CapacityStats
}

type waiter struct {
	ready     chan struct{} // closed when a worker is handed over
	grantedAt time.Time     // set under gate.mu before ready is closed
	granted   bool
}

// admit applies the capacity model to a request. It returns a release
// function to call when the request has been handled, or handled = true
// when the request was answered (429, or nothing for a client that left
// while waiting).
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (release func(), handled bool) {
	f := s.CurrentFaults()
	if f.Capacity <= 0 || !(fault.Match{Method: f.Method, PathPrefix: f.PathPrefix, Func: f.Match}).Matches(r.Method, "", r.URL.Path) {
		return func() {}, false
	}
	g := &s.gate
	g.mu.Lock()
	g.capacity = f.Capacity
	if g.busy < g.capacity && len(g.queue) == 0 {
		g.busy++
		at := time.Now()
		g.track(at)
		g.mu.Unlock()
		return func() { g.release(at, true) }, false
	}
	if f.QueueLimit >= 0 && len(g.queue) >= f.QueueLimit {
		g.stats.Rejected++
		g.mu.Unlock()
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fault.RetryAfter(f.RetryAfter))
		}
		writeError(w, http.StatusTooManyRequests)
		return nil, true
	}
	wt := &waiter{ready: make(chan struct{})}
	g.queue = append(g.queue, wt)
	g.track(time.Time{})
	g.mu.Unlock()
	select {
	case <-wt.ready:
		return func() { g.release(wt.grantedAt, true) }, false
	case <-r.Context().Done():
	case <-s.closing:
	}
	g.mu.Lock()
	if wt.granted {
		g.mu.Unlock()
		g.release(wt.grantedAt, false) // handed a worker just as it left: give it back
	} else {
		for i, q := range g.queue {
			if q == wt {
				g.queue = append(g.queue[:i], g.queue[i+1:]...)
				break
			}
		}
		g.mu.Unlock()
	}
	s.abandon(w, r)
	return nil, true
}

// track updates the peaks; a non-zero at is a worker becoming busy. g.mu
// must be held.
func (g *gate) track(at time.Time) {
	if !at.IsZero() && g.stats.First.IsZero() {
		g.stats.First = at
	}
	g.stats.PeakBusy = max(g.stats.PeakBusy, g.busy)
	g.stats.PeakQueued = max(g.stats.PeakQueued, len(g.queue))
	g.stats.PeakInFlight = max(g.stats.PeakInFlight, g.busy+len(g.queue))
}

// release frees the worker busy since at (after serving a request, unless
// its client left before the worker got to it) and hands it to the longest
// waiting request.
func (g *gate) release(at time.Time, served bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.stats.Busy += now.Sub(at)
	if served {
		g.stats.Served++
		g.stats.Last = now
	}
	g.busy--
	for g.busy < g.capacity && len(g.queue) > 0 {
		wt := g.queue[0]
		g.queue = g.queue[1:]
		wt.granted, wt.grantedAt = true, now
		g.busy++
		g.track(now)
		close(wt.ready)
	}
}

// CapacityStats returns the capacity model's counters.
func (s *Server) CapacityStats() CapacityStats {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.stats
}

func (s *Server) resetCapacityStats() {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	s.gate.stats = CapacityStats{}
}
