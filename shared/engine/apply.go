package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/kimai"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
)

// apply executes a plan at the profile's pace: the Kimai requests in flight
// are bounded by the pace's limiter (pace.go), with more entry workers than
// that so that DynamoDB writes overlap Kimai requests (gate.go).
// Per-entry failures are recorded and do not stop the other entries.
func (r *runner) apply(ctx context.Context, p plan.Plan) {
	r.outcomes = make([]tb.EntryOutcome, len(p.Changes))
	idx := make([]int, len(p.Changes))
	for i := range idx {
		idx[i] = i
	}
	_ = r.paced(ctx, idx, func(ctx context.Context, i int) error {
		c := p.Changes[i]
		slot := &outcomeSlot{}
		err := r.applyOne(context.WithValue(ctx, outcomeKey{}, slot), c)
		if err != nil {
			var upd time.Time
			if c.Desired != nil {
				upd = c.Desired.Entry.UpdatedAt
			}
			r.itemError(c.EntryID, c.TicketID, upd, err)
		}
		r.outcomes[i] = r.outcomeOf(c, slot, err) // one writer per index
		r.stepDone()
		r.flushAuditIfFull(ctx)
		return nil // never stop the run for one entry
	})
	// Entries the deadline cut off before they were admitted.
	for i, o := range r.outcomes {
		if o.Outcome == "" {
			r.outcomes[i] = r.outcomeOf(p.Changes[i], &outcomeSlot{}, nil)
		}
	}
}

func (r *runner) applyOne(ctx context.Context, c plan.Change) error {
	if ctx.Err() != nil {
		return nil // counted once by apply
	}
	switch c.Action {
	case tb.ActionCreate:
		return r.applyCreate(ctx, c)
	case tb.ActionUpdate:
		return r.applyUpdate(ctx, c)
	case tb.ActionDelete:
		return r.applyDelete(ctx, c)
	case tb.ActionConflict:
		_, err := r.openConflict(ctx, r.conflictFor(c, c.Conflict), c.Link)
		return err
	case tb.ActionUnchanged:
		if r.chunked() && c.Link != nil && c.Link.RunID == r.run.ID {
			// Written by this run in a chunk the deadline cut off, and
			// counted then (chunk.go).
			note(ctx, tb.OutcomeUnchanged, "", "", 0)
		} else {
			r.count(ctx, tb.OutcomeUnchanged, "", 0)
		}
		if c.CloseConflict {
			return r.closeConflict(ctx, c.EntryID, "cause resolved")
		}
	case tb.ActionSkip:
		r.count(ctx, tb.OutcomeSkipped, c.Reason, 0)
		if c.Link != nil && c.Link.State == tb.LinkPending && c.Desired != nil {
			// A create Kimai may still finish: re-read it next time.
			r.holdCursor(c.Desired.Entry.UpdatedAt)
		}
	}
	return nil
}

func (r *runner) input(s *tb.Timesheet) kimai.TimesheetInput {
	in := kimai.TimesheetInput{Begin: s.Begin.In(r.loc), End: s.End.In(r.loc), ProjectID: s.ProjectID, ActivityID: s.ActivityID,
		Description: s.Description, Tags: s.Tags}
	if s.UserID != 0 {
		uid := s.UserID
		in.UserID = &uid
	}
	return in
}

