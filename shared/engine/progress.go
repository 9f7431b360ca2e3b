package engine

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// outcomeKey carries the *outcomeSlot of the change being applied, so the
// places that count a result (create, update, conflict …) also name the
// entry's outcome without threading it through every return value.
type outcomeKey struct{}

type outcomeSlot struct {
	outcome     tb.Outcome
	class       string
	reason      string
	timesheetID int64
}

// note records o as the outcome of the change applied under ctx (the last
// note wins: a created timesheet whose stored time shifted ends as a
// conflict).
func note(ctx context.Context, o tb.Outcome, class, reason string, timesheetID int64) {
	s, _ := ctx.Value(outcomeKey{}).(*outcomeSlot)
	if s == nil {
		return
	}
	s.outcome, s.class, s.reason = o, class, reason
	if timesheetID != 0 {
		s.timesheetID = timesheetID
	}
}

// count bumps the counter of o and notes it as the change's outcome.
func (r *runner) count(ctx context.Context, o tb.Outcome, reason string, timesheetID int64) {
	r.bump(func(n *tb.Counts) {
		switch o {
		case tb.OutcomeCreated:
			n.Created++
		case tb.OutcomeUpdated:
			n.Updated++
		case tb.OutcomeDeleted:
			n.Deleted++
		case tb.OutcomeUnchanged:
			n.Unchanged++
		case tb.OutcomeSkipped:
			n.Skipped++
		case tb.OutcomeConflict:
			n.Conflicts++
		}
	})
	note(ctx, o, "", reason, timesheetID)
}

// outcomeOf is the stored outcome of change c after apply.
func (r *runner) outcomeOf(c plan.Change, s *outcomeSlot, err error) tb.EntryOutcome {
	w := plan.Locate(c, r.catalog)
	o := tb.EntryOutcome{EntryID: c.EntryID, TicketID: c.TicketID, Outcome: s.outcome, Class: s.class, Reason: s.reason,
		TimesheetID: s.timesheetID, Customer: w.Customer, Project: w.Project, Activity: w.Activity}
	if d := c.Desired; d != nil {
		o.TicketNumber = d.Ticket.Number
		if d.Sheet != nil {
			o.Seconds = int64(d.Sheet.End.Sub(d.Sheet.Begin) / time.Second)
		}
	}
	if o.TimesheetID == 0 && c.Link != nil {
		o.TimesheetID = c.Link.TimesheetID
	}
	if o.Seconds == 0 && c.Link != nil {
		o.Seconds = c.Link.Baseline.Duration
	}
	switch {
	case err != nil:
		o.Outcome, o.Class, o.Reason = tb.OutcomeFailed, string(apperr.KindOf(err)), apperr.MessageOf(err)
	case o.Outcome == "":
		// Cut off before it started (deadline), or nothing counted it.
		o.Outcome, o.Reason = tb.OutcomeSkipped, "not carried out: the run stopped first"
	}
	if o.Reason == "" {
		o.Reason = c.Reason
	}
	return o
}

// setPhase moves the run's progress to phase.
func (r *runner) setPhase(phase string, total int) {
	r.mu.Lock()
	r.endPhase()
	r.progress.Phase = phase
	if total >= 0 {
		r.progress.Total = total
	}
	r.mu.Unlock()
}

func (r *runner) stepDone() {
	r.mu.Lock()
	r.progress.Done++
	r.mu.Unlock()
}

// reportProgress stores the run's counts and progress every
// Options.ProgressEvery until the returned stop is called (which waits for
// a write in flight, so the final record is never overwritten by it).
func (r *runner) reportProgress(ctx context.Context, id string) (stop func()) {
	return every(ctx, r.e.opts.ProgressEvery, func() bool {
		r.mu.Lock()
		c := r.counts
		c.ErrorsByClass = maps.Clone(r.counts.ErrorsByClass)
		p := r.progress
		r.mu.Unlock()
		p.UpdatedAt = r.e.now()
		wctx, cancel := context.WithTimeout(ctx, r.e.opts.ProgressEvery)
		defer cancel()
		if err := r.e.store.PutRunProgress(wctx, id, c, p); err != nil {
			r.log.Warn("store run progress", slog.String("err", err.Error()))
		}
		return true
	})
}

// endPhase adds the time spent in the current phase to phaseTime (the run's
// log says where a run's time went). Callers hold r.mu.
func (r *runner) endPhase() {
	now := time.Now()
	if !r.phaseStart.IsZero() {
		if r.phaseTime == nil {
			r.phaseTime = map[string]time.Duration{}
		}
		r.phaseTime[r.progress.Phase] += now.Sub(r.phaseStart)
	}
	r.phaseStart = now
}

// phaseLog is the time spent per phase, for the run's log line.
func (r *runner) phaseLog() slog.Attr {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endPhase()
	var attrs []any
	for _, p := range []string{tb.PhaseReading, tb.PhasePlanning, tb.PhaseWriting, tb.PhaseFinishing} {
		attrs = append(attrs, slog.Int64(p, r.phaseTime[p].Milliseconds()))
	}
	return slog.Group("phase_ms", attrs...)
}
