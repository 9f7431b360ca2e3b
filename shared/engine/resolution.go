package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/ident"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Resolve carries out a human's resolution of a conflict and returns the
// conflict as it stands afterwards (resolved, or open again with a new
// cause if carrying it out hit another problem).
//
//   - use_zammad and retry re-run the entry's ticket with the entry forced:
//     use_zammad overwrites Kimai's edits, re-creates a deleted timesheet,
//     deletes duplicates or deletes the timesheet of a vanished entry;
//     retry simply evaluates the entry again (after a mapping was added).
//   - keep_kimai accepts Kimai's current state as the new baseline.
//   - skip marks the entry as never to be synced again.
func (e *Engine) Resolve(ctx context.Context, conflictID string, res tb.Resolution, actor string) (tb.Conflict, error) {
	// Resolutions run inside an API request: stop early enough that the
	// run record, the lease and the audit are written before the caller's
	// deadline (the API function's timeout) ends the process.
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-resolveMargin))
		defer cancel()
	}
	c, err := e.store.ConflictByID(ctx, conflictID)
	if err != nil {
		return c, fmt.Errorf("engine: load conflict %s: %w", conflictID, err)
	}
	if c.Status != tb.ConflictOpen {
		return c, apperr.New(apperr.Conflict, "engine: resolve", "This conflict is already resolved.")
	}
	if !c.Kind.Allows(res) {
		return c, apperr.New(apperr.Validation, "engine: resolve",
			fmt.Sprintf("%q does not apply to a %s conflict; use one of %v.", res, c.Kind, c.Kind.Resolutions()))
	}
	if actor == "" {
		actor = "admin"
	}
	switch res {
	case tb.ResolveUseZammad, tb.ResolveRetry:
		// The lease is held from the first write to Kimai (deleting
		// duplicates) to the end of the forced run, so no run of the
		// profile interleaves with it.
		held, release, err := e.takeLease(ctx, c.ProfileID, "resolve-"+c.ID+"/"+ident.New(e.now()), e.log)
		if err != nil {
			return c, err
		}
		// Ticket runs handed over meanwhile are carried out once the lease
		// is released (deferred calls run last in first out).
		defer e.afterRelease(ctx, c.ProfileID)
		defer release()
		if c.Kind == tb.ConflictDuplicateInKimai && res == tb.ResolveUseZammad {
			if err := e.deleteDuplicates(ctx, c, actor, held.gen); err != nil {
				return c, err
			}
		}
		_, err = e.run(ctx, Request{ProfileID: c.ProfileID, Mode: tb.ModeTicket, TicketID: c.TicketID,
			Trigger: "resolution", Actor: actor, force: map[int64]tb.Resolution{c.EntryID: res}}, held)
		if err != nil {
			return c, err
		}
	case tb.ResolveKeepKimai, tb.ResolveSkip:
		if err := e.settle(ctx, c, res, actor); err != nil {
			return c, err
		}
	default:
		return c, apperr.New(apperr.Validation, "engine: resolve", fmt.Sprintf("Unknown resolution %q.", res))
	}
	after, err := e.store.ConflictByID(ctx, conflictID)
	if err != nil {
		return c, fmt.Errorf("engine: reload conflict %s: %w", conflictID, err)
	}
	if after.Status == tb.ConflictOpen && after.Version == c.Version && res == tb.ResolveUseZammad {
		// The forced run did not reach the entry (e.g. the ticket is gone).
		return after, apperr.New(apperr.Conflict, "engine: resolve", "The entry could not be synced; see the latest run for details.")
	}
	return after, nil
}

// deleteDuplicates removes every timesheet of a duplicate conflict except
// the linked one, before the forced run brings that one up to date.
func (e *Engine) deleteDuplicates(ctx context.Context, c tb.Conflict, actor string, fence int64) error {
	p, err := e.store.GetProfile(ctx, c.ProfileID)
	if err != nil {
		return fmt.Errorf("engine: load profile %s: %w", c.ProfileID, err)
	}
	_, k, err := e.connect.Connect(ctx, p.WithDefaults())
	if err != nil {
		return fmt.Errorf("engine: connect profile %s: %w", p.ID, err)
	}
	l, err := e.store.GetLink(ctx, c.ProfileID, c.TicketID, c.EntryID)
	if apperr.Is(err, apperr.NotFound) && c.Kimai != nil {
		// Duplicates found without a link: keep the lowest id and adopt it,
		// so the forced run updates it instead of creating another.
		nl := tb.Link{ProfileID: c.ProfileID, EntryID: c.EntryID, TicketID: c.TicketID, State: tb.LinkSynced,
			TimesheetID: c.Kimai.ID, Baseline: *c.Kimai, RunID: "resolve-" + c.ID, UpdatedAt: e.now(), Fence: fence}
		if c.Zammad != nil {
			nl.EntryCreatedAt = c.Zammad.CreatedAt // keeps it inside full runs' deletion window
		}
		l, err = e.store.PutLink(ctx, nl, nil)
	}
	if err != nil {
		return fmt.Errorf("engine: load link of entry %d: %w", c.EntryID, err)
	}
	var evs []tb.AuditEvent
	for _, id := range c.Duplicates {
		if id == l.TimesheetID {
			continue
		}
		if err := k.DeleteTimesheet(ctx, id); err != nil && !apperr.Is(err, apperr.NotFound) {
			return fmt.Errorf("engine: delete duplicate timesheet %d of entry %d: %w", id, c.EntryID, err)
		}
		now := e.now()
		evs = append(evs, tb.AuditEvent{ID: ident.New(now), Time: now, ProfileID: c.ProfileID, Actor: actor, Type: "timesheet.deleted",
			Subject: entrySubject(c.EntryID), Message: fmt.Sprintf("Deleted duplicate timesheet %d (kept %d)", id, l.TimesheetID)})
	}
	return e.store.AppendAudit(ctx, evs...)
}

