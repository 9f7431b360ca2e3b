package engine

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/limiter"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
)

// paced runs fn for every item as forEach does, with the run's Kimai
// requests admitted at the profile's pace: a fixed pace keeps
// Profile.Concurrency in flight; an adaptive one learns from every Kimai
// attempt (latency, 429s, overload 5xx, timeouts) how many Kimai takes, up
// to Profile.Concurrency. Either way a Retry-After holds new requests back
// until it has passed. The limiter is the run's gate while fn runs (gate.go)
// and lives as long as the run, so that the chunks of a backfill go on at
// the pace the earlier ones found. The course of the limit goes into the
// run record.
func (r *runner) paced(ctx context.Context, items []int, fn func(context.Context, int) error) error {
	if len(items) == 0 {
		return context.Cause(ctx)
	}
	pace := r.pace()
	lim := r.limiter(pace)
	observe := func(a upstream.Attempt) {
		s, ok := kimaiSample(a)
		if !ok {
			return
		}
		if from, to := lim.Observe(s); from != to {
			r.log.LogAttrs(ctx, slog.LevelDebug, "kimai write concurrency", slog.Int("from", from), slog.Int("to", to),
				slog.String("outcome", s.Outcome.String()), slog.Duration("latency", s.Latency))
		}
	}
	prev := r.gate.use(limiterGate{lim})
	err := forEach(upstream.WithObserver(ctx, observe), r.profile.Concurrency*workersPerSlot, items, fn)
	r.gate.use(prev)
	rep := lim.Report()
	r.run.Concurrency = concurrencyTrace(pace, rep)
	r.log.LogAttrs(ctx, slog.LevelInfo, "kimai write concurrency summary", slog.String("pace", string(pace)),
		slog.Int("bound", rep.Max), slog.Int("min", rep.Low), slog.Int("max", rep.Peak), slog.Int("final", rep.Final),
		slog.Int("attempts", rep.Samples+rep.Drops), slog.Int("drops", rep.Drops), slog.Duration("floor", rep.Floor))
	return err
}

func (r *runner) pace() tb.Pace {
	if r.profile.Pace == tb.PaceFixed {
		return tb.PaceFixed
	}
	return tb.PaceAdaptive
}

// limiter is the run's write limiter, made at its first write.
func (r *runner) limiter(pace tb.Pace) *limiter.Limiter {
	if r.lim == nil {
		// Real time, not the engine's clock: the samples are real
		// latencies and a Retry-After is a real wait.
		r.lim = limiter.New(limiter.Config{Max: r.profile.Concurrency, Fixed: pace == tb.PaceFixed}, time.Now)
	}
	return r.lim
}

// limiterGate admits Kimai requests through the pace's limiter.
type limiterGate struct{ l *limiter.Limiter }

func (g limiterGate) acquire(ctx context.Context) (func(), error) {
	if err := g.l.Acquire(ctx); err != nil {
		return nil, err
	}
	return g.l.Release, nil
}

// kimaiSample turns an attempt into a limiter sample; false for attempts
// that say nothing about Kimai's load (Zammad's, or cut off by the run).
func kimaiSample(a upstream.Attempt) (limiter.Sample, bool) {
	if a.Service != "kimai" || a.Canceled {
		return limiter.Sample{}, false
	}
	s := limiter.Sample{Start: a.Start, Latency: a.Latency, Outcome: limiter.Answered, RetryAfter: a.RetryAfter}
	switch {
	case a.Kind == apperr.RateLimited, a.Kind == apperr.Timeout, a.Kind == apperr.Connection,
		a.Status == http.StatusBadGateway, a.Status == http.StatusServiceUnavailable, a.Status == http.StatusGatewayTimeout:
		s.Outcome = limiter.Dropped
	}
	if a.Kind == apperr.RateLimited && s.RetryAfter <= 0 {
		s.RetryAfter = rateLimitPause
	}
	return s, true
}

// rateLimitPause is how long a 429 without Retry-After (nginx limit_req, a
// WAF in front of Kimai) holds new requests back: such limits count per
// second, and sending on at once would only collect more 429s.
const rateLimitPause = time.Second

func concurrencyTrace(pace tb.Pace, rep limiter.Report) *tb.ConcurrencyTrace {
	t := &tb.ConcurrencyTrace{Pace: pace, Bound: rep.Max, Min: rep.Low, Max: rep.Peak, Final: rep.Final,
		Attempts: rep.Samples + rep.Drops, Drops: rep.Drops, Points: make([]tb.ConcurrencyPoint, len(rep.Points))}
	for i, p := range rep.Points {
		t.Points[i] = tb.ConcurrencyPoint{AtMS: p.At.Milliseconds(), Limit: p.Limit}
	}
	return t
}
