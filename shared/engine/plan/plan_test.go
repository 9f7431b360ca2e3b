package plan

import (
	"fmt"
	"slices"
	"testing"
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func sheet(id int64, minutes int) tb.Timesheet {
	return tb.Timesheet{ID: id, Begin: t0, End: t0.Add(time.Duration(minutes) * time.Minute), Duration: int64(minutes * 60),
		ProjectID: 20, ActivityID: 30, Description: "#1 t [TB-0a1b2c3d-1]", Tags: []string{"zammad"}}
}

func desired(entryID int64, minutes int) Desired {
	s := sheet(0, minutes)
	return Desired{Entry: Netted{Entry: Entry{ID: entryID, TicketID: 1}}, Sheet: &s, Hash: Hash(&s)}
}

func noSheet(entryID int64) Desired {
	return Desired{Entry: Netted{Entry: Entry{ID: entryID, TicketID: 1}}}
}

func link(entryID, tsID int64, state tb.LinkState, hash string, baseline tb.Timesheet) tb.Link {
	return tb.Link{EntryID: entryID, TicketID: 1, TimesheetID: tsID, State: state, SourceHash: hash, Baseline: baseline, Version: 3}
}

func TestCalculate(t *testing.T) {
	d15 := desired(1, 15)
	d30 := desired(1, 30)
	base := sheet(100, 15)
	edited := base
	edited.Description = "changed by a human"
	exported := base
	exported.Exported = true
	conflict := func(k tb.ConflictKind) map[int64]tb.Conflict {
		return map[int64]tb.Conflict{1: {EntryID: 1, Kind: k, Status: tb.ConflictOpen}}
	}
	found := func(s tb.Timesheet) map[int64]Observation { return map[int64]Observation{100: {Found: true, Sheet: s}} }
	gone := map[int64]Observation{100: {Found: false}}
	denied := map[int64]Observation{100: {Denied: "Access denied."}}

	tests := []struct {
		name     string
		in       Input
		action   tb.ChangeAction
		conflict tb.ConflictKind
		linkOnly bool
		closes   bool
		needObs  []int64
	}{
		{name: "new entry is created",
			in: Input{Desired: []Desired{d15}}, action: tb.ActionCreate},
		{name: "unchanged entry",
			in:     Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}},
			action: tb.ActionUnchanged},
		{name: "changed entry, Kimai untouched → update",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(base)},
			action: tb.ActionUpdate, needObs: []int64{100}},
		{name: "changed entry, edited in Kimai → conflict",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(edited)},
			action: tb.ActionConflict, conflict: tb.ConflictEditedInKimai, needObs: []int64{100}},
		{name: "changed entry, deleted in Kimai → conflict",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: gone},
			action: tb.ActionConflict, conflict: tb.ConflictDeletedInKimai, needObs: []int64{100}},
		{name: "changed entry, exported in Kimai → locked",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(exported)},
			action: tb.ActionConflict, conflict: tb.ConflictLockedInKimai, needObs: []int64{100}},
		{name: "unchanged but observed deleted in Kimai (full run) → conflict",
			in:     Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: gone},
			action: tb.ActionConflict, conflict: tb.ConflictDeletedInKimai},
		{name: "tags in another order are not an edit",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, withTags(base, "zammad", "b"))},
				Observed: found(withTags(base, "b", "zammad"))},
			action: tb.ActionUpdate, needObs: []int64{100}},
		{name: "netted to zero → delete",
			in:     Input{Desired: []Desired{noSheet(1)}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(base)},
			action: tb.ActionDelete, needObs: []int64{100}},
		{name: "netted to zero, edited in Kimai → conflict",
			in:     Input{Desired: []Desired{noSheet(1)}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(edited)},
			action: tb.ActionConflict, conflict: tb.ConflictEditedInKimai, needObs: []int64{100}},
		{name: "netted to zero, already gone in Kimai → link only",
			in:     Input{Desired: []Desired{noSheet(1)}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: gone},
			action: tb.ActionDelete, linkOnly: true, needObs: []int64{100}},
		{name: "no timesheet wanted, none there",
			in: Input{Desired: []Desired{noSheet(1)}}, action: tb.ActionUnchanged},
		{name: "netted entry becomes positive again → create",
			in: Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 0, tb.LinkNone, "", tb.Timesheet{})}}, action: tb.ActionCreate},
		{name: "keep_kimai accepted a deletion: same content stays absent",
			in: Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 0, tb.LinkNone, d15.Hash, tb.Timesheet{})}}, action: tb.ActionUnchanged},
		{name: "…but a Zammad change after it re-creates",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 0, tb.LinkNone, d15.Hash, tb.Timesheet{})}}, action: tb.ActionCreate},
		{name: "skipped by a human",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSkipped, d15.Hash, base)}}, action: tb.ActionSkip},
		{name: "pending of a live run is left alone",
			in: Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 0, tb.LinkPending, d15.Hash, tb.Timesheet{})}}, action: tb.ActionSkip},
		{name: "blocking conflict stops the entry",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Conflicts: conflict(tb.ConflictEditedInKimai)},
			action: tb.ActionSkip},
		{name: "use_zammad overwrites an edit",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(edited),
				Conflicts: conflict(tb.ConflictEditedInKimai), Force: map[int64]tb.Resolution{1: tb.ResolveUseZammad}},
			action: tb.ActionUpdate, closes: true, needObs: []int64{100}},
		{name: "use_zammad re-creates a deleted timesheet",
			in: Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: gone,
				Conflicts: conflict(tb.ConflictDeletedInKimai), Force: map[int64]tb.Resolution{1: tb.ResolveUseZammad}},
			action: tb.ActionCreate, closes: true, needObs: []int64{100}},
		{name: "use_zammad can't write an exported timesheet",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(exported),
				Conflicts: conflict(tb.ConflictEditedInKimai), Force: map[int64]tb.Resolution{1: tb.ResolveUseZammad}},
			action: tb.ActionConflict, conflict: tb.ConflictLockedInKimai, needObs: []int64{100}},
		{name: "retry of a locked timesheet that was un-exported",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(base),
				Conflicts: conflict(tb.ConflictLockedInKimai), Force: map[int64]tb.Resolution{1: tb.ResolveRetry}},
			action: tb.ActionUpdate, closes: true, needObs: []int64{100}},
		{name: "unmapped conflict re-evaluated: still unmapped",
			in: Input{Desired: []Desired{{Entry: Netted{Entry: Entry{ID: 1, TicketID: 1}}, Conflict: &ConflictSpec{Kind: tb.ConflictUnmappedActivity}}},
				Conflicts: conflict(tb.ConflictUnmappedActivity)},
			action: tb.ActionConflict, conflict: tb.ConflictUnmappedActivity},
		{name: "unmapped conflict closes itself once mapped",
			in:     Input{Desired: []Desired{d15}, Conflicts: conflict(tb.ConflictUnmappedActivity)},
			action: tb.ActionCreate, closes: true},
		{name: "rejected_by_kimai is retried every run",
			in:     Input{Desired: []Desired{d15}, Conflicts: conflict(tb.ConflictRejectedByKimai)},
			action: tb.ActionCreate, closes: true},
		{name: "changed entry, timesheet unreadable (403) → its own conflict",
			in:     Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: denied},
			action: tb.ActionConflict, conflict: tb.ConflictUnreadableInKimai, needObs: []int64{100}},
		{name: "unchanged entry observed unreadable (full run) → conflict",
			in:     Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: denied},
			action: tb.ActionConflict, conflict: tb.ConflictUnreadableInKimai},
		{name: "unreadable conflict is re-evaluated and closes once readable",
			in: Input{Desired: []Desired{d30}, Links: map[int64]tb.Link{1: link(1, 100, tb.LinkSynced, d15.Hash, base)}, Observed: found(base),
				Conflicts: conflict(tb.ConflictUnreadableInKimai)},
			action: tb.ActionUpdate, closes: true, needObs: []int64{100}},
		{name: "held: a timesheet was found but could not be adopted",
			in: Input{Desired: []Desired{d15}, Hold: map[int64]string{1: "not adopted"}}, action: tb.ActionSkip},
		{name: "a claim withdrawn earlier is created again",
			in: Input{Desired: []Desired{d15}, Links: map[int64]tb.Link{1: link(1, 0, tb.LinkNone, "", tb.Timesheet{})}}, action: tb.ActionCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NeedsObservation(tt.in); !slices.Equal(got, tt.needObs) {
				t.Errorf("NeedsObservation = %v, want %v", got, tt.needObs)
			}
			p := Calculate(tt.in)
			if len(p.Changes) != 1 {
				t.Fatalf("%d changes", len(p.Changes))
			}
			c := p.Changes[0]
			if c.Action != tt.action {
				t.Fatalf("action = %s, want %s (reason %q)", c.Action, tt.action, c.Reason)
			}
			var kind tb.ConflictKind
			if c.Conflict != nil {
				kind = c.Conflict.Kind
				if c.Conflict.Message == "" && tt.in.Desired[0].Conflict == nil {
					t.Error("conflict without a message")
				}
			}
			if kind != tt.conflict || c.LinkOnly != tt.linkOnly || c.CloseConflict != tt.closes {
				t.Errorf("conflict=%q linkOnly=%v closes=%v, want %q %v %v", kind, c.LinkOnly, c.CloseConflict, tt.conflict, tt.linkOnly, tt.closes)
			}
		})
	}
}

