package auth

import (
	"sync"
	"time"
)

// ThrottleOptions tune login throttling; zero fields take the defaults.
type ThrottleOptions struct {
	// FreeAttempts is how many failures one username may have from one
	// source IP before each further failure locks that pair out (default 5).
	FreeAttempts int
	// FreeAttemptsPerUser is the same across all source IPs (default 20):
	// it bounds guessing spread over many addresses, and matters because
	// behind CloudFront many users share few edge addresses.
	FreeAttemptsPerUser int
	// BaseLockout is the first lockout; each further failure doubles it
	// (default 1s), up to MaxLockout (default 15m).
	BaseLockout time.Duration
	MaxLockout  time.Duration
	// MaxUserLockout caps the lockout of the per-username key (default
	// 30s). The username is public, so a long per-user lockout would let
	// anyone lock the admin out from many addresses; a short one still
	// bounds guessing spread over many addresses to a few per minute.
	MaxUserLockout time.Duration
	// Forget drops a key's failures this long after its last failure once
	// its lockout is over (default 1h).
	Forget time.Duration
	// MaxEntries bounds the memory used (default 10,000 keys).
	MaxEntries int
}

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	if o.FreeAttempts <= 0 {
		o.FreeAttempts = 5
	}
	if o.FreeAttemptsPerUser <= 0 {
		o.FreeAttemptsPerUser = 20
	}
	if o.BaseLockout <= 0 {
		o.BaseLockout = time.Second
	}
	if o.MaxLockout <= 0 {
		o.MaxLockout = 15 * time.Minute
	}
	if o.MaxUserLockout <= 0 {
		o.MaxUserLockout = 30 * time.Second
	}
	if o.Forget <= 0 {
		o.Forget = time.Hour
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	return o
}

// throttle counts failed logins per key with exponential lockout.
//
// It lives in memory: every Lambda instance (and every process) throttles
// on its own, so an attacker spread over N warm instances gets N times the
// attempts. That still bounds guessing to a handful per lockout period per
// instance, each costing a bcrypt on our side; a shared counter in DynamoDB
// would add a write to every login for little more protection.
type throttle struct {
	opts ThrottleOptions

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

func newThrottle(o ThrottleOptions) *throttle {
	return &throttle{opts: o.withDefaults(), entries: map[string]*failures{}}
}

// wait returns how long the longest lockout among keys still lasts, 0 when
// none is locked.
func (t *throttle) wait(now time.Time, keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if f, ok := t.entries[k]; ok && f.lockedUntil.After(now) {
			d = max(d, f.lockedUntil.Sub(now))
		}
	}
	return d
}

// fail records a failure of key, allowed free failures before lockouts.
func (t *throttle) fail(now time.Time, key string, free int, maxLockout time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.entries[key]
	if ok && f.lockedUntil.Before(now) && now.Sub(f.last) > t.opts.Forget {
		f.count = 0
	}
	if !ok {
		if len(t.entries) >= t.opts.MaxEntries {
			t.evict(now)
		}
		f = &failures{}
		t.entries[key] = f
	}
	f.count++
	f.last = now
	if over := f.count - free; over > 0 {
		d := t.opts.BaseLockout
		for i := 1; i < over && d < maxLockout; i++ {
			d *= 2
		}
		f.lockedUntil = now.Add(min(d, maxLockout))
	}
}

// reset forgets the failures of keys (after a successful login).
func (t *throttle) reset(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.entries, k)
	}
}

// evict makes room: first every forgotten key, then, if the map is still
// full, the unlocked key with the oldest failure, and only when every key
// is locked the one whose lockout ends first. Preferring unlocked keys
// means a flood of new usernames cannot cheaply flush an active lockout.
// t.mu must be held.
func (t *throttle) evict(now time.Time) {
	for k, f := range t.entries {
		if f.lockedUntil.Before(now) && now.Sub(f.last) > t.opts.Forget {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.opts.MaxEntries {
		return
	}
	// better reports whether f is a better victim than v.
	better := func(f, v *failures) bool {
		fu, vu := !f.lockedUntil.After(now), !v.lockedUntil.After(now)
		if fu != vu {
			return fu // unlocked before locked
		}
		if fu {
			return f.last.Before(v.last) // both unlocked: oldest failure
		}
		return f.lockedUntil.Before(v.lockedUntil) // both locked: ends first
	}
	var victim string
	var vf *failures
	for k, f := range t.entries {
		if vf == nil || better(f, vf) {
			victim, vf = k, f
		}
	}
	delete(t.entries, victim)
}

// size returns the number of tracked keys (tests).
func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
