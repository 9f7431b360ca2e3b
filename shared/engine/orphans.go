package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// findOrphans adopts the timesheets of entries that are about to be created
// for the first time (no link at all) but already carry their marker in
// Kimai. covered reports entries whose timesheets a full run has already
// listed (observeKimai).
func (r *runner) findOrphans(ctx context.Context, in *plan.Input, covered func(plan.Desired) bool) error {
	cands := plan.OrphanCandidates(*in, covered)
	search := plan.OrphanSearchFor(cands, r.perDay)
	if len(search.Windows) == 0 && len(search.Tickets) == 0 {
		return nil
	}
	want := make(map[int64]bool, len(cands))
	for _, d := range cands {
		want[d.Entry.ID] = true
	}
	found := map[int64][]tb.Timesheet{}
	seen := map[int64]bool{}
	collect := func(page []tb.Timesheet) error {
		for _, s := range page {
			if inst, id, ok := plan.ParseMarker(s.Description); ok && inst == r.instance && want[id] && !seen[s.ID] {
				seen[s.ID] = true
				found[id] = append(found[id], s)
			}
		}
		return nil
	}
	var filters []kimai.TimesheetFilter
	for _, w := range search.Windows {
		filters = append(filters, kimai.TimesheetFilter{Tags: []string{tb.DefaultTag}, Begin: w.From.In(r.loc), End: w.To.In(r.loc), User: kimai.UserAll})
	}
	for _, n := range search.Tickets {
		filters = append(filters, kimai.TimesheetFilter{Term: "#" + n, Tags: []string{tb.DefaultTag}, User: kimai.UserAll})
	}
	var mu sync.Mutex
	unknownTag := false
	err := forEach(ctx, r.e.opts.ReadConcurrency, filters, func(ctx context.Context, f kimai.TimesheetFilter) error {
		err := r.k.ListTimesheets(ctx, f, func(page []tb.Timesheet) error {
			mu.Lock()
			defer mu.Unlock()
			return collect(page)
		})
		if apperr.Is(err, apperr.Validation) {
			// Kimai refuses a filter on a tag it does not know: then no
			// timesheet carries it, and nothing is lost.
			mu.Lock()
			unknownTag = true
			mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: search kimai for timesheets without a link: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if unknownTag {
		return nil
	}
	for _, d := range cands {
		if ss := found[d.Entry.ID]; len(ss) > 0 {
			if err := r.adoptOrphans(ctx, in, d, ss); err != nil {
				return err
			}
		}
	}
	return nil
}

// adoptOrphans handles the timesheets found by marker for an entry without
// a link: one is adopted (an empty source hash makes the plan bring it up
// to date, guarded by the adopted baseline like any update); several are a
// duplicate conflict.
func (r *runner) adoptOrphans(ctx context.Context, in *plan.Input, d plan.Desired, found []tb.Timesheet) error {
	id := d.Entry.ID
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	if len(found) > 1 {
		ids := make([]int64, len(found))
		for i, s := range found {
			ids[i] = s.ID
		}
		// A human who kept exactly these duplicates is not asked again.
		if prev, err := r.e.store.ConflictByID(ctx, tb.ConflictID(r.profile.ID, id)); err == nil &&
			prev.Kind == tb.ConflictDuplicateInKimai && prev.Resolution == tb.ResolveKeepKimai && slices.Equal(prev.Duplicates, ids) {
			return nil
		}
		k := found[0]
		c, err := r.openConflict(ctx, tb.Conflict{Kind: tb.ConflictDuplicateInKimai, EntryID: id, TicketID: d.Entry.TicketID, Kimai: &k,
			Duplicates: ids, Desired: d.Sheet,
			Message: fmt.Sprintf("Kimai holds %d timesheets for this one Zammad entry (%v); delete the extras (use Zammad), keep them all (keep Kimai) or skip.", len(found), ids)}, nil)
		if err != nil {
			return err
		}
		in.Conflicts[id] = c
		return nil
	}
	s := found[0]
	nl := tb.Link{ProfileID: r.profile.ID, EntryID: id, TicketID: d.Entry.TicketID, State: tb.LinkSynced, TimesheetID: s.ID,
		Baseline: s, EntryCreatedAt: d.Entry.CreatedAt, RunID: r.run.ID, UpdatedAt: r.e.now()}
	saved, err := r.putLink(ctx, nl, nil)
	if err != nil {
		// Not recorded, but it exists: creating the entry now would make
		// a second one. The next run finds it again.
		r.itemError(id, d.Entry.TicketID, d.Entry.UpdatedAt, fmt.Errorf("engine: adopt timesheet %d for entry %d: %w", s.ID, id, err))
		if in.Hold == nil {
			in.Hold = map[int64]string{}
		}
		in.Hold[id] = fmt.Sprintf("timesheet %d carries this entry's marker but could not be adopted", s.ID)
		return nil
	}
	in.Links[id] = saved
	in.Observed[s.ID] = plan.Observation{Found: true, Sheet: s}
	r.addAudit(tb.AuditEvent{Type: "timesheet.adopted", Subject: entrySubject(id),
		Message: fmt.Sprintf("Adopted timesheet %d, found by its marker without a link", s.ID), After: s})
	return nil
}