func withTags(s tb.Timesheet, tags ...string) tb.Timesheet { s.Tags = tags; return s }

func TestCalculateVanished(t *testing.T) {
	base := sheet(100, 15)
	edited := base
	edited.Duration = 99
	exported := base
	exported.Exported = true
	tests := []struct {
		name     string
		link     tb.Link
		obs      map[int64]Observation
		conflict map[int64]tb.Conflict
		force    map[int64]tb.Resolution
		action   tb.ChangeAction
		kind     tb.ConflictKind
		linkOnly bool
	}{
		{"unchanged timesheet is deleted", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: true, Sheet: base}}, nil, nil, tb.ActionDelete, "", false},
		{"edited timesheet → deleted_in_zammad", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: true, Sheet: edited}}, nil, nil, tb.ActionConflict, tb.ConflictDeletedInZammad, false},
		{"exported timesheet → deleted_in_zammad", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: true, Sheet: exported}}, nil, nil, tb.ActionConflict, tb.ConflictDeletedInZammad, false},
		{"unreadable in Kimai → unreadable conflict", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Denied: "Access denied."}}, nil, nil, tb.ActionConflict, tb.ConflictUnreadableInKimai, false},
		{"already gone in Kimai → link only", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: false, Sheet: tb.Timesheet{}}}, nil, nil, tb.ActionDelete, "", true},
		{"netted link is cleaned up", link(1, 0, tb.LinkNone, "", tb.Timesheet{}), nil, nil, nil, tb.ActionDelete, "", true},
		{"skipped link is cleaned up", link(1, 100, tb.LinkSkipped, "", base), nil, nil, nil, tb.ActionDelete, "", true},
		{"open conflict blocks", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: true, Sheet: edited}},
			map[int64]tb.Conflict{1: {Kind: tb.ConflictDeletedInZammad}}, nil, tb.ActionSkip, "", false},
		{"use_zammad deletes an edited timesheet", link(1, 100, tb.LinkSynced, "h", base), map[int64]Observation{100: {Found: true, Sheet: edited}},
			map[int64]tb.Conflict{1: {Kind: tb.ConflictDeletedInZammad}}, map[int64]tb.Resolution{1: tb.ResolveUseZammad}, tb.ActionDelete, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Vanished: []tb.Link{tt.link}, Observed: tt.obs, Conflicts: tt.conflict, Force: tt.force}
			c := Calculate(in).Changes[0]
			var kind tb.ConflictKind
			if c.Conflict != nil {
				kind = c.Conflict.Kind
			}
			if c.Action != tt.action || kind != tt.kind || c.LinkOnly != tt.linkOnly || c.Desired != nil {
				t.Errorf("got %s %q linkOnly=%v, want %s %q %v", c.Action, kind, c.LinkOnly, tt.action, tt.kind, tt.linkOnly)
			}
		})
	}
}

