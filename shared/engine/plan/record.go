package plan

import (
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// RecordInput is what Record needs besides a change and its outcome.
type RecordInput struct {
	ProfileID      string
	MinutesPerUnit decimal.Dec
	Loc            *time.Location // the Kimai user's zone
	Catalog        *Catalog
	Agents         map[int64]Agent
}

// Record is the reconciliation report's record of an entry after change c
// ended in outcome o; prev is the stored record (nil: none). ok is false
// when the entry has no record: it is gone from Zammad, or netted to
// nothing with nothing in Kimai. A stored observation of Kimai (time,
// exported flag) is kept unless the change itself saw or wrote Kimai.
func Record(in RecordInput, c Change, o tb.EntryOutcome, prev *tb.EntryRecord) (tb.EntryRecord, bool) {
	d := c.Desired
	linked := c.Link != nil && c.Link.State == tb.LinkSynced
	if d == nil {
		// Vanished from Zammad: only a timesheet Kimai still holds keeps
		// the record (a deletion refused, or failed).
		if prev == nil || (o.Outcome != tb.OutcomeConflict && o.Outcome != tb.OutcomeFailed) || !linked {
			return tb.EntryRecord{}, false
		}
		r := *prev
		r.Zammad = 0
		r.Status, r.Reason = statusOf(o, c), o.Class
		observe(&r, c, o, prev)
		return r, true
	}
	r := tb.EntryRecord{ProfileID: in.ProfileID, EntryID: c.EntryID, TicketID: c.TicketID,
		TicketNumber: d.Ticket.Number, TicketTitle: clip(d.Ticket.Title, 120), AgentID: d.Entry.AgentID,
		TimesheetID: o.TimesheetID}
	if a, ok := in.Agents[d.Entry.AgentID]; ok {
		r.Agent = a.Name
	} else if prev != nil && prev.AgentID == d.Entry.AgentID {
		r.Agent = prev.Agent
	}
	if d.Entry.Net.Sign() > 0 {
		if s, err := Seconds(d.Entry.Net, in.MinutesPerUnit); err == nil {
			r.Zammad = s
		}
	}
	day := d.Entry.CreatedAt
	if d.Sheet != nil {
		day = d.Sheet.Begin
	}
	if in.Loc != nil {
		day = day.In(in.Loc)
	}
	r.Day = day.Format(time.DateOnly)
	w := Locate(c, in.Catalog)
	r.CustomerID, r.Customer, r.ProjectID, r.Project, r.ActivityID, r.Activity =
		w.CustomerID, w.Customer, w.ProjectID, w.Project, w.ActivityID, w.Activity

	switch o.Outcome {
	case tb.OutcomeCreated, tb.OutcomeUpdated:
		if d.Sheet != nil {
			r.Written = d.Sheet.Duration
		}
	case tb.OutcomeDeleted:
		r.Written, r.TimesheetID = 0, 0
	default:
		if linked {
			r.Written = c.Link.Baseline.Duration
		}
	}
	if o.Outcome == tb.OutcomeDeleted || (!linked && o.Outcome != tb.OutcomeCreated) {
		r.TimesheetID = 0
	}
	r.Status, r.Reason = statusOf(o, c), o.Class
	r.Kimai = r.Written
	observe(&r, c, o, prev)
	if r.Zammad == 0 && r.Written == 0 && r.Kimai == 0 && r.Status != tb.RecordConflict {
		return tb.EntryRecord{}, false
	}
	return r, true
}

// observe sets what Kimai holds: what this change wrote, else what it
// saw, else what was last observed of the same timesheet, else what was
// written.
func observe(r *tb.EntryRecord, c Change, o tb.EntryOutcome, prev *tb.EntryRecord) {
	switch {
	case (c.Conflict != nil && c.Conflict.Kind == tb.ConflictDeletedInKimai) || o.Class == string(tb.ConflictDeletedInKimai):
		r.Kimai, r.Exported, r.KimaiGone = 0, false, true
	case o.Outcome == tb.OutcomeCreated || o.Outcome == tb.OutcomeUpdated:
		r.Kimai, r.Exported, r.KimaiGone = r.Written, false, false
	case c.Observed != nil && r.TimesheetID != 0 && c.Observed.ID == r.TimesheetID:
		r.Kimai, r.Exported, r.KimaiGone = c.Observed.Duration, c.Observed.Exported, false
	case prev != nil && prev.TimesheetID == r.TimesheetID && r.TimesheetID != 0:
		r.Kimai, r.Exported, r.KimaiGone = prev.Kimai, prev.Exported, prev.KimaiGone
	}
}

func statusOf(o tb.EntryOutcome, c Change) tb.RecordStatus {
	pending := c.Link != nil && c.Link.State == tb.LinkPending
	switch o.Outcome {
	case tb.OutcomeConflict:
		return tb.RecordConflict
	case tb.OutcomeFailed:
		if pending {
			return tb.RecordPending
		}
		return tb.RecordFailed
	case tb.OutcomeSkipped:
		if pending {
			return tb.RecordPending
		}
		if c.Link != nil && c.Link.State == tb.LinkSynced {
			return tb.RecordSynced
		}
		return tb.RecordSkipped
	}
	return tb.RecordSynced
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