// applyCreate creates a timesheet exactly once: claim (conditional put of a
// pending link), create, then record the link. If the process dies after
// Kimai answered but before the link is written, the next run finds the
// pending link and adopts the timesheet by its marker.
func (r *runner) applyCreate(ctx context.Context, c plan.Change) error {
	d := c.Desired
	claim := tb.Link{ProfileID: r.profile.ID, EntryID: d.Entry.ID, TicketID: d.Entry.TicketID, State: tb.LinkPending,
		SourceHash: d.Hash, EntryCreatedAt: d.Entry.CreatedAt, RunID: r.run.ID, UpdatedAt: r.e.now(), ClaimedAt: r.e.now()}
	pending, err := r.putLink(ctx, claim, c.Link)
	if err != nil {
		return fmt.Errorf("engine: claim entry %d: %w", d.Entry.ID, err)
	}
	sheet, err := r.createWithRecovery(ctx, d)
	if err != nil {
		var dup *duplicateError
		var unsettled *unsettledError
		switch {
		case errors.As(err, &unsettled):
			return fmt.Errorf("engine: create timesheet for entry %d (kept pending for recovery): %w", d.Entry.ID, err)
		case errors.As(err, &dup):
			_, _, serr := r.settlePending(ctx, pending, dup.found)
			return serr
		case apperr.Is(err, apperr.Validation), apperr.Is(err, apperr.Permission), apperr.Is(err, apperr.NotFound):
			// A permanent refusal: a human has to change something in
			// Kimai (a permission, a deleted project) and retry. As a
			// conflict it no longer holds the incremental cursor.
			r.releaseClaim(ctx, pending, c.Link)
			_, cerr := r.openConflict(ctx, r.conflictFor(c, &plan.ConflictSpec{Kind: tb.ConflictRejectedByKimai,
				Message: rejectedMessage(err)}), c.Link)
			return cerr
		case certainFailure(err), errors.As(err, new(*notStoredError)):
			// Kimai did not create anything: release the claim so the next
			// run starts clean.
			r.releaseClaim(ctx, pending, c.Link)
		}
		// Ambiguous failures keep the pending link: recovery settles it.
		return fmt.Errorf("engine: create timesheet for entry %d: %w", d.Entry.ID, err)
	}
	link := pending
	link.State, link.TimesheetID, link.Baseline, link.UpdatedAt = tb.LinkSynced, sheet.ID, sheet, r.e.now()
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if _, err := r.putLink(pctx, link, &pending); err != nil {
		return fmt.Errorf("engine: record timesheet %d for entry %d: %w", sheet.ID, d.Entry.ID, err)
	}
	r.count(ctx, tb.OutcomeCreated, "", sheet.ID)
	r.addAudit(tb.AuditEvent{Type: "timesheet.created", Subject: entrySubject(d.Entry.ID),
		Message: fmt.Sprintf("Created timesheet %d for ticket #%s", sheet.ID, d.Ticket.Number), After: sheet})
	if shifted, err := r.checkStored(ctx, c, sheet); shifted || err != nil {
		return err
	}
	if c.CloseConflict {
		return r.closeConflict(ctx, d.Entry.ID, "timesheet created")
	}
	return nil
}

// releaseClaim undoes a pending claim after a create that certainly failed.
// A first claim is not deleted but turned into a "none" link: the item's
// version keeps counting, so a later claim never reuses a version an
// earlier, still running, attempt might hold (ABA).
func (r *runner) releaseClaim(ctx context.Context, pending tb.Link, prev *tb.Link) {
	restore := unclaimed(pending)
	if prev != nil {
		restore = *prev
	}
	restore.UpdatedAt, restore.RunID = r.e.now(), r.run.ID
	_, err := r.putLink(ctx, restore, &pending)
	if err != nil {
		r.log.Warn("release claim", "entry_id", pending.EntryID, "err", err.Error())
	}
}

type duplicateError struct{ found []tb.Timesheet }

func (e *duplicateError) Error() string {
	return fmt.Sprintf("engine: %d timesheets carry one marker", len(e.found))
}

