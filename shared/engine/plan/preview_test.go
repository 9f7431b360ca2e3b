package plan

import (
	"reflect"
	"testing"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestSummarize(t *testing.T) {
	cat := &Catalog{
		Customers:  []Customer{{ID: 1, Name: "Acme"}},
		Projects:   []Project{{ID: 10, CustomerID: 1, Name: "Acme support"}},
		Activities: []Activity{{ID: 100, Name: "Support"}, {ID: 101, Name: "Travel"}},
	}
	sheet := func(proj, act, secs int64) *tb.Timesheet {
		return &tb.Timesheet{ProjectID: proj, ActivityID: act, Duration: secs}
	}
	link := func(proj, act, secs int64) *tb.Link {
		return &tb.Link{State: tb.LinkSynced, TimesheetID: 9, Baseline: *sheet(proj, act, secs)}
	}
	newCustomer := []CreateSpec{{Kind: tb.MapCustomer, Name: "Globex"}, {Kind: tb.MapProject, Name: "Globex support"}}
	p := Plan{Changes: []Change{
		{Action: tb.ActionCreate, EntryID: 1, Desired: &Desired{Sheet: sheet(10, 100, 1800)}},
		{Action: tb.ActionCreate, EntryID: 2, Desired: &Desired{Sheet: sheet(10, 101, 600)}},
		// An update from 30 to 45 minutes, Kimai's state observed.
		{Action: tb.ActionUpdate, EntryID: 3, Desired: &Desired{Sheet: sheet(10, 100, 2700)}, Link: link(10, 100, 1800), Observed: sheet(10, 100, 1800)},
		// A delete of a vanished entry: placed by its link.
		{Action: tb.ActionDelete, EntryID: 4, Link: link(10, 101, 900)},
		// Two creates under a customer and project to be auto-created.
		{Action: tb.ActionCreate, EntryID: 5, Desired: &Desired{Sheet: sheet(0, 100, 60), Creates: newCustomer}},
		{Action: tb.ActionCreate, EntryID: 6, Desired: &Desired{Sheet: sheet(0, 100, 120), Creates: newCustomer}},
		{Action: tb.ActionConflict, EntryID: 7, Conflict: &ConflictSpec{Kind: tb.ConflictUnmappedUser}},
		{Action: tb.ActionConflict, EntryID: 8, Conflict: &ConflictSpec{Kind: tb.ConflictUnmappedUser}},
		{Action: tb.ActionConflict, EntryID: 9, Conflict: &ConflictSpec{Kind: tb.ConflictEditedInKimai}},
		{Action: tb.ActionUnchanged, EntryID: 10, Desired: &Desired{Sheet: sheet(10, 100, 60)}, Link: link(10, 100, 60)},
		{Action: tb.ActionSkip, EntryID: 11},
	}}
	got := Summarize(p, cat)
	want := tb.Preview{
		Groups: []tb.PreviewGroup{
			{By: tb.MapCustomer, ID: 1, Name: "Acme", Create: 2, Update: 1, Delete: 1, Seconds: 1800 + 600 + 900 - 900},
			{By: tb.MapCustomer, Name: "Globex", Create: 2, Seconds: 180},
			{By: tb.MapProject, ID: 10, Name: "Acme support", Create: 2, Update: 1, Delete: 1, Seconds: 2400},
			{By: tb.MapProject, Name: "Globex support", Create: 2, Seconds: 180},
			{By: tb.MapActivity, ID: 100, Name: "Support", Create: 3, Update: 1, Seconds: 1800 + 900 + 180},
			{By: tb.MapActivity, ID: 101, Name: "Travel", Create: 1, Delete: 1, Seconds: 600 - 900},
		},
		Creates:   []tb.PreviewCreate{{Kind: tb.MapCustomer, Name: "Globex", Entries: 2}, {Kind: tb.MapProject, Name: "Globex support", Entries: 2}},
		Conflicts: []tb.PreviewConflict{{Kind: tb.ConflictUnmappedUser, Count: 2}, {Kind: tb.ConflictEditedInKimai, Count: 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, want)
	}
	// The sums of each kind's groups are the plan's writes.
	for _, by := range []tb.MappingKind{tb.MapCustomer, tb.MapProject, tb.MapActivity} {
		n := 0
		for _, g := range got.Groups {
			if g.By == by {
				n += g.Create + g.Update + g.Delete
			}
		}
		if n != 6 {
			t.Errorf("%s groups hold %d changes, want 6", by, n)
		}
	}
	if w := Locate(p.Changes[4], cat); w != (Where{ActivityID: 100, Customer: "Globex", Project: "Globex support", Activity: "Support"}) {
		t.Errorf("Locate of an entry under records to be created: %+v", w)
	}
	if empty := Summarize(Plan{}, cat); empty.Groups == nil || empty.Creates == nil || empty.Conflicts == nil {
		t.Errorf("an empty plan's preview has nil lists (JSON null): %+v", empty)
	}
}
