// Package limiter provides an adaptive concurrency limit for calls to a
// server whose capacity is unknown: it learns how many requests may be in
// flight at once from the latency and the refusals of the answers, in the
// spirit of Netflix's concurrency-limits (its gradient limit, with AIMD's
// reaction to drops and TCP's slow start).
//
// # Algorithm
//
// The limit L is a real number; admissions use ⌊L⌋, never below 1 nor
// above Config.Max. Every attempt is a sample (start, latency, outcome).
// The limit moves about once per round trip: a window closes when half
// the limit's worth of attempts sent after it opened have come back, so
// each decision sees answers to requests sent under the current limit.
//
//   - The floor is the lowest latency seen: the server's service time with
//     no queue in front of it.
//   - At the end of a window, the gradient g = 1 while m, the window's
//     median latency, stays within Tolerance (1.5) of the floor, and
//     max(0.5, floor/m) beyond: a dead band for the jitter of a server
//     without a queue, then the share of the latency that is service
//     rather than queue. A standing queue delays most requests of the
//     window; one slow request (an expensive one) does not move m.
//   - Slow start: from L = 1, L doubles every window while g = 1, so a
//     large server is reached in a few windows (1 → 64 in six). The
//     first window with g < 1 or a drop ends it for good.
//   - Then L ← L·g + √L per window: L grows by √L while there is no queue,
//     and once requests queue at the server, latency rises in proportion
//     to the queue and g < 1 pulls L back towards what the server works
//     on at once. The fixed point is a queue of about √L requests: every
//     worker stays busy, other users of the server wait little. Latency
//     that doubles (g = 0.5) settles L at 4; g ≥ 0.5 bounds one window's
//     cut.
//   - A drop (429, 502/503/504, a timeout, a refused connection) halves L
//     at once (AIMD's multiplicative decrease), but only once per round
//     trip: drops of attempts sent before the last cut are what that cut
//     already answered, so a burst of 429s halves once.
//   - A Retry-After pauses every new admission until it has passed,
//     whatever the limit (the server asked for it; it is always honoured).
//   - L only grows while at least half of it was in use during the window:
//     a limit never tested against the server must not creep up to Max
//     during a lull.
//
// Why a gradient and not plain AIMD: AIMD only learns from drops, so it
// must overload the server (429s, each followed by a Retry-After pause of
// whole seconds) again and again to find the limit, and a server with a
// deep queue but no rate limiter never drops at all — AIMD would fill its
// queue up to Max. The gradient reads the queue from the latency before
// anything is refused, and keeps AIMD's halving for the refusals that
// still happen.
//
// Why the floor never rises: a run lasts minutes, and a floor that ages
// out under a standing queue (the gradient keeps √L queued) would rise to
// the queued latency and let L grow without bound. A server that really
// became slower for the rest of the run makes g < 1 and L shrink — the
// conservative direction.
//
// The decision core, Core, is pure and deterministic: it takes sample times
// from its caller and starts no goroutine, so it is table-tested on
// synthetic sequences. Limiter wraps it for concurrent use.
package limiter

import (
	"math"
	"slices"
	"time"
)

// Outcome classifies an attempt for the limiter.
type Outcome int

// Outcomes of an attempt.
const (
	// Answered: the server answered (2xx, 4xx, a 500 bug); its latency
	// tells how long requests queue.
	Answered Outcome = iota
	// Dropped: the server refused or failed for load (429, 502, 503, 504,
	// a timeout, a refused connection).
	Dropped
	// Ignored: no information about the server (the caller gave up).
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case Dropped:
		return "dropped"
	}
	return "ignored"
}

// Sample is one attempt's result.
type Sample struct {
	Start   time.Time     // when the attempt was sent
	Latency time.Duration // until its answer was read
	Outcome Outcome
	// RetryAfter is the server's Retry-After, 0 when none.
	RetryAfter time.Duration
	// InFlight is how many admissions were held when the sample was taken
	// (Limiter fills it in).
	InFlight int
}

func (s Sample) end() time.Time { return s.Start.Add(s.Latency) }

// Config tunes a limiter; zero fields take the defaults in parentheses.
type Config struct {
	// Max bounds the limit (32).
	Max int
	// Initial is the first limit (1). The first answers set the floor, so
	// they must not queue: a start above a small server's capacity would
	// take the queued latency for the floor and settle far above it. Slow
	// start still reaches 64 in six windows.
	Initial int
	// Fixed pins the limit at Max: samples still count and Retry-After is
	// still honoured, but the limit never moves.
	Fixed bool
	// Tolerance is how far above the floor latency may be before the limit
	// stops growing (1.5): real servers' latency varies from request to
	// request without any queue.
	Tolerance float64
	// Backoff multiplies the limit on a drop (0.5).
	Backoff float64
	// HistoryPoints bounds the recorded history (100).
	HistoryPoints int
}

// Defaults of Config.
const (
	DefaultMax           = 32
	DefaultInitial       = 1
	DefaultTolerance     = 1.5
	DefaultBackoff       = 0.5
	DefaultHistoryPoints = 100
	// minGradient bounds one window's cut from latency.
	minGradient = 0.5
)

func (c Config) withDefaults() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.Initial <= 0 {
		c.Initial = min(DefaultInitial, c.Max)
	}
	c.Initial = min(c.Initial, c.Max)
	if c.Fixed {
		c.Initial = c.Max
	}
	if c.Tolerance < 1 {
		c.Tolerance = DefaultTolerance
	}
	if c.Backoff <= 0 || c.Backoff >= 1 {
		c.Backoff = DefaultBackoff
	}
	if c.HistoryPoints < 2 {
		c.HistoryPoints = DefaultHistoryPoints
	}
	return c
}