// createWithRecovery POSTs the timesheet. A POST is not idempotent: after an
// ambiguous failure (timeout, 5xx, dropped connection) Kimai may have
// stored it, so it is only POSTed again once a marker search has shown it
// is not there. If that search fails too, or a later attempt fails in a
// way that would normally release the claim, the outcome stays unsettled:
// the pending link is kept and the next run's recovery decides.
func (r *runner) createWithRecovery(ctx context.Context, d *plan.Desired) (tb.Timesheet, error) {
	in := r.input(d.Sheet)
	delay := r.e.opts.RetryDelay
	ambiguous := false
	var lastErr error
	for attempt := 1; attempt <= r.e.opts.CreateAttempts; attempt++ {
		s, err := r.k.CreateTimesheet(ctx, in)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if certainFailure(err) || ctx.Err() != nil {
			if ambiguous {
				return tb.Timesheet{}, &unsettledError{err: err}
			}
			return tb.Timesheet{}, err
		}
		ambiguous = true
		found, serr := r.searchMarker(ctx, d.Entry.ID)
		if serr != nil {
			return tb.Timesheet{}, &unsettledError{err: fmt.Errorf("%w (and the marker search failed: %v)", err, serr)}
		}
		switch len(found) {
		case 0:
			if mayStillRun(err) {
				// Kimai may still be working on this request and commit
				// it later: an empty search proves nothing, and a second
				// POST could be a duplicate. The claim stays pending; a
				// later run adopts the timesheet by its marker, or clears
				// the claim once it is older than PendingGrace.
				return tb.Timesheet{}, &unsettledError{err: err}
			}
		case 1:
			r.addAudit(tb.AuditEvent{Type: "timesheet.adopted", Subject: entrySubject(d.Entry.ID),
				Message: fmt.Sprintf("Kimai stored timesheet %d although its answer was lost; adopted", found[0].ID)})
			return found[0], nil
		default:
			return tb.Timesheet{}, &duplicateError{found: found}
		}
		if attempt < r.e.opts.CreateAttempts {
			if err := upstream.Sleep(ctx, delay); err != nil {
				return tb.Timesheet{}, lastErr
			}
			delay *= 2
		}
	}
	// The last attempt ended with an answer Kimai itself gave (its request
	// is over) and a marker search after it found nothing: nothing was
	// stored, so the claim may go and a retry may create it at once.
	return tb.Timesheet{}, &notStoredError{err: lastErr}
}

// notStoredError: every create attempt failed, and Kimai certainly holds
// nothing for the entry.
type notStoredError struct{ err error }

func (e *notStoredError) Error() string { return e.err.Error() }
func (e *notStoredError) Unwrap() error { return e.err }

// unsettledError: a create may or may not have reached Kimai; only the
// pending link's recovery (a marker search in a later run) can tell.
type unsettledError struct{ err error }

func (e *unsettledError) Error() string { return "engine: create outcome unknown: " + e.err.Error() }
func (e *unsettledError) Unwrap() error { return e.err }

