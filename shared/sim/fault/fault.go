// Package fault is the one fault-injection model both simulators use: which
// requests a fault spec applies to, and which fault a matching request gets.
//
// A matching request gets at most one kind of fault. One uniform draw in
// [0, 1) from the simulator's seeded generator falls into the cumulative
// ranges of the kinds' rates, taken in the order Hang, RateLimit, Error,
// then the upstream's own kinds (Zammad: Malformed; Kimai: FailAfterWrite,
// SlowCommit for timesheet writes). A rate is therefore exactly the share
// of matching requests that get that fault, and rates should sum to at most
// 1. Latency, when a spec sets it, applies to every matching request.
// Max, when set, bounds how many requests get a fault ({Error: 1, Max: 1}
// fails exactly the first one). The same seed and configuration give the
// same sequence of faults for the same sequence of requests.
//
// What a fault looks like on the wire stays with each simulator (Zammad's
// plain-text 429 from Rack::Attack, Kimai's JSON error bodies, PHP's slow
// commit); this package holds what they share.
package fault

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of fault.
type Kind int

// The kinds of faults. Malformed is Zammad's; FailAfterWrite and SlowCommit
// are Kimai's (timesheet writes only).
const (
	None           Kind = iota
	Hang                // no answer until the client or server goes away, or the hang limit passes
	RateLimit           // 429 with Retry-After
	Error               // 500, nothing done
	Malformed           // 200 with a body that is not JSON
	FailAfterWrite      // the write commits, then the answer is an error or nothing
	SlowCommit          // the write commits after a delay whether or not the client waits
)

// Rate is the share of matching requests that get a kind of fault.
type Rate struct {
	Kind Kind
	P    float64
}

// Match selects the requests a spec applies to; every condition that is set
// must hold ("" and nil match everything).
type Match struct {
	Method string
	// Path is a route pattern such as "/api/v1/tickets/{id}" or a concrete
	// path such as "/api/v1/tickets/7".
	Path       string
	PathPrefix string
	// Func is called with the method and the concrete path.
	Func func(method, path string) bool
}

// Matches reports whether a request (method, its route pattern without the
// method, its concrete path) is selected.
func (m Match) Matches(method, pattern, path string) bool {
	switch {
	case m.Method != "" && !strings.EqualFold(m.Method, method):
		return false
	case m.Path != "" && m.Path != pattern && m.Path != path:
		return false
	case m.PathPrefix != "" && !strings.HasPrefix(path, m.PathPrefix):
		return false
	case m.Func != nil && !m.Func(method, path):
		return false
	}
	return true
}

// Injector draws faults from a seeded generator and counts the ones it
// injected. It is safe for concurrent use.
type Injector struct {
	mu       sync.Mutex
	rng      *rand.Rand
	injected int
}

// NewInjector returns an injector seeded with seed.
func NewInjector(seed uint64) *Injector {
	in := &Injector{}
	in.Seed(seed)
	return in
}

// Seed restarts the generator.
func (in *Injector) Seed(seed uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Draw returns the fault of one matching request: the kind whose range, in
// the order given, holds one uniform draw; None when the draw falls past
// them or max > 0 faults were injected already. Without a positive rate it
// draws nothing, so requests under a spec without rates leave the sequence
// alone.
func (in *Injector) Draw(max int, rates ...Rate) Kind {
	in.mu.Lock()
	defer in.mu.Unlock()
	if max > 0 && in.injected >= max {
		return None
	}
	k := in.pick(rates)
	if k != None {
		in.injected++
	}
	return k
}

// Pick draws like Draw but neither bounds nor counts the fault: for a
// request that matched settings which were replaced before it was drawn,
// so that it never counts against the new settings' Max.
func (in *Injector) Pick(rates ...Rate) Kind {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pick(rates)
}

// pick draws once; in.mu must be held.
func (in *Injector) pick(rates []Rate) Kind {
	var sum float64
	for _, r := range rates {
		sum += max0(r.P)
	}
	if sum == 0 {
		return None
	}
	x := in.rng.Float64()
	for _, r := range rates {
		p := max0(r.P)
		if x < p {
			return r.Kind
		}
		x -= p
	}
	return None
}

func max0(p float64) float64 { return max(p, 0) }

// Injected returns how many faults were injected since the last Reset.
func (in *Injector) Injected() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.injected
}

// Reset sets the count of injected faults to zero (a new spec).
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.injected = 0
}

// Wait blocks for d and reports whether it passed: false when ctx (the
// client) or closing (the server) ended first.
func Wait(ctx context.Context, closing <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-closing:
	}
	return false
}

// RetryAfter is a Retry-After header value for d: whole seconds, rounded up.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(int64((max(d, 0)+time.Second-1)/time.Second), 10)
}
