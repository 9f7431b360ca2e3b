package plan_test

import (
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine/plan"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestRecord(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	cat := &plan.Catalog{Customers: []plan.Customer{{ID: 1, Name: "Acme"}}, Projects: []plan.Project{{ID: 2, Name: "Support", CustomerID: 1}},
		Activities: []plan.Activity{{ID: 3, Name: "Billable"}}}
	in := plan.RecordInput{ProfileID: "p", MinutesPerUnit: decimal.MustParse("1"), Loc: berlin, Catalog: cat,
		Agents: map[int64]plan.Agent{7: {ID: 7, Name: "Chris"}}}
	// 30 units booked at 23:50 UTC on 2 March: it began 23:20 UTC, 00:20 on the 3rd in Berlin.
	at := time.Date(2026, 3, 2, 23, 50, 0, 0, time.UTC)
	sheet := &tb.Timesheet{Begin: at.Add(-30 * time.Minute), End: at, Duration: 1800, ProjectID: 2, ActivityID: 3}
	desired := func(net string, s *tb.Timesheet) *plan.Desired {
		return &plan.Desired{Entry: plan.Netted{Entry: plan.Entry{ID: 9, TicketID: 50, Units: decimal.MustParse(net), AgentID: 7, CreatedAt: at},
			Net: decimal.MustParse(net)}, Ticket: plan.Ticket{ID: 50, Number: "53003", Title: "Order"}, Sheet: s, Hash: "h"}
	}
	synced := &tb.Link{State: tb.LinkSynced, TimesheetID: 100, SourceHash: "h", Baseline: tb.Timesheet{ID: 100, Duration: 1800, ProjectID: 2, ActivityID: 3}}
	pending := &tb.Link{State: tb.LinkPending}
	base := tb.EntryRecord{ProfileID: "p", EntryID: 9, TicketID: 50, TicketNumber: "53003", TicketTitle: "Order", Day: "2026-03-03",
		AgentID: 7, Agent: "Chris", CustomerID: 1, Customer: "Acme", ProjectID: 2, Project: "Support", ActivityID: 3, Activity: "Billable",
		Zammad: 1800, Written: 1800, Kimai: 1800, Status: tb.RecordSynced, TimesheetID: 100}
	with := func(f func(*tb.EntryRecord)) tb.EntryRecord { r := base; f(&r); return r }
	observedPrev := with(func(r *tb.EntryRecord) { r.Kimai, r.Exported = 2700, true })
	for _, tc := range []struct {
		name string
		c    plan.Change
		o    tb.EntryOutcome
		prev *tb.EntryRecord
		want *tb.EntryRecord // nil: no record
	}{
		{"created", plan.Change{Action: tb.ActionCreate, EntryID: 9, TicketID: 50, Desired: desired("30", sheet)},
			tb.EntryOutcome{Outcome: tb.OutcomeCreated, TimesheetID: 100}, nil, &base},
		{"unchanged keeps the last observation", plan.Change{Action: tb.ActionUnchanged, EntryID: 9, TicketID: 50, Desired: desired("30", sheet), Link: synced},
			tb.EntryOutcome{Outcome: tb.OutcomeUnchanged, TimesheetID: 100}, &observedPrev, &observedPrev},
		{"unchanged takes what the run saw", plan.Change{Action: tb.ActionUnchanged, EntryID: 9, TicketID: 50, Desired: desired("30", sheet), Link: synced,
			Observed: &tb.Timesheet{ID: 100, Duration: 600}}, tb.EntryOutcome{Outcome: tb.OutcomeUnchanged, TimesheetID: 100}, &observedPrev,
			ptr(with(func(r *tb.EntryRecord) { r.Kimai = 600 }))},
		{"updated is not exported", plan.Change{Action: tb.ActionUpdate, EntryID: 9, TicketID: 50, Desired: desired("30", sheet), Link: synced},
			tb.EntryOutcome{Outcome: tb.OutcomeUpdated, TimesheetID: 100}, &observedPrev, &base},
		{"unmapped: a conflict with nothing in Kimai", plan.Change{Action: tb.ActionConflict, EntryID: 9, TicketID: 50, Desired: desired("30", nil)},
			tb.EntryOutcome{Outcome: tb.OutcomeConflict, Class: "unmapped_activity"}, nil,
			ptr(with(func(r *tb.EntryRecord) {
				r.Day, r.Written, r.Kimai, r.Status, r.Reason, r.TimesheetID = "2026-03-03", 0, 0, tb.RecordConflict, "unmapped_activity", 0
				r.CustomerID, r.Customer, r.ProjectID, r.Project, r.ActivityID, r.Activity = 0, "", 0, "", 0, ""
			}))},
		{"edited in Kimai", plan.Change{Action: tb.ActionConflict, EntryID: 9, TicketID: 50, Desired: desired("40", sheet), Link: synced,
			Observed: &tb.Timesheet{ID: 100, Duration: 4500, ProjectID: 2, ActivityID: 3}}, tb.EntryOutcome{Outcome: tb.OutcomeConflict, Class: "edited_in_kimai", TimesheetID: 100}, nil,
			ptr(with(func(r *tb.EntryRecord) {
				r.Zammad, r.Kimai, r.Status, r.Reason = 2400, 4500, tb.RecordConflict, "edited_in_kimai"
			}))},
		{"deleted in Kimai", plan.Change{Action: tb.ActionConflict, EntryID: 9, TicketID: 50, Desired: desired("30", sheet), Link: synced,
			Conflict: &plan.ConflictSpec{Kind: tb.ConflictDeletedInKimai}}, tb.EntryOutcome{Outcome: tb.OutcomeConflict, Class: "deleted_in_kimai", TimesheetID: 100}, &observedPrev,
			ptr(with(func(r *tb.EntryRecord) {
				r.Kimai, r.KimaiGone, r.Status, r.Reason = 0, true, tb.RecordConflict, "deleted_in_kimai"
			}))},
		{"a failed create keeps its claim: pending", plan.Change{Action: tb.ActionCreate, EntryID: 9, TicketID: 50, Desired: desired("30", sheet), Link: pending},
			tb.EntryOutcome{Outcome: tb.OutcomeFailed, Class: "upstream"}, nil,
			ptr(with(func(r *tb.EntryRecord) {
				r.Written, r.Kimai, r.Status, r.Reason, r.TimesheetID = 0, 0, tb.RecordPending, "upstream", 0
			}))},
		{"a failed create without a claim", plan.Change{Action: tb.ActionCreate, EntryID: 9, TicketID: 50, Desired: desired("30", sheet)},
			tb.EntryOutcome{Outcome: tb.OutcomeFailed, Class: "permission"}, nil,
			ptr(with(func(r *tb.EntryRecord) {
				r.Written, r.Kimai, r.Status, r.Reason, r.TimesheetID = 0, 0, tb.RecordFailed, "permission", 0
			}))},
		{"netted to zero: no record", plan.Change{Action: tb.ActionDelete, EntryID: 9, TicketID: 50, Desired: desired("0", nil), Link: synced},
			tb.EntryOutcome{Outcome: tb.OutcomeDeleted}, &base, nil},
		{"gone from Zammad: no record", plan.Change{Action: tb.ActionDelete, EntryID: 9, TicketID: 50, Link: synced},
			tb.EntryOutcome{Outcome: tb.OutcomeDeleted}, &base, nil},
		{"gone from Zammad, Kimai refuses the delete", plan.Change{Action: tb.ActionDelete, EntryID: 9, TicketID: 50, Link: synced},
			tb.EntryOutcome{Outcome: tb.OutcomeConflict, Class: "deleted_in_zammad"}, &observedPrev,
			ptr(with(func(r *tb.EntryRecord) {
				r.Zammad, r.Kimai, r.Exported, r.Status, r.Reason = 0, 2700, true, tb.RecordConflict, "deleted_in_zammad"
			}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := plan.Record(in, tc.c, tc.o, tc.prev)
			switch {
			case tc.want == nil && ok:
				t.Fatalf("record %+v, want none", got)
			case tc.want != nil && !ok:
				t.Fatal("no record")
			case tc.want != nil && got != *tc.want:
				t.Fatalf("record\n%+v\nwant\n%+v", got, *tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
