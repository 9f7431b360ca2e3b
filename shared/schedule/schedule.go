// Package schedule is the scheduler function's logic: on every EventBridge
// tick (every 5 minutes) it queues an incremental run for each enabled
// profile whose interval is due, and a full run (the one that notices
// Zammad's silent hard deletes) once a day.
//
// "Due" is kept in DynamoDB as leases, not computed from the last run: the
// tick takes the lease "sched-inc-<profile>" for the profile's interval and
// "sched-full-<profile>" for a day. Taking it succeeds only once the
// previous one has expired, so the lease's expiry is the schedule. Every tick
// uses a fresh owner, so a tick delivered twice (EventBridge is at least
// once) or two overlapping ticks queue a run only once. If queueing fails,
// the lease is released so that the next tick (or Lambda's retry of this
// one, as Handle then fails) tries again.
//
// The lease is taken for the interval minus a grace (1 minute, at most half
// the interval): ticks arrive a little early or late, and without the grace a
// tick a few seconds before the expiry would push the run back by a whole
// tick. With a 5-minute tick a 15-minute interval therefore runs every 15
// minutes, give or take the tick's jitter.
//
// Disabled profiles get nothing and their leases are left alone, so a
// re-enabled profile is due at the next tick.
//
// Every tick also publishes how stale each enabled profile is
// (metrics.StalenessRatio: the time since its latest successful run, or
// since it was last changed if that is later, over its interval) and how
// many conflicts it has open (metrics.OpenConflicts, as counted after its
// latest run), from the profiles' health items; the staleness alarm fires
// above 2, the conflicts alarm above its threshold. Publishing both every
// tick, for every enabled profile, gives the alarms' series across
// profiles a value every 5 minutes, however long the profiles' intervals.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/metrics"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Defaults of Deps.
const (
	DefaultGrace     = time.Minute
	DefaultFullEvery = 24 * time.Hour
)

// Store is the part of the store the scheduler uses.
type Store interface {
	ListProfiles(ctx context.Context) ([]tb.Profile, error)
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	Health(ctx context.Context, profileIDs []string) (map[string]store.Health, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	queue.Runs
}

var _ Store = (*store.Store)(nil)

// Deps are the scheduler's collaborators and settings.
type Deps struct {
	Store  Store
	Queue  queue.Sink
	Logger *slog.Logger // nil discards
	// Now and NewID default to time.Now and ident.New. The store's lease
	// arithmetic uses the store's own clock (store.WithClock).
	Now   func() time.Time
	NewID func(time.Time) string
	// Grace is subtracted from every lease (default 1 minute, at most half
	// the period).
	Grace time.Duration
	// FullEvery is the period of full runs (default 24 h).
	FullEvery time.Duration
	// Metrics receives each tick's staleness metrics as EMF lines
	// (standard output in Lambda; nil: none).
	Metrics io.Writer
	// MetricsNamespace is the metrics' CloudWatch namespace (empty:
	// metrics.Namespace).
	MetricsNamespace string
}

// Scheduler queues due runs.
type Scheduler struct {
	d       Deps
	metrics *metrics.Sink
}

// New returns a Scheduler.
func New(d Deps) *Scheduler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = ident.New
	}
	if d.Grace <= 0 {
		d.Grace = DefaultGrace
	}
	if d.FullEvery <= 0 {
		d.FullEvery = DefaultFullEvery
	}
	return &Scheduler{d: d, metrics: metrics.NewSink(d.Metrics, d.MetricsNamespace)}
}

// IncrementalLease names the lease whose expiry is a profile's next
// incremental run.
func IncrementalLease(profileID string) string { return "sched-inc-" + profileID }

// FullLease names the lease of a profile's daily full run.
func FullLease(profileID string) string { return "sched-full-" + profileID }

// Handle queues the runs that are due. It fails (so that Lambda retries the
// event) when profiles cannot be listed or a due run could not be queued;
// runs queued before the failure are not queued again by the retry.
func (s *Scheduler) Handle(ctx context.Context, ev events.EventBridgeEvent) error {
	now := s.d.Now()
	owner := "tick-" + s.d.NewID(now)
	log := s.d.Logger.With(slog.String("event_id", ev.ID), slog.String("tick", owner))
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With(slog.String("request_id", lc.AwsRequestID))
	}
	profiles, err := s.d.Store.ListProfiles(ctx)
	if err != nil {
		log.Error("list profiles", slog.String("err", err.Error()))
		return fmt.Errorf("schedule: list profiles: %w", err)
	}
	var errs []error
	queued, disabled := 0, 0
	for _, p := range profiles {
		if !p.Enabled {
			disabled++
			continue
		}
		p = p.WithDefaults()
		interval := time.Duration(p.IntervalMinutes) * time.Minute
		// The full run first: when both are due, it is the one that must
		// not be skipped, and the incremental run queued after it simply
		// waits for the profile's lease.
		for _, k := range []struct {
			lease  string
			period time.Duration
			mode   tb.RunMode
		}{
			{FullLease(p.ID), s.d.FullEvery, tb.ModeFull},
			{IncrementalLease(p.ID), interval, tb.ModeIncremental},
		} {
			ok, err := s.queueIfDue(ctx, log, p.ID, k.lease, owner, k.period, k.mode)
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				queued++
			}
		}
	}
	log.Info("schedule tick", slog.Int("profiles", len(profiles)), slog.Int("disabled", disabled), slog.Int("queued", queued),
		slog.Int("errors", len(errs)))
	s.publishStaleness(ctx, log, profiles, now)
	return errors.Join(errs...)
}