// resolveMargin is kept free at the end of a resolution's deadline.
const resolveMargin = 5 * time.Second

// settle applies keep_kimai or skip directly to the link.
func (e *Engine) settle(ctx context.Context, c tb.Conflict, res tb.Resolution, actor string) error {
	held, release, err := e.takeLease(ctx, c.ProfileID, "resolve-"+c.ID+"/"+ident.New(e.now()), e.log)
	if err != nil {
		if errors.Is(err, ErrBusy) {
			return apperr.Wrap(ErrBusy, apperr.Conflict, "engine: resolve", "A run of this profile is in progress; try again in a moment.")
		}
		return err
	}
	defer e.afterRelease(ctx, c.ProfileID) // after release: see Resolve
	defer release()

	l, err := e.store.GetLink(ctx, c.ProfileID, c.TicketID, c.EntryID)
	exists := err == nil
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return fmt.Errorf("engine: load link of entry %d: %w", c.EntryID, err)
	}
	if !exists {
		l = tb.Link{ProfileID: c.ProfileID, EntryID: c.EntryID, TicketID: c.TicketID, State: tb.LinkNone}
		if c.Zammad != nil {
			l.EntryCreatedAt = c.Zammad.CreatedAt
		}
	}
	now := e.now()
	nl := l
	nl.UpdatedAt, nl.RunID, nl.Fence = now, "resolve-"+c.ID, held.gen
	remove := false
	if res == tb.ResolveSkip {
		nl.State = tb.LinkSkipped
	} else {
		switch c.Kind {
		case tb.ConflictEditedInKimai, tb.ConflictLockedInKimai:
			if c.Kimai == nil || !exists {
				return apperr.New(apperr.Conflict, "engine: resolve", "Kimai's side of this conflict is unknown; retry the sync first.")
			}
			// Kimai's state becomes the baseline; the current Zammad
			// content counts as written, so nothing is pushed until Zammad
			// changes again.
			nl.Baseline = *c.Kimai
			if c.Desired != nil {
				nl.SourceHash = plan.Hash(c.Desired)
			}
		case tb.ConflictDeletedInKimai:
			nl.State, nl.TimesheetID, nl.Baseline = tb.LinkNone, 0, tb.Timesheet{}
			if c.Desired != nil {
				nl.SourceHash = plan.Hash(c.Desired)
			}
		case tb.ConflictDuplicateInKimai:
			// All duplicates stay; the linked one remains the managed one.
			// Without a link (found by a full run), the lowest id becomes
			// the managed one, so nothing creates yet another.
			if (!exists || l.State != tb.LinkSynced) && c.Kimai != nil {
				nl.State, nl.TimesheetID, nl.Baseline = tb.LinkSynced, c.Kimai.ID, *c.Kimai
				if c.Desired != nil {
					nl.SourceHash = plan.Hash(c.Desired)
				}
			}
		case tb.ConflictTimeMismatch:
			// What Kimai holds (a shifted timesheet, one entered by hand,
			// or none) is accepted for the current Zammad content.
			if exists && l.State == tb.LinkSynced {
				if c.Kimai != nil {
					nl.Baseline = *c.Kimai
				}
			} else {
				nl.State, nl.TimesheetID, nl.Baseline = tb.LinkNone, 0, tb.Timesheet{}
			}
			if c.Desired != nil {
				nl.SourceHash = plan.Hash(c.Desired)
			}
		case tb.ConflictDeletedInZammad:
			// The timesheet stays in Kimai and is no longer managed.
			remove = exists
		}
	}
	if !nl.Baseline.Begin.Equal(l.Baseline.Begin) {
		// The day worked was placed in the Kimai user's zone by the run
		// that wrote it; a resolution has no zone at hand, so a changed
		// begin counts on its UTC day until a run writes the link again.
		nl.WorkedOn = ""
	}
	switch {
	case remove:
		err = e.store.DeleteLink(ctx, l)
	case exists:
		_, err = e.store.PutLink(ctx, nl, &l)
	default:
		_, err = e.store.PutLink(ctx, nl, nil)
	}
	if err != nil {
		return fmt.Errorf("engine: settle link of entry %d: %w", c.EntryID, err)
	}
	before := c
	c.Status, c.Resolution, c.ResolvedBy, c.ResolvedAt, c.UpdatedAt = tb.ConflictResolved, res, actor, &now, now
	if _, err := e.store.PutConflict(ctx, c, before.Version); err != nil {
		return fmt.Errorf("engine: resolve conflict %s: %w", c.ID, err)
	}
	return e.store.AppendAudit(ctx, tb.AuditEvent{ID: ident.New(now), Time: now, ProfileID: c.ProfileID, Actor: actor,
		Type: "conflict.resolved", Subject: entrySubject(c.EntryID),
		Message: fmt.Sprintf("%s resolved with %s", c.Kind, res), Before: before.Status, After: c.Status})
}
