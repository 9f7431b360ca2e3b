package plan

import (
	"fmt"
	"slices"
	"sort"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Observation is what Kimai currently holds for a linked timesheet.
type Observation struct {
	Found bool
	Sheet tb.Timesheet
	// Denied is Kimai's message when it refused to show the timesheet to
	// the token's user (403): nothing can be decided about it.
	Denied string
}

// Input is everything a plan depends on. Calculate does no I/O.
type Input struct {
	Desired []Desired
	// Links are the stored links of the entries in scope, by entry id.
	Links map[int64]tb.Link
	// Conflicts are the open conflicts of the profile, by entry id.
	Conflicts map[int64]tb.Conflict
	// Vanished are links whose entries Zammad no longer has (only in runs
	// that can tell: full runs, and one-ticket runs for that ticket).
	Vanished []tb.Link
	// Observed is Kimai's current state by timesheet id, for the ids
	// NeedsObservation asked for (and, in full runs, every listed one).
	Observed map[int64]Observation
	// Hold lists entries the run must leave alone, with the reason: a
	// timesheet found for them could not be recorded, so creating one now
	// could duplicate it.
	Hold map[int64]string
	// Force marks entries whose conflict a human resolved with use_zammad
	// or retry: their conflict no longer blocks them, and use_zammad
	// overwrites edits made in Kimai.
	Force map[int64]tb.Resolution
}

// Change is one step of a plan.
type Change struct {
	Action   tb.ChangeAction
	EntryID  int64
	TicketID int64
	Desired  *Desired      // nil for vanished entries
	Link     *tb.Link      // the stored link, nil if none
	Observed *tb.Timesheet // Kimai's current state, when known
	Conflict *ConflictSpec // for ActionConflict
	// CloseConflict closes the entry's open conflict as part of this change
	// (its cause is gone, or a human resolved it).
	CloseConflict bool
	// LinkOnly: nothing to do in Kimai, only the link changes (a vanished
	// entry whose timesheet is already gone, a stale bookkeeping record).
	LinkOnly bool
	Reason   string
}

// Plan is the ordered list of changes.
type Plan struct {
	Changes []Change
}

// Counts tallies the plan by action.
func (p Plan) Counts() map[tb.ChangeAction]int {
	m := map[tb.ChangeAction]int{}
	for _, c := range p.Changes {
		m[c.Action]++
	}
	return m
}

// HasWrites reports whether applying the plan writes anything to Kimai.
func (p Plan) HasWrites() bool {
	for _, c := range p.Changes {
		switch c.Action {
		case tb.ActionCreate, tb.ActionUpdate, tb.ActionDelete:
			if !c.LinkOnly {
				return true
			}
		}
	}
	return false
}

// blocking kinds stop an entry until a human resolves them; the others are
// re-evaluated every run and close themselves when the cause is gone.
func blocking(k tb.ConflictKind) bool {
	switch k {
	case tb.ConflictEditedInKimai, tb.ConflictDeletedInKimai, tb.ConflictLockedInKimai,
		tb.ConflictDuplicateInKimai, tb.ConflictDeletedInZammad, tb.ConflictTimeMismatch:
		return true
	}
	return false
}

// NeedsObservation lists the timesheet ids whose current Kimai state the
// plan needs: those it would update or delete.
func NeedsObservation(in Input) []int64 {
	var ids []int64
	for _, d := range in.Desired {
		l, ok := in.Links[d.Entry.ID]
		if !ok || l.State != tb.LinkSynced || l.TimesheetID == 0 || d.Conflict != nil {
			continue
		}
		if c, open := in.Conflicts[d.Entry.ID]; open && blocking(c.Kind) && in.Force[d.Entry.ID] == "" {
			continue
		}
		if d.Sheet == nil || d.Hash != l.SourceHash || in.Force[d.Entry.ID] != "" {
			ids = append(ids, l.TimesheetID)
		}
	}
	for _, l := range in.Vanished {
		if l.State == tb.LinkSynced && l.TimesheetID != 0 {
			ids = append(ids, l.TimesheetID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Calculate diffs desired state against the stored links and Kimai's
// observed state. It is pure and deterministic: changes are ordered by
// ticket and entry id.
func Calculate(in Input) Plan {
	var p Plan
	for i := range in.Desired {
		p.Changes = append(p.Changes, decide(in, &in.Desired[i]))
	}
	for i := range in.Vanished {
		p.Changes = append(p.Changes, decideVanished(in, in.Vanished[i]))
	}
	sort.SliceStable(p.Changes, func(i, j int) bool {
		a, b := p.Changes[i], p.Changes[j]
		if a.TicketID != b.TicketID {
			return a.TicketID < b.TicketID
		}
		return a.EntryID < b.EntryID
	})
	return p
}

func decide(in Input, d *Desired) Change {
	id := d.Entry.ID
	ch := Change{EntryID: id, TicketID: d.Entry.TicketID, Desired: d}
	l, hasLink := in.Links[id]
	if hasLink {
		ch.Link = &l
	}
	force := in.Force[id]
	conflict, hasConflict := in.Conflicts[id]
	closeIfOpen := func(c Change) Change {
		if hasConflict && c.Action != tb.ActionConflict && c.Action != tb.ActionSkip {
			c.CloseConflict = true
		}
		return c
	}

	if why, held := in.Hold[id]; held {
		ch.Action, ch.Reason = tb.ActionSkip, why
		return ch
	}
	if hasLink && l.State == tb.LinkSkipped {
		ch.Action, ch.Reason = tb.ActionSkip, "skipped by a human"
		return ch
	}
	if hasLink && l.State == tb.LinkPending {
		// Recovery runs before planning; a pending record still here
		// belongs to a run that is in progress.
		ch.Action, ch.Reason = tb.ActionSkip, "a create is in progress"
		return ch
	}
	if hasConflict && blocking(conflict.Kind) && force == "" {
		ch.Action, ch.Reason = tb.ActionSkip, fmt.Sprintf("open conflict %s awaits a resolution", conflict.Kind)
		return ch
	}
	if d.Conflict != nil {
		if d.Conflict.Kind == tb.ConflictTimeMismatch && hasLink && d.Hash != "" && l.SourceHash == d.Hash && force == "" {
			// A human accepted what Kimai holds for this very content.
			ch.Action = tb.ActionUnchanged
			return closeIfOpen(ch)
		}
		ch.Action, ch.Conflict = tb.ActionConflict, d.Conflict
		return ch
	}
	synced := hasLink && l.State == tb.LinkSynced && l.TimesheetID != 0
	var obs Observation
	var observed bool
	if synced {
		var denied bool
		if obs, observed, denied = observeInto(in, l, &ch); denied {
			return ch
		}
	}

	if d.Sheet == nil { // no timesheet wanted
		if !synced {
			ch.Action = tb.ActionUnchanged
			return closeIfOpen(ch)
		}
		return closeIfOpen(guardedWrite(ch, l, obs, observed, force, tb.ActionDelete, "the entry was netted to zero by a correction"))
	}

	if !synced {
		if hasLink && l.State == tb.LinkNone && l.SourceHash == d.Hash {
			// A human accepted that Kimai has no timesheet for this
			// content (keep_kimai on deleted_in_kimai).
			ch.Action = tb.ActionUnchanged
			return closeIfOpen(ch)
		}
		ch.Action = tb.ActionCreate
		return closeIfOpen(ch)
	}
	if d.Hash == l.SourceHash && force == "" {
		if observed && !obs.Found {
			ch.Action = tb.ActionConflict
			ch.Conflict = &ConflictSpec{Kind: tb.ConflictDeletedInKimai,
				Message: fmt.Sprintf("Timesheet %d was deleted in Kimai although its Zammad entry still exists; re-create it (use Zammad), accept the deletion (keep Kimai) or skip the entry.", l.TimesheetID)}
			return ch
		}
		ch.Action = tb.ActionUnchanged
		return closeIfOpen(ch)
	}
	return closeIfOpen(guardedWrite(ch, l, obs, observed, force, tb.ActionUpdate, ""))
}

// guardedWrite turns an update or delete into a conflict unless Kimai still
// holds exactly what Timebridge last wrote (or a human said to overwrite).
func guardedWrite(ch Change, l tb.Link, obs Observation, observed bool, force tb.Resolution, action tb.ChangeAction, reason string) Change {
	overwrite := force == tb.ResolveUseZammad
	switch {
	case !observed:
		// Should not happen: NeedsObservation asks for these ids.
		ch.Action, ch.Reason = tb.ActionSkip, "Kimai state unknown; retried next run"
	case !obs.Found && action == tb.ActionDelete:
		ch.Action, ch.LinkOnly, ch.Reason = tb.ActionDelete, true, "already deleted in Kimai"
	case !obs.Found && overwrite:
		ch.Action, ch.Reason = tb.ActionCreate, "re-created on request"
	case !obs.Found:
		ch.Action = tb.ActionConflict
		ch.Conflict = &ConflictSpec{Kind: tb.ConflictDeletedInKimai,
			Message: fmt.Sprintf("Timesheet %d was deleted in Kimai, but its Zammad entry changed; re-create it (use Zammad), accept the deletion (keep Kimai) or skip the entry.", l.TimesheetID)}
	case action == tb.ActionUpdate && ch.Desired != nil && ch.Desired.Sheet != nil && SameAsBaseline(*ch.Desired.Sheet, obs.Sheet):
		// Kimai already holds what Timebridge wants (an update that
		// reached Kimai before its link write was lost): only the link
		// catches up.
		ch.Action, ch.LinkOnly, ch.Reason = tb.ActionUpdate, true, "Kimai already holds this content"
	case obs.Sheet.Exported:
		ch.Action = tb.ActionConflict
		ch.Conflict = &ConflictSpec{Kind: tb.ConflictLockedInKimai,
			Message: fmt.Sprintf("Timesheet %d is exported in Kimai and can't be changed; un-export it in Kimai and retry, or keep Kimai's version.", l.TimesheetID)}
	case !overwrite && !SameAsBaseline(l.Baseline, obs.Sheet):
		ch.Action = tb.ActionConflict
		ch.Conflict = &ConflictSpec{Kind: tb.ConflictEditedInKimai,
			Message: fmt.Sprintf("Timesheet %d was edited in Kimai since Timebridge wrote it, and the Zammad entry changed too; choose which side wins.", l.TimesheetID)}
	default:
		ch.Action, ch.Reason = action, reason
	}
	return ch
}

func decideVanished(in Input, l tb.Link) Change {
	ch := Change{EntryID: l.EntryID, TicketID: l.TicketID, Link: &l}
	conflict, hasConflict := in.Conflicts[l.EntryID]
	force := in.Force[l.EntryID]
	switch l.State {
	case tb.LinkPending:
		ch.Action, ch.Reason = tb.ActionSkip, "a create is in progress"
		return ch
	case tb.LinkNone, tb.LinkSkipped:
		ch.Action, ch.LinkOnly, ch.Reason = tb.ActionDelete, true, "entry deleted in Zammad; nothing in Kimai"
		ch.CloseConflict = hasConflict
		return ch
	}
	if hasConflict && blocking(conflict.Kind) && force == "" {
		ch.Action, ch.Reason = tb.ActionSkip, fmt.Sprintf("open conflict %s awaits a resolution", conflict.Kind)
		return ch
	}
	obs, observed, denied := observeInto(in, l, &ch)
	if denied {
		return ch
	}
	ch = guardedWrite(ch, l, obs, observed, force, tb.ActionDelete, "entry deleted in Zammad")
	if ch.Action == tb.ActionConflict {
		// Whatever blocks the delete, the human decision is about the
		// vanished entry.
		ch.Conflict = &ConflictSpec{Kind: tb.ConflictDeletedInZammad,
			Message: fmt.Sprintf("The Zammad entry was deleted, but its timesheet %d was %s in Kimai; delete it anyway (use Zammad), keep it (keep Kimai) or skip.", l.TimesheetID, why(ch.Conflict.Kind))}
	}
	ch.CloseConflict = hasConflict && ch.Action != tb.ActionConflict && ch.Action != tb.ActionSkip
	return ch
}

// observeInto puts what Kimai was observed to hold for l's timesheet into
// ch. denied reports that Kimai refused to show it: ch is then that conflict.
func observeInto(in Input, l tb.Link, ch *Change) (obs Observation, observed, denied bool) {
	obs, observed = in.Observed[l.TimesheetID]
	if observed && obs.Found {
		s := obs.Sheet
		ch.Observed = &s
	}
	if observed && obs.Denied != "" {
		ch.Action, ch.Conflict = tb.ActionConflict, unreadable(l, obs)
		return obs, observed, true
	}
	return obs, observed, false
}

func unreadable(l tb.Link, obs Observation) *ConflictSpec {
	return &ConflictSpec{Kind: tb.ConflictUnreadableInKimai,
		Message: fmt.Sprintf("Kimai does not let the token's user read timesheet %d (%s); give that user permission to view other users' timesheets (view_other_timesheet) or the team that owns it, then retry, or skip the entry.", l.TimesheetID, obs.Denied)}
}

func why(k tb.ConflictKind) string {
	if k == tb.ConflictLockedInKimai {
		return "exported"
	}
	return "edited"
}

// SameAsBaseline reports whether Kimai still holds what Timebridge wrote.
// The baseline is what Kimai returned after the write (already rounded), so
// the comparison is exact.
func SameAsBaseline(base, cur tb.Timesheet) bool {
	if !base.Begin.Equal(cur.Begin) || !base.End.Equal(cur.End) || base.Duration != cur.Duration ||
		base.ProjectID != cur.ProjectID || base.ActivityID != cur.ActivityID || base.Description != cur.Description {
		return false
	}
	if base.UserID != 0 && base.UserID != cur.UserID {
		return false
	}
	return slices.Equal(normTags(base.Tags), normTags(cur.Tags))
}