// publishStaleness writes each enabled profile's StalenessRatio and, once
// a run has counted them, its OpenConflicts, from the profiles' health
// items (one BatchGetItem per 100 profiles, whatever the number of
// conflicts). Without enabled profiles it writes a StalenessRatio of 0
// without dimensions: the staleness alarm treats a tick without any
// line as a broken scheduler. A failure to read the health items is
// logged, not returned: it must not make Lambda retry a tick whose runs
// are queued.
func (s *Scheduler) publishStaleness(ctx context.Context, log *slog.Logger, profiles []tb.Profile, now time.Time) {
	if s.metrics == nil {
		return
	}
	var ids []string
	for _, p := range profiles {
		if p.Enabled {
			ids = append(ids, p.ID)
		}
	}
	var docs []*metrics.Doc
	if len(ids) == 0 {
		doc := metrics.New()
		doc.Add(metrics.StalenessRatio, metrics.None, 0)
		docs = append(docs, doc)
	} else {
		health, err := s.d.Store.Health(ctx, ids)
		if err != nil {
			log.Warn("staleness not published", slog.String("err", err.Error()))
			return
		}
		for _, p := range profiles {
			if !p.Enabled {
				continue
			}
			h := health[p.ID]
			doc := metrics.New(metrics.DimProfile, p.ID)
			doc.Add(metrics.StalenessRatio, metrics.None, Staleness(p.WithDefaults(), h.LastSuccess, now))
			if !h.ConflictsAt.IsZero() {
				doc.Add(metrics.OpenConflicts, metrics.Count, float64(h.OpenConflicts))
			}
			docs = append(docs, doc)
		}
	}
	if err := s.metrics.Write(now, docs...); err != nil {
		log.Warn("staleness not published", slog.String("err", err.Error()))
	}
}

// Staleness is how many of its intervals a profile has gone without a
// successful run: since lastSuccess, or since the profile was last changed
// (created, enabled, edited) when that is later or it never succeeded.
func Staleness(p tb.Profile, lastSuccess, now time.Time) float64 {
	since := lastSuccess
	if p.UpdatedAt.After(since) {
		since = p.UpdatedAt
	}
	interval := time.Duration(p.IntervalMinutes) * time.Minute
	if since.IsZero() || interval <= 0 || now.Before(since) {
		return 0
	}
	return math.Round(float64(now.Sub(since))/float64(interval)*100) / 100
}

// queueIfDue takes the lease and, when that succeeds, queues the run.
func (s *Scheduler) queueIfDue(ctx context.Context, log *slog.Logger, pid, lease, owner string, period time.Duration, mode tb.RunMode) (bool, error) {
	log = log.With(slog.String("profile_id", pid), slog.String("mode", string(mode)))
	ttl := period - min(s.d.Grace, period/2)
	due, err := s.d.Store.AcquireLease(ctx, lease, owner, ttl)
	if err != nil {
		log.Error("schedule lease", slog.String("err", err.Error()))
		return false, fmt.Errorf("schedule: profile %s %s lease: %w", pid, mode, err)
	}
	if !due {
		return false, nil
	}
	run, err := queue.Submit(ctx, s.d.Store, s.d.Queue, queue.Message{ProfileID: pid, Mode: mode, Trigger: "schedule", Actor: "scheduler"},
		s.d.Now(), s.d.NewID)
	if err != nil {
		// Give the slot back so the next tick queues the run.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := s.d.Store.ReleaseLease(rctx, lease, owner); rerr != nil {
			log.Warn("release schedule lease", slog.String("err", rerr.Error()))
		}
		log.Error("queue scheduled run", slog.String("run_id", run.ID), slog.String("err", err.Error()))
		return false, fmt.Errorf("schedule: profile %s %s run: %w", pid, mode, err)
	}
	log.Info("scheduled run queued", slog.String("run_id", run.ID), slog.Duration("next_in", ttl))
	return true, nil
}