func TestPlanIsDeterministicAndComplete(t *testing.T) {
	in := Input{Links: map[int64]tb.Link{}}
	for i := int64(50); i > 0; i-- {
		d := desired(i, int(i))
		d.Entry.TicketID = i % 7
		in.Desired = append(in.Desired, d)
	}
	a, b := Calculate(in), Calculate(in)
	if len(a.Changes) != 50 {
		t.Fatalf("%d changes for 50 entries", len(a.Changes))
	}
	for i := range a.Changes {
		if a.Changes[i].EntryID != b.Changes[i].EntryID {
			t.Fatal("plan order not deterministic")
		}
		if i > 0 {
			p, c := a.Changes[i-1], a.Changes[i]
			if p.TicketID > c.TicketID || p.TicketID == c.TicketID && p.EntryID > c.EntryID {
				t.Fatal("not ordered by ticket, entry")
			}
		}
	}
	if !a.HasWrites() || a.Counts()[tb.ActionCreate] != 50 {
		t.Fatal("counts wrong")
	}
}

func TestSameAsBaseline(t *testing.T) {
	base := sheet(1, 15)
	base.UserID = 0
	other := base
	other.UserID = 7
	if !SameAsBaseline(base, other) {
		t.Error("a baseline written as token user does not pin the user")
	}
	base.UserID = 5
	if SameAsBaseline(base, other) {
		t.Error("user change must count as an edit")
	}
	zoned := sheet(1, 15)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	zoned2 := zoned
	zoned2.Begin, zoned2.End = zoned.Begin.In(berlin), zoned.End.In(berlin)
	if !SameAsBaseline(zoned, zoned2) {
		t.Error("instants are compared, not zones")
	}
}

