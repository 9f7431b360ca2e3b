package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Observe: what Kimai and Zammad hold now, read where the plan needs it.

// observeKimai lists every Timebridge timesheet in Kimai since from (paged,
// tag "zammad", all users) so that a full run also sees what happened in
// Kimai to entries that did not change in Zammad: a linked timesheet that
// is gone (deleted_in_kimai), several timesheets carrying one entry's
// marker (duplicate_in_kimai), and timesheets whose link was lost (for
// example after the table was restored), which are adopted instead of being
// created a second time.
func (r *runner) observeKimai(ctx context.Context, in *plan.Input, from time.Time) error {
	byEntry := map[int64][]tb.Timesheet{}
	err := r.k.ListTimesheets(ctx, kimai.TimesheetFilter{Tags: []string{tb.DefaultTag}, Begin: from.In(r.loc), User: kimai.UserAll},
		func(page []tb.Timesheet) error {
			for _, s := range page {
				if inst, id, ok := plan.ParseMarker(s.Description); ok && inst == r.instance {
					byEntry[id] = append(byEntry[id], s)
				}
			}
			return nil
		})
	if apperr.Is(err, apperr.Validation) {
		// Kimai refuses a filter on a tag it doesn't know: then nothing
		// carries it yet (dry run before the first sync).
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: list kimai timesheets: %w", err)
	}
	for _, d := range in.Desired {
		id := d.Entry.ID
		found := byEntry[id]
		sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
		l, linked := in.Links[id]
		if _, open := in.Conflicts[id]; !open && len(found) > 1 && !r.req.DryRun && (!linked || l.State != tb.LinkSkipped) {
			if err := r.adoptOrphans(ctx, in, d, found); err != nil {
				return err
			}
			continue
		}
		switch {
		case linked && l.State == tb.LinkSynced && !l.Baseline.Begin.Before(from):
			if _, fetched := in.Observed[l.TimesheetID]; fetched {
				continue
			}
			obs := plan.Observation{}
			for _, s := range found {
				if s.ID == l.TimesheetID {
					obs = plan.Observation{Found: true, Sheet: s}
				}
			}
			if !obs.Found {
				// Paged listings can skip rows, and the tag or begin may
				// have been edited out of the filter: only a direct read
				// says it is gone.
				var err error
				if obs, err = r.observe(ctx, l.TimesheetID); err != nil {
					return err
				}
			}
			in.Observed[l.TimesheetID] = obs
		case !linked && len(found) == 1 && !r.req.DryRun:
			if err := r.adoptOrphans(ctx, in, d, found); err != nil {
				return err
			}
		}
	}
	return nil
}

// observe reads one linked timesheet. Gone (404) and unreadable (403) are
// observations about that one entry, not failures of the run: one
// timesheet the token may not see must not stop every other entry (nor
// the incremental cursor).
func (r *runner) observe(ctx context.Context, id int64) (plan.Observation, error) {
	s, err := r.k.Timesheet(ctx, id)
	switch {
	case err == nil:
		return plan.Observation{Found: true, Sheet: s}, nil
	case apperr.Is(err, apperr.NotFound):
		return plan.Observation{}, nil
	case apperr.Is(err, apperr.Permission):
		return plan.Observation{Denied: apperr.MessageOf(err)}, nil
	}
	return plan.Observation{}, fmt.Errorf("engine: kimai timesheet %d: %w", id, err)
}

// confirmVanished keeps the links whose entries their ticket really no
// longer has (one read per affected ticket; vanished entries are rare).
func (r *runner) confirmVanished(ctx context.Context, vanished []tb.Link) ([]tb.Link, error) {
	byTicket := map[int64][]tb.Link{}
	for _, l := range vanished {
		byTicket[l.TicketID] = append(byTicket[l.TicketID], l)
	}
	var mu sync.Mutex
	var out []tb.Link
	err := forEach(ctx, r.e.opts.ReadConcurrency, keys(byTicket), func(ctx context.Context, tid int64) error {
		zs, err := r.z.TicketEntries(ctx, tid)
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return fmt.Errorf("engine: confirm deletions on ticket %d: %w", tid, err)
		}
		still := map[int64]bool{}
		for _, e := range zs {
			still[e.ID] = true
		}
		mu.Lock()
		defer mu.Unlock()
		for _, l := range byTicket[tid] {
			if !still[l.EntryID] {
				out = append(out, l)
			}
		}
		return nil
	})
	return out, err
}

// refreshLinks re-reads, strongly consistently, the links a plan would act
// on: ticket lookups go through an eventually consistent index, and a link
// version a moment old (just after the previous run updated the timesheet)
// would make Timebridge's own write look like an edit in Kimai.
func (r *runner) refreshLinks(ctx context.Context, in *plan.Input) error {
	var stale []tb.Link
	for _, d := range in.Desired {
		l, ok := in.Links[d.Entry.ID]
		if !ok {
			continue
		}
		if l.State == tb.LinkPending || l.State == tb.LinkSynced && (d.Sheet == nil || d.Hash != l.SourceHash) {
			stale = append(stale, l)
		}
	}
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, stale, func(ctx context.Context, l tb.Link) error {
		fresh, err := r.e.store.GetLink(ctx, l.ProfileID, l.TicketID, l.EntryID)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			in.Links[l.EntryID] = fresh
		case apperr.Is(err, apperr.NotFound):
			delete(in.Links, l.EntryID)
		default:
			return fmt.Errorf("engine: re-read link of entry %d: %w", l.EntryID, err)
		}
		return nil
	})
}