// mayStillRun reports failures after which the request may still be running
// in Kimai: the client gave up (timeout, dropped connection) or a proxy
// answered for a backend it stopped waiting for (502, 503, 504). Only an
// answer Kimai itself gave (a 500) means its work on the request ended.
func mayStillRun(err error) bool {
	ae, ok := apperr.As(err)
	if !ok {
		return true
	}
	switch ae.Status {
	case 0, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// unclaimed is the link an entry has once a claim is withdrawn: no
// timesheet, and no source hash so that the plan creates it again.
func unclaimed(l tb.Link) tb.Link {
	l.State, l.TimesheetID, l.Baseline, l.SourceHash, l.ClaimedAt = tb.LinkNone, 0, tb.Timesheet{}, "", time.Time{}
	return l
}

// certainFailure reports errors after which Kimai certainly stored nothing.
func certainFailure(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Auth, apperr.Permission, apperr.NotFound, apperr.Validation, apperr.RateLimited:
		return true
	}
	return false
}

func rejectedMessage(err error) string {
	msg := "Kimai rejected the timesheet: " + apperr.MessageOf(err)
	switch apperr.KindOf(err) {
	case apperr.Permission:
		msg = "Kimai refused to create the timesheet (permission denied): " + apperr.MessageOf(err) + " Give the token's Kimai user the permission, then retry."
	case apperr.NotFound:
		msg = "Kimai refused to create the timesheet (not found): " + apperr.MessageOf(err) + " Check that the mapped project, activity and user still exist, then retry."
	}
	for f, m := range apperr.FieldsOf(err) {
		msg += fmt.Sprintf(" %s: %s.", f, m)
	}
	return msg
}

func (r *runner) applyUpdate(ctx context.Context, c plan.Change) error {
	d, l := c.Desired, *c.Link
	var s tb.Timesheet
	if c.LinkOnly && c.Observed != nil {
		s = *c.Observed
	} else {
		var err error
		s, err = r.k.UpdateTimesheet(ctx, l.TimesheetID, r.input(d.Sheet))
		if err != nil {
			return r.writeFailed(ctx, c, err, "update")
		}
	}
	nl := l
	nl.SourceHash, nl.Baseline, nl.RunID, nl.UpdatedAt = d.Hash, s, r.run.ID, r.e.now()
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if _, err := r.putLink(pctx, nl, &l); err != nil {
		return fmt.Errorf("engine: record update of timesheet %d for entry %d: %w", l.TimesheetID, l.EntryID, err)
	}
	if c.LinkOnly {
		r.count(ctx, tb.OutcomeUnchanged, "the link caught up with Kimai", 0)
		r.addAudit(tb.AuditEvent{Type: "link.refreshed", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("Timesheet %d already held the current content; the link caught up", l.TimesheetID), After: s})
	} else {
		r.count(ctx, tb.OutcomeUpdated, "", 0)
		r.addAudit(tb.AuditEvent{Type: "timesheet.updated", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("Updated timesheet %d", l.TimesheetID), Before: l.Baseline, After: s})
	}
	if !c.LinkOnly {
		if shifted, err := r.checkStored(ctx, c, s); shifted || err != nil {
			return err
		}
	}
	if c.CloseConflict {
		return r.closeConflict(ctx, l.EntryID, "timesheet updated")
	}
	return nil
}

// checkStored compares what Kimai stored with what was sent. The link
// already records the timesheet (it exists, and is Timebridge's), but a
// shifted time is never taken silently as the new baseline: it becomes a
// time_mismatch conflict, which blocks the entry until a human decides.
func (r *runner) checkStored(ctx context.Context, c plan.Change, stored tb.Timesheet) (bool, error) {
	if c.Desired == nil || c.Desired.Sheet == nil {
		return false, nil
	}
	msg := plan.StoredShift(*c.Desired.Sheet, stored, r.loc)
	if msg == "" {
		return false, nil
	}
	s := stored
	c.Observed = &s
	_, err := r.openConflict(ctx, r.conflictFor(c, &plan.ConflictSpec{Kind: tb.ConflictTimeMismatch, Message: msg}), c.Link)
	return true, err
}

// writeFailed turns a refused update or delete into the matching conflict.
func (r *runner) writeFailed(ctx context.Context, c plan.Change, err error, what string) error {
	l := c.Link
	var spec *plan.ConflictSpec
	switch apperr.KindOf(err) {
	case apperr.NotFound:
		if what == "delete" {
			return r.finishDelete(ctx, c, "already deleted in Kimai")
		}
		spec = &plan.ConflictSpec{Kind: tb.ConflictDeletedInKimai, Message: fmt.Sprintf("Timesheet %d disappeared from Kimai while Timebridge was updating it; re-create it (use Zammad), accept the deletion (keep Kimai) or skip.", l.TimesheetID)}
	case apperr.Permission:
		spec = &plan.ConflictSpec{Kind: tb.ConflictLockedInKimai, Message: fmt.Sprintf("Kimai refused to %s timesheet %d (exported, or in a locked period): %s", what, l.TimesheetID, apperr.MessageOf(err))}
		if c.Desired == nil {
			spec.Kind = tb.ConflictDeletedInZammad
		}
	case apperr.Validation:
		spec = &plan.ConflictSpec{Kind: tb.ConflictRejectedByKimai, Message: rejectedMessage(err)}
	default:
		return fmt.Errorf("engine: %s timesheet %d for entry %d: %w", what, l.TimesheetID, l.EntryID, err)
	}
	_, cerr := r.openConflict(ctx, r.conflictFor(c, spec), c.Link)
	return cerr
}

func (r *runner) applyDelete(ctx context.Context, c plan.Change) error {
	l := *c.Link
	if !c.LinkOnly {
		if err := r.k.DeleteTimesheet(ctx, l.TimesheetID); err != nil {
			return r.writeFailed(ctx, c, err, "delete")
		}
	}
	return r.finishDelete(ctx, c, c.Reason)
}

// finishDelete records that an entry no longer has a timesheet: a vanished
// entry loses its link; a netted-to-zero entry keeps a "none" link so a
// later change of its corrections can bring the timesheet back.
func (r *runner) finishDelete(ctx context.Context, c plan.Change, reason string) error {
	l := *c.Link
	var err error
	if c.Desired == nil {
		err = r.e.store.DeleteLink(ctx, l)
	} else {
		nl := l
		nl.State, nl.TimesheetID, nl.Baseline, nl.SourceHash, nl.RunID, nl.UpdatedAt = tb.LinkNone, 0, tb.Timesheet{}, "", r.run.ID, r.e.now()
		_, err = r.putLink(ctx, nl, &l)
	}
	if err != nil {
		return fmt.Errorf("engine: record deletion for entry %d: %w", l.EntryID, err)
	}
	if c.LinkOnly && l.TimesheetID == 0 {
		r.addAudit(tb.AuditEvent{Type: "link.removed", Subject: entrySubject(l.EntryID), Message: reason})
	} else {
		r.count(ctx, tb.OutcomeDeleted, reason, 0)
		r.addAudit(tb.AuditEvent{Type: "timesheet.deleted", Subject: entrySubject(l.EntryID),
			Message: fmt.Sprintf("Deleted timesheet %d: %s", l.TimesheetID, reason), Before: l.Baseline})
	}
	if c.CloseConflict {
		return r.closeConflict(ctx, l.EntryID, reason)
	}
	return nil
}

// conflictFor builds the conflict record of a change.
func (r *runner) conflictFor(c plan.Change, spec *plan.ConflictSpec) tb.Conflict {
	cf := tb.Conflict{EntryID: c.EntryID, TicketID: c.TicketID, Kind: spec.Kind, Message: spec.Message, SourceKey: spec.SourceKey, Kimai: c.Observed}
	if d := c.Desired; d != nil {
		cf.Zammad = &tb.EntrySnapshot{EntryID: d.Entry.ID, TicketID: d.Entry.TicketID, TicketNumber: d.Ticket.Number, TicketTitle: d.Ticket.Title,
			TimeUnit: d.Entry.Units, NetUnit: d.Entry.Net, TypeID: d.Entry.TypeID, AgentID: d.Entry.AgentID,
			CreatedAt: d.Entry.CreatedAt, UpdatedAt: d.Entry.UpdatedAt}
		cf.Desired = d.Sheet
	}
	return cf
}

// conflictNames resolves the ids of c to the names the run's catalogs
// hold. An agent the run did not need to look up (user mapping off) is
// read from Zammad now: conflicts are few, and people know agents by name.
func (r *runner) conflictNames(ctx context.Context, c tb.Conflict) *tb.ConflictNames {
	var n tb.ConflictNames
	if z := c.Zammad; z != nil {
		r.mu.Lock()
		a, known := r.names.Agents[z.AgentID]
		r.mu.Unlock()
		if !known && z.AgentID != 0 && r.z != nil {
			if u, err := r.z.User(ctx, z.AgentID); err == nil {
				a = plan.Agent{ID: z.AgentID, Name: u.FullName(), Email: u.Email}
				r.mu.Lock()
				r.names.Agents[z.AgentID] = a
				r.mu.Unlock()
			}
		}
		n.Agent = a.Name
		n.Type = r.names.Types[z.TypeID]
	}
	sheet := c.Desired
	if sheet == nil || (sheet.ProjectID == 0 && sheet.ActivityID == 0) {
		sheet = c.Kimai
	}
	if sheet != nil && r.catalog != nil {
		n.Customer, n.Project, n.Activity = r.catalog.Where(sheet.ProjectID, sheet.ActivityID)
	}
	if n == (tb.ConflictNames{}) {
		return nil
	}
	return &n
}

// openConflict stores c as the entry's open conflict, unless an identical
// one is already open (re-evaluated conflicts must not churn the table).
func (r *runner) openConflict(ctx context.Context, c tb.Conflict, _ *tb.Link) (tb.Conflict, error) {
	now := r.e.now()
	c.Names = r.conflictNames(ctx, c)
	c.ID, c.ProfileID, c.Status, c.RunID, c.UpdatedAt = tb.ConflictID(r.profile.ID, c.EntryID), r.profile.ID, tb.ConflictOpen, r.run.ID, now
	existing, err := r.e.store.ConflictByID(ctx, c.ID)
	var expect int64
	switch {
	case err == nil:
		expect = existing.Version
		if existing.Status == tb.ConflictOpen && existing.Kind == c.Kind && existing.Message == c.Message {
			r.bump(func(n *tb.Counts) { n.Skipped++ })
			note(ctx, tb.OutcomeConflict, string(c.Kind), "still open: "+c.Message, 0)
			return existing, nil
		}
		c.CreatedAt = existing.CreatedAt
		if existing.Status != tb.ConflictOpen {
			c.CreatedAt = now
		}
	case apperr.Is(err, apperr.NotFound):
		c.CreatedAt = now
	default:
		return c, fmt.Errorf("engine: read conflict of entry %d: %w", c.EntryID, err)
	}
	stored, err := r.e.store.PutConflict(ctx, c, expect)
	if err != nil {
		return c, fmt.Errorf("engine: store conflict of entry %d: %w", c.EntryID, err)
	}
	r.count(ctx, tb.OutcomeConflict, c.Message, 0)
	note(ctx, tb.OutcomeConflict, string(c.Kind), c.Message, 0)
	r.addAudit(tb.AuditEvent{Type: "conflict.opened", Subject: entrySubject(c.EntryID), Message: string(c.Kind) + ": " + c.Message, After: stored})
	return stored, nil
}

// closeConflict resolves the entry's open conflict, either because its
// cause disappeared or because a human's resolution was carried out.
func (r *runner) closeConflict(ctx context.Context, entryID int64, why string) error {
	id := tb.ConflictID(r.profile.ID, entryID)
	c, err := r.e.store.ConflictByID(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: read conflict of entry %d: %w", entryID, err)
	}
	if c.Status != tb.ConflictOpen {
		return nil
	}
	before := c
	now := r.e.now()
	c.Status, c.ResolvedAt, c.UpdatedAt = tb.ConflictResolved, &now, now
	if res := r.req.force[entryID]; res != "" {
		c.Resolution, c.ResolvedBy = res, r.req.Actor
	} else {
		c.Resolution, c.ResolvedBy = tb.ResolveRetry, "engine"
	}
	if _, err := r.e.store.PutConflict(ctx, c, before.Version); err != nil {
		return fmt.Errorf("engine: resolve conflict of entry %d: %w", entryID, err)
	}
	r.addAudit(tb.AuditEvent{Type: "conflict.resolved", Subject: entrySubject(entryID), Actor: c.ResolvedBy,
		Message: fmt.Sprintf("%s resolved (%s): %s", c.Kind, c.Resolution, why), Before: before.Status, After: c.Status})
	return nil
}

// persistCtx is the context of the bookkeeping write that follows a
// successful Kimai call: it must not be skipped because the run's deadline
// passed in between (that would leave Timebridge's own write looking like
// someone else's), but it is bounded.
func persistCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