func TestPlanOrphanSearch(t *testing.T) {
	day := 24 * time.Hour
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	cand := func(ticket string, begin time.Time) Desired {
		return Desired{Ticket: Ticket{Number: ticket}, Sheet: &tb.Timesheet{Begin: begin}}
	}
	var spread []Desired // a backfill's chunk: 3 tickets, entries all year
	for i := range 360 {
		spread = append(spread, cand(fmt.Sprint(i%3), t0.Add(time.Duration(i)*day)))
	}
	tests := []struct {
		name    string
		cands   []Desired
		perDay  float64
		windows []Window
		tickets []string
	}{
		{"nothing to search", nil, 0, nil, nil},
		{"a year in one window while Kimai's content is unknown", spread, 0,
			[]Window{{t0.Add(-day), t0.Add(360 * day)}}, nil},
		{"a year with 100 timesheets a day: a term search per ticket", spread, 100, nil, []string{"0", "1", "2"}},
		{"a week with 100 timesheets a day: 2 pages, still fewer than 3 tickets",
			[]Desired{cand("1", t0), cand("2", t0.Add(2*day)), cand("3", t0.Add(4*day))}, 100,
			[]Window{{t0.Add(-day), t0.Add(5 * day)}}, nil},
		{"first sync: one window over everything", []Desired{cand("1", t0), cand("2", t0.Add(day)), cand("3", t0.Add(3*day)), cand("1", t0.Add(5*day))}, 0,
			[]Window{{t0.Add(-day), t0.Add(6 * day)}}, nil},
		{"two clusters, two tickets: windows",
			[]Desired{cand("1", t0), cand("2", t0.Add(30*day))}, 0,
			[]Window{{t0.Add(-day), t0.Add(day)}, {t0.Add(29 * day), t0.Add(31 * day)}}, nil},
		{"one long-lived ticket with entries months apart: one term search",
			[]Desired{cand("7", t0), cand("7", t0.Add(40*day)), cand("7", t0.Add(90*day))}, 0,
			nil, []string{"7"}},
		{"gap of exactly two days stays one window",
			[]Desired{cand("1", t0), cand("1", t0.Add(2*day))}, 0,
			[]Window{{t0.Add(-day), t0.Add(3 * day)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OrphanSearchFor(tt.cands, tt.perDay)
			if !slices.Equal(got.Windows, tt.windows) || !slices.Equal(got.Tickets, tt.tickets) {
				t.Fatalf("got %+v, want windows %v tickets %v", got, tt.windows, tt.tickets)
			}
		})
	}
}
