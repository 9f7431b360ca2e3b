package plan

import (
	"slices"
	"testing"
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestClassifyLinks(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	window := day.AddDate(0, 0, -30)
	link := func(entry, ticket int64, state tb.LinkState, created time.Time) tb.Link {
		return tb.Link{EntryID: entry, TicketID: ticket, State: state, EntryCreatedAt: created}
	}
	recent, old := day.AddDate(0, 0, -1), day.AddDate(0, 0, -90)
	set := func(ids ...int64) map[int64]bool {
		m := map[int64]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	all := []tb.Link{
		link(1, 10, tb.LinkSynced, recent),  // present
		link(2, 10, tb.LinkSynced, recent),  // not present
		link(3, 20, tb.LinkPending, old),    // not present, old
		link(4, 20, tb.LinkSynced, old),     // not present, old
		link(5, 30, tb.LinkPending, recent), // not present
		link(6, 40, tb.LinkSynced, recent),  // ticket out of scope
	}
	tests := []struct {
		name     string
		scope    LinkScope
		inScope  []int64
		vanished []int64
		strays   []int64
	}{
		{"full: unlisted recent entries vanished, old ones kept",
			LinkScope{Mode: tb.ModeFull, Present: set(1), Scanned: set(1, 4), DeleteAfter: window},
			[]int64{1}, []int64{2, 5, 6}, nil},
		{"full: listed but outside the window and pending is a stray",
			LinkScope{Mode: tb.ModeFull, Present: set(1), Scanned: set(1, 2, 3, 4, 5, 6), DeleteAfter: window},
			[]int64{1}, nil, []int64{3, 5}},
		{"full: an unlisted entry created before the window is never taken as deleted",
			LinkScope{Mode: tb.ModeFull, Present: set(), Scanned: set(), DeleteAfter: window},
			nil, []int64{1, 2, 5, 6}, nil},
		{"ticket: entries missing from its ticket vanished, other tickets untouched",
			LinkScope{Mode: tb.ModeTicket, Present: set(1), Gone: map[int64]bool{10: false}},
			[]int64{1}, []int64{2}, nil},
		{"incremental: only tickets Zammad no longer has",
			LinkScope{Mode: tb.ModeIncremental, Present: set(1), Gone: map[int64]bool{10: false, 20: true}},
			[]int64{1}, []int64{3, 4}, nil},
		{"range: a ticket that still exists keeps its unlisted links",
			LinkScope{Mode: tb.ModeRange, Present: set(), Gone: map[int64]bool{10: false, 30: false}},
			nil, nil, nil},
		{"range: a gone ticket's links vanished",
			LinkScope{Mode: tb.ModeRange, Present: set(), Gone: map[int64]bool{30: true}},
			nil, []int64{5}, nil},
		{"nothing in scope", LinkScope{Mode: tb.ModeIncremental}, nil, nil, nil},
	}
	ids := func(ls []tb.Link) []int64 {
		var out []int64
		for _, l := range ls {
			out = append(out, l.EntryID)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyLinks(all, tt.scope)
			var in []int64
			for id, l := range got.InScope {
				if l.EntryID != id {
					t.Errorf("InScope[%d] holds the link of entry %d", id, l.EntryID)
				}
				in = append(in, id)
			}
			slices.Sort(in)
			if !slices.Equal(in, tt.inScope) {
				t.Errorf("in scope %v, want %v", in, tt.inScope)
			}
			if v := ids(got.Vanished); !slices.Equal(v, tt.vanished) {
				t.Errorf("vanished %v, want %v", v, tt.vanished)
			}
			if s := ids(got.Strays); !slices.Equal(s, tt.strays) {
				t.Errorf("strays %v, want %v", s, tt.strays)
			}
		})
	}
}

func TestSettled(t *testing.T) {
	sheet := &tb.Timesheet{Duration: 60}
	want := Desired{Sheet: sheet, Hash: "h1"}
	none := Desired{}
	netting := Desired{Conflict: &ConflictSpec{Kind: tb.ConflictUnmatchedNegative}}
	unmapped := Desired{Sheet: sheet, Conflict: &ConflictSpec{Kind: tb.ConflictUnmappedActivity}}
	tests := []struct {
		name string
		d    Desired
		l    tb.Link
		want bool
	}{
		{"synced with the same hash", want, tb.Link{State: tb.LinkSynced, SourceHash: "h1"}, true},
		{"synced with another hash", want, tb.Link{State: tb.LinkSynced, SourceHash: "h0"}, false},
		{"synced but no timesheet wanted", none, tb.Link{State: tb.LinkSynced, SourceHash: "h1"}, false},
		{"pending is never settled", want, tb.Link{State: tb.LinkPending, SourceHash: "h1"}, false},
		{"skipped by a human", want, tb.Link{State: tb.LinkSkipped}, true},
		{"none and still none", none, tb.Link{State: tb.LinkNone}, true},
		{"none, now a timesheet", want, tb.Link{State: tb.LinkNone, SourceHash: "h0"}, false},
		{"no link, nothing wanted", none, tb.Link{}, true},
		{"no link, a timesheet wanted", want, tb.Link{}, false},
		{"a netting conflict depends on the other entries", netting, tb.Link{}, false},
		{"an unmapped key depends on the entry alone", unmapped, tb.Link{}, true},
	}
	for _, tt := range tests {
		if got := Settled(tt.d, tt.l); got != tt.want {
			t.Errorf("%s: Settled = %v, want %v", tt.name, got, tt.want)
		}
	}
}