// Point is the limit from a moment on, At counted from the core's start.
type Point struct {
	At    time.Duration
	Limit int
}

// Report summarises a limiter's course.
type Report struct {
	Fixed bool
	Max   int // the configured bound
	// Points is the limit over time, at most Config.HistoryPoints: each
	// change while there is room, then every other point is dropped when it
	// fills up, so a long run keeps its shape at a coarser grain. The first
	// and the last point are always kept.
	Points []Point
	Low    int // the lowest limit after the start
	Peak   int // the highest limit
	Final  int
	// Samples and Drops count the samples that were answered or dropped.
	Samples, Drops int
	// Floor is the lowest latency seen.
	Floor time.Duration
}

// Core is the limiter's decision core. It is not safe for concurrent use.
type Core struct {
	cfg         Config
	start       time.Time
	limit       float64
	floor       time.Duration
	cutAt       time.Time // the last drop cut; older attempts' drops do not cut again
	pausedUntil time.Time
	slowStart   bool
	// The current window: opened at winStart, the latencies of the
	// attempts sent since, and the most admissions held while it ran.
	winStart    time.Time
	winLat      []time.Duration
	winInFlight int
	points      []Point
	low, peak   int
	samples     int
	drops       int
}

// NewCore returns a core at cfg's initial limit; start is the time the
// history is counted from.
func NewCore(cfg Config, start time.Time) *Core {
	cfg = cfg.withDefaults()
	c := &Core{cfg: cfg, start: start, limit: float64(cfg.Initial), slowStart: !cfg.Fixed}
	c.low, c.peak = cfg.Initial, cfg.Initial
	c.points = []Point{{At: 0, Limit: cfg.Initial}}
	return c
}

// Limit is the current limit (≥ 1).
func (c *Core) Limit() int { return max(1, int(c.limit)) }

// Admit reports whether a new admission may start at now while inflight
// are held, and otherwise, when a Retry-After pause holds it back, how long
// until the pause ends (0: wait for a release or a higher limit).
func (c *Core) Admit(now time.Time, inflight int) (ok bool, wait time.Duration) {
	if now.Before(c.pausedUntil) {
		return false, c.pausedUntil.Sub(now)
	}
	return inflight < c.Limit(), 0
}

// PausedUntil is the end of the current Retry-After pause (zero if none).
func (c *Core) PausedUntil() time.Time { return c.pausedUntil }

// Update takes one sample into account and returns the limit before and
// after it.
func (c *Core) Update(s Sample) (from, to int) {
	from = c.Limit()
	end := s.end()
	if s.RetryAfter > 0 {
		if until := end.Add(s.RetryAfter); until.After(c.pausedUntil) {
			c.pausedUntil = until
		}
	}
	switch s.Outcome {
	case Dropped:
		c.drops++
		if !c.cfg.Fixed && !s.Start.Before(c.cutAt) {
			c.limit = max(1, c.limit*c.cfg.Backoff)
			c.cutAt, c.slowStart = end, false
			c.openWindow(end)
		}
	case Answered:
		if s.Latency <= 0 {
			break // no measurement
		}
		c.samples++
		if c.floor == 0 || s.Latency < c.floor {
			c.floor = s.Latency
		}
		if c.cfg.Fixed {
			break
		}
		c.winInFlight = max(c.winInFlight, s.InFlight)
		if s.Start.Before(c.winStart) {
			break // sent under an older limit: says nothing about this one
		}
		c.winLat = append(c.winLat, s.Latency)
		if len(c.winLat) < (c.Limit()+1)/2 {
			break
		}
		c.adjust()
		c.openWindow(end)
	}
	to = c.Limit()
	if to != from {
		c.record(end, to)
	}
	return from, to
}

// adjust moves the limit at the end of a window.
func (c *Core) adjust() {
	slices.Sort(c.winLat)
	m := c.winLat[len(c.winLat)/2]
	g := 1.0
	if float64(m) > c.cfg.Tolerance*float64(c.floor) {
		g = max(minGradient, float64(c.floor)/float64(m))
	}
	used := float64(c.winInFlight) >= c.limit/2
	var next float64
	switch {
	case c.slowStart && g == 1:
		next = 2 * c.limit
	default:
		c.slowStart = false
		next = c.limit*g + math.Sqrt(c.limit)
	}
	if next > c.limit && !used {
		return // not using the limit: no evidence that more would work
	}
	c.limit = min(float64(c.cfg.Max), max(1, next))
}

// openWindow starts a new window at t.
func (c *Core) openWindow(t time.Time) {
	c.winStart, c.winLat, c.winInFlight = t, c.winLat[:0], 0
}

// record adds a point to the bounded history.
func (c *Core) record(at time.Time, limit int) {
	c.low, c.peak = min(c.low, limit), max(c.peak, limit)
	off := max(at.Sub(c.start), 0)
	if last := c.points[len(c.points)-1]; off < last.At {
		off = last.At // samples finish out of order; keep the history ordered
	}
	if len(c.points) >= c.cfg.HistoryPoints {
		// Thin out: keep every other point (the first included) and make
		// room for the new last one.
		kept := c.points[:0]
		for i := 0; i < len(c.points); i += 2 {
			kept = append(kept, c.points[i])
		}
		c.points = kept
	}
	c.points = append(c.points, Point{At: off, Limit: limit})
}

// Report returns the course so far.
func (c *Core) Report() Report {
	return Report{Fixed: c.cfg.Fixed, Max: c.cfg.Max, Points: append([]Point(nil), c.points...),
		Low: c.low, Peak: c.peak, Final: c.Limit(), Samples: c.samples, Drops: c.drops, Floor: c.floor}
}
