package limiter

import (
	"context"
	"sync"
	"time"
)

// Limiter is a Core made safe for concurrent use: Acquire blocks until the
// limit admits one more, Release gives the admission back, and Observe
// feeds the core with the attempts' samples (an admission may make several
// attempts, or none).
type Limiter struct {
	mu       sync.Mutex
	core     *Core
	now      func() time.Time
	inflight int
	// changed is closed (and replaced) whenever an admission may have
	// become possible: a release, a new limit, a new pause.
	changed chan struct{}
}

// New returns a Limiter that reads time from now (time.Now when nil). The
// clock must be the one the samples' times come from.
func New(cfg Config, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{core: NewCore(cfg, now()), now: now, changed: make(chan struct{})}
}

// Acquire waits until the limit admits one more, or ctx ends (its cause is
// returned). Every successful Acquire must be followed by one Release.
func (l *Limiter) Acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		ok, wait := l.core.Admit(l.now(), l.inflight)
		if ok {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		if err := l.await(ctx, changed, wait); err != nil {
			return err
		}
	}
}

// await blocks until changed is closed, wait has passed (when > 0) or ctx
// ends.
func (l *Limiter) await(ctx context.Context, changed <-chan struct{}, wait time.Duration) error {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-changed:
	case <-timeout:
	}
	return nil
}

// Release gives back one admission.
func (l *Limiter) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight <= 0 {
		panic("limiter: Release without Acquire")
	}
	l.inflight--
	l.wake()
}

// Observe takes one attempt's sample into account (InFlight is filled in)
// and returns the limit before and after it.
func (l *Limiter) Observe(s Sample) (from, to int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.InFlight = l.inflight
	paused := l.core.PausedUntil()
	from, to = l.core.Update(s)
	if to > from || !l.core.PausedUntil().Equal(paused) {
		// A longer pause must be seen too: a waiter sleeping until the old
		// end of the pause would otherwise wake up too early.
		l.wake()
	}
	return from, to
}

// wake releases every waiting Acquire to look again; l.mu must be held.
func (l *Limiter) wake() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// InFlight is the number of admissions held.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}

// Limit is the current limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core.Limit()
}

// Report returns the course so far.
func (l *Limiter) Report() Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core.Report()
}
