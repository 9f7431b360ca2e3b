package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Recover: creates a crashed or interrupted run left unsettled.

// recoverPending settles pending links left by a run that crashed or lost
// Kimai's answer: the lease guarantees no other run of this profile is
// active, so no pending link belongs to a live run, but its request may
// still be running in Kimai. Kimai is searched for the entry's marker; one
// match is adopted, two or more are a duplicate conflict, and none clears
// the claim only once it is older than PendingGrace.
func (r *runner) recoverPending(ctx context.Context, in *plan.Input) error {
	var pending []tb.Link
	for _, l := range in.Links {
		if l.State == tb.LinkPending {
			pending = append(pending, l)
		}
	}
	for _, l := range in.Vanished {
		if l.State == tb.LinkPending {
			pending = append(pending, l)
		}
	}
	for _, l := range r.strays {
		found, err := r.searchMarker(ctx, l.EntryID)
		if err != nil {
			return fmt.Errorf("engine: recover pending entry %d: %w", l.EntryID, err)
		}
		if _, _, err := r.settlePending(ctx, l, found); err != nil {
			r.itemError(l.EntryID, l.TicketID, time.Time{}, err)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].EntryID < pending[j].EntryID })
	var mu sync.Mutex
	return forEach(ctx, r.e.opts.ReadConcurrency, pending, func(ctx context.Context, l tb.Link) error {
		found, err := r.searchMarker(ctx, l.EntryID)
		if err != nil {
			return fmt.Errorf("engine: recover pending entry %d: %w", l.EntryID, err)
		}
		nl, conflict, err := r.settlePending(ctx, l, found)
		if err != nil {
			r.itemError(l.EntryID, l.TicketID, time.Time{}, err)
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if conflict != nil {
			in.Conflicts[l.EntryID] = *conflict
		}
		if _, ok := in.Links[l.EntryID]; ok {
			if nl == nil {
				delete(in.Links, l.EntryID)
			} else {
				in.Links[l.EntryID] = *nl
			}
			return nil
		}
		for i := range in.Vanished {
			if in.Vanished[i].EntryID == l.EntryID && nl != nil {
				in.Vanished[i] = *nl
			}
		}
		if nl == nil {
			in.Vanished = slices.DeleteFunc(in.Vanished, func(x tb.Link) bool { return x.EntryID == l.EntryID })
		}
		return nil
	})
}

// settlePending applies the outcome of a marker search to a pending link.
// It returns the new link (nil when the pending record was removed) and a
// conflict when duplicates were found.
func (r *runner) settlePending(ctx context.Context, l tb.Link, found []tb.Timesheet) (*tb.Link, *tb.Conflict, error) {
	switch len(found) {
	case 0:
		claimed := l.ClaimedAt
		if claimed.IsZero() {
			claimed = l.UpdatedAt
		}
		if age := r.e.now().Sub(claimed); age < r.e.opts.PendingGrace {
			// Kimai may still be working on that request: leave the claim
			// alone (the plan skips the entry) until the grace has passed.
			r.log.Info("pending create left for later", slog.Int64("entry_id", l.EntryID), slog.Duration("age", age))
			return &l, nil, nil
		}
		nl := unclaimed(l)
		nl.RunID, nl.UpdatedAt = r.run.ID, r.e.now()
		saved, err := r.putLink(ctx, nl, &l)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: clear pending entry %d: %w", l.EntryID, err)
		}
		r.addAudit(tb.AuditEvent{Type: "link.pending_cleared", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("A create that did not reach Kimai within %s was cleared; the entry will be created again.", r.e.opts.PendingGrace)})
		return &saved, nil, nil
	default:
		sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
		nl := l
		nl.State, nl.TimesheetID, nl.Baseline, nl.RunID, nl.UpdatedAt = tb.LinkSynced, found[0].ID, found[0], r.run.ID, r.e.now()
		saved, err := r.putLink(ctx, nl, &l)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: adopt timesheet %d for entry %d: %w", found[0].ID, l.EntryID, err)
		}
		r.addAudit(tb.AuditEvent{Type: "timesheet.adopted", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("Adopted timesheet %d found by marker after an interrupted create", found[0].ID), After: found[0]})
		if len(found) == 1 {
			r.bump(func(c *tb.Counts) { c.Created++ })
			return &saved, nil, nil
		}
		ids := make([]int64, len(found))
		for i, s := range found {
			ids[i] = s.ID
		}
		k := found[0]
		c := tb.Conflict{Kind: tb.ConflictDuplicateInKimai, EntryID: l.EntryID, TicketID: l.TicketID, Kimai: &k, Duplicates: ids,
			Message: fmt.Sprintf("Kimai holds %d timesheets for this one Zammad entry (%v); delete the extras (use Zammad), keep them all (keep Kimai) or skip.", len(found), ids)}
		stored, err := r.openConflict(ctx, c, nil)
		if err != nil {
			return &saved, nil, err
		}
		return &saved, &stored, nil
	}
}

// searchMarker finds the timesheets carrying an entry's marker. Kimai's
// term search is a substring match, so results are checked exactly.
func (r *runner) searchMarker(ctx context.Context, entryID int64) ([]tb.Timesheet, error) {
	marker := plan.Marker(r.instance, entryID)
	var found []tb.Timesheet
	err := r.k.ListTimesheets(ctx, kimai.TimesheetFilter{Term: marker, User: "all"}, func(page []tb.Timesheet) error {
		for _, s := range page {
			if inst, id, ok := plan.ParseMarker(s.Description); ok && inst == r.instance && id == entryID {
				found = append(found, s)
			}
		}
		return nil
	})
	return found, err
}
