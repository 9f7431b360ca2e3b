package limiter

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Limiter is a Core made safe for concurrent use: Acquire blocks until the
// limit admits one more, Release gives the admission back, and Observe
// feeds the core with the attempts' samples (an admission may make several
// attempts, or none). Waiters are admitted first come, first served, each
// handed its admission directly: a release wakes the one waiter it admits,
// not every waiter to race for it.
type Limiter struct {
	mu       sync.Mutex
	core     *Core
	now      func() time.Time
	inflight int
	// waiters are the waiting Acquires' channels, oldest first; one is
	// closed when its Acquire is admitted.
	waiters list.List
	// timer admits waiters when a Retry-After pause ends.
	timer *time.Timer
}

// New returns a Limiter that reads time from now (time.Now when nil). The
// clock must be the one the samples' times come from.
func New(cfg Config, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{core: NewCore(cfg, now()), now: now}
}

// Acquire waits until the limit admits one more, or ctx ends (its cause is
// returned). Every successful Acquire must be followed by one Release.
func (l *Limiter) Acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.waiters.Len() == 0 {
		if ok, _ := l.core.Admit(l.now(), l.inflight); ok {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
	}
	ready := make(chan struct{})
	e := l.waiters.PushBack(ready)
	l.admit()
	l.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-ready: // admitted meanwhile: give it to the next
		l.inflight--
		l.admit()
	default:
		l.waiters.Remove(e)
	}
	return context.Cause(ctx)
}

// admit hands admissions to the waiters, oldest first, while the limit
// allows; during a Retry-After pause it sets the timer that tries again
// when the pause ends. l.mu must be held.
func (l *Limiter) admit() {
	for l.waiters.Len() > 0 {
		ok, wait := l.core.Admit(l.now(), l.inflight)
		if !ok {
			if wait > 0 && l.timer == nil {
				l.timer = time.AfterFunc(wait, func() {
					l.mu.Lock()
					defer l.mu.Unlock()
					l.timer = nil
					l.admit() // a pause made longer meanwhile sets the timer again
				})
			}
			return
		}
		l.inflight++
		close(l.waiters.Remove(l.waiters.Front()).(chan struct{}))
	}
}

// Release gives back one admission.
func (l *Limiter) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight <= 0 {
		panic("limiter: Release without Acquire")
	}
	l.inflight--
	l.admit()
}

// Observe takes one attempt's sample into account (InFlight is filled in)
// and returns the limit before and after it.
func (l *Limiter) Observe(s Sample) (from, to int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.InFlight = l.inflight
	from, to = l.core.Update(s)
	if to > from {
		l.admit()
	}
	return from, to
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
