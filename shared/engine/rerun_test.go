package engine_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Issue 12: an unchanged full re-run reads the entry list (that is how
// deletions are found) and its tickets 200 a request, nothing one by one,
// and writes nothing to Kimai; every real change is still seen.

const (
	keyEntries = "GET /api/v1/time_accountings"
	keySearch  = "POST /api/v1/tickets/search"
	keyTicket  = "GET /api/v1/tickets/{id}"
	keyTypes   = "GET /api/v1/time_accounting/types"
)

// seedRerun seeds entries on tickets within the deletion window and runs a
// first full sync that must succeed.
func seedRerun(h *harness, tickets, entries int) zammadsim.Demo {
	h.t.Helper()
	demo := h.zs.SeedDemo(zammadsim.DemoConfig{Seed: 42, Tickets: tickets, Entries: entries,
		Start: h.Now().Add(-50 * 24 * time.Hour), Span: 45 * 24 * time.Hour})
	if first := h.run(tb.ModeFull); first.Status != tb.RunSucceeded || first.Counts.Created == 0 {
		h.t.Fatalf("first run: %s %+v %+v", first.Status, first.Counts, first.ItemErrors)
	}
	return demo
}

// cheapRerun is what an unchanged full run of the simulator's data must
// cost in Zammad: the entry list's pages (1000 a page, plus the empty page
// that ends it), one search per 200 tickets with entries, the types.
func cheapRerun(h *harness) map[string]int {
	tickets := map[int64]bool{}
	es := h.zs.Entries()
	for _, e := range es {
		tickets[e.TicketID] = true
	}
	return map[string]int{keyEntries: len(es)/1000 + 1, keySearch: (len(tickets) + 199) / 200, keyTypes: 1}
}

// assertUnchanged runs a full run and checks it changed nothing and cost
// exactly want in Zammad requests.
func assertUnchanged(t *testing.T, h *harness, mode tb.RunMode, mut ...func(*engine.Request)) {
	t.Helper()
	h.zs.ResetCounters()
	h.ks.ResetCounters()
	run := h.run(mode, mut...)
	got, want := h.zs.Requests(), cheapRerun(h)
	t.Logf("unchanged %s re-run: %+v; Zammad %s; Kimai %s", mode, run.Counts, top(got), top(h.ks.Requests()))
	if run.Status != tb.RunSucceeded || run.Counts.Created+run.Counts.Updated+run.Counts.Deleted+run.Counts.Errors+run.Counts.Conflicts != 0 {
		t.Errorf("unchanged re-run: %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
	}
	if n := h.kimaiWrites(); n != 0 {
		t.Errorf("unchanged re-run wrote to Kimai %d times: %s", n, top(h.ks.Requests()))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Zammad requests %s, want %s", top(got), top(want))
	}
}

func TestUnchangedFullRerunIsCheap(t *testing.T) {
	h := newHarness(t, options{})
	seedRerun(h, 250, 2000)
	want := cheapRerun(h)
	if want[keySearch] != 2 || want[keyEntries] != 3 {
		t.Fatalf("the data should need 2 searches and 3 entry pages: %v", want)
	}
	assertUnchanged(t, h, tb.ModeFull)
	if n := sum(h.zs.Requests()); n > 6 {
		t.Errorf("%d Zammad requests, want ≤ 6", n)
	}
	assertUnchanged(t, h, tb.ModeRange, func(r *engine.Request) { r.From, r.To = h.Now().AddDate(0, 0, -60), h.Now().Add(time.Hour) })
}

// sheetSnapshot is Kimai's timesheets by id.
func sheetSnapshot(h *harness) map[int64]tb.Timesheet {
	out := map[int64]tb.Timesheet{}
	for _, s := range h.ks.Timesheets() {
		out[s.ID] = s
	}
	return out
}

// sheetDiff lists the timesheets created, changed and deleted between two
// snapshots, by the Zammad ticket of the entry each one carries
// (ticketOf maps entry ids to tickets, taken before the change).
type sheetDiff struct{ created, changed, deleted map[int64][]int64 }

func diffSheets(t *testing.T, h *harness, before, after map[int64]tb.Timesheet, ticketOf map[int64]int64) sheetDiff {
	t.Helper()
	d := sheetDiff{created: map[int64][]int64{}, changed: map[int64][]int64{}, deleted: map[int64][]int64{}}
	ticket := func(s tb.Timesheet) int64 {
		_, eid, ok := plan.ParseMarker(s.Description)
		if !ok {
			t.Fatalf("timesheet %d without a marker: %q", s.ID, s.Description)
		}
		return ticketOf[eid]
	}
	for id, a := range after {
		b, had := before[id]
		switch {
		case !had:
			d.created[ticket(a)] = append(d.created[ticket(a)], id)
		case !reflect.DeepEqual(a, b):
			d.changed[ticket(a)] = append(d.changed[ticket(a)], id)
		}
	}
	for id, b := range before {
		if _, ok := after[id]; !ok {
			d.deleted[ticket(b)] = append(d.deleted[ticket(b)], id)
		}
	}
	return d
}

// TestFullRunSeesEveryChange: changes made in Zammad between two full runs
// reach Kimai, on exactly the timesheets they concern, whether or not the
// ticket search works; after each, an unchanged run is cheap again.
func TestFullRunSeesEveryChange(t *testing.T) {
	var searchGone atomic.Bool // the search answers 404 as a Zammad without it would
	h := newHarness(t, options{zammadWrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if searchGone.Load() && r.Method == http.MethodPost && r.URL.Path == "/api/v1/tickets/search" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"error":"No route matches [POST] /api/v1/tickets/search"}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}})
	demo := seedRerun(h, 40, 400)
	assertUnchanged(t, h, tb.ModeFull)
	otherOrg := h.zs.AddOrganization(zammadsim.Organization{Name: "Moved Here Ltd."})

	// soloEntry is a positive entry with a timesheet, the only entry of
	// its agent on its ticket (so no netting ties it to another), on a
	// ticket not used by an earlier case.
	used := map[int64]bool{}
	soloEntry := func(t *testing.T) zammadsim.Entry {
		t.Helper()
		es := h.zs.Entries()
		per := map[[2]int64]int{}
		for _, e := range es {
			per[[2]int64{e.TicketID, e.CreatedByID}]++
		}
		byEntry := h.sheetsByEntry()
		for _, e := range es {
			if !used[e.TicketID] && e.TimeUnit.Sign() > 0 && per[[2]int64{e.TicketID, e.CreatedByID}] == 1 && len(byEntry[e.ID]) == 1 {
				used[e.TicketID] = true
				return e
			}
		}
		t.Fatal("no entry of its own")
		return zammadsim.Entry{}
	}
	// busyTicket is a ticket with at least three timesheets, not used by
	// an earlier case.
	busyTicket := func(t *testing.T) int64 {
		t.Helper()
		n := map[int64]int{}
		byEntry := h.sheetsByEntry()
		for _, e := range h.zs.Entries() {
			if len(byEntry[e.ID]) == 1 {
				n[e.TicketID]++
			}
		}
		for _, id := range demo.TicketIDs {
			if n[id] >= 3 && !used[id] {
				used[id] = true
				return id
			}
		}
		t.Fatal("no busy ticket")
		return 0
	}
	sheetsOf := func(ticket int64) []int64 {
		var ids []int64
		byEntry := h.sheetsByEntry()
		for _, e := range h.zs.Entries() {
			if e.TicketID == ticket {
				for _, s := range byEntry[e.ID] {
					ids = append(ids, s.ID)
				}
			}
		}
		slices.Sort(ids)
		return ids
	}
	rename := func(ticket int64) func(*zammadsim.Ticket) {
		return func(tk *zammadsim.Ticket) { tk.Title = fmt.Sprintf("Renamed %d", ticket) }
	}

	tests := []struct {
		name string
		// change changes Zammad and returns the ticket it concerns and
		// the timesheets expected to change and to be deleted.
		change           func(t *testing.T) (ticket int64, changed, deleted []int64)
		searchDown       bool             // the search answers 404
		faults           zammadsim.Faults // on the search
		updated, removed bool             // expected run counts > 0
	}{
		{name: "organization changed", updated: true, change: func(t *testing.T) (int64, []int64, []int64) {
			id := busyTicket(t)
			h.zs.UpdateTicket(id, func(tk *zammadsim.Ticket) { tk.OrganizationID = otherOrg.ID })
			return id, sheetsOf(id), nil
		}},
		{name: "title changed", updated: true, change: func(t *testing.T) (int64, []int64, []int64) {
			id := busyTicket(t)
			h.zs.UpdateTicket(id, rename(id))
			return id, sheetsOf(id), nil
		}},
		{name: "entry deleted", removed: true, change: func(t *testing.T) (int64, []int64, []int64) {
			e := soloEntry(t)
			s := h.sheetsByEntry()[e.ID][0].ID
			h.zs.DeleteEntry(e.ID)
			return e.TicketID, nil, []int64{s}
		}},
		{name: "entry type changed only", updated: true, change: func(t *testing.T) (int64, []int64, []int64) {
			e := soloEntry(t)
			before, _ := h.zs.Ticket(e.TicketID)
			h.Add(time.Minute)
			typ := demo.TypeIDs[0]
			if e.TypeID == typ {
				typ = demo.TypeIDs[1]
			}
			h.zs.UpdateEntry(e.ID, func(x *zammadsim.Entry) { x.TypeID = typ })
			if after, _ := h.zs.Ticket(e.TicketID); !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("a type change moved the ticket's updated_at")
			}
			return e.TicketID, []int64{h.sheetsByEntry()[e.ID][0].ID}, nil
		}},
		{name: "ticket deleted", removed: true, change: func(t *testing.T) (int64, []int64, []int64) {
			id := busyTicket(t)
			gone := sheetsOf(id)
			h.zs.DeleteTicket(id)
			return id, nil, gone
		}},
		{name: "search fails (5xx): renamed", updated: true, faults: zammadsim.Faults{Method: "POST", Path: "/api/v1/tickets/search", ErrorRate: 1},
			change: func(t *testing.T) (int64, []int64, []int64) {
				id := busyTicket(t)
				h.zs.UpdateTicket(id, rename(id))
				return id, sheetsOf(id), nil
			}},
		{name: "search answers garbage: renamed", updated: true, faults: zammadsim.Faults{Method: "POST", Path: "/api/v1/tickets/search", MalformedRate: 1},
			change: func(t *testing.T) (int64, []int64, []int64) {
				id := busyTicket(t)
				h.zs.UpdateTicket(id, rename(id))
				return id, sheetsOf(id), nil
			}},
		{name: "no search (old Zammad, 404): organization changed", updated: true, searchDown: true,
			change: func(t *testing.T) (int64, []int64, []int64) {
				id := busyTicket(t)
				h.zs.UpdateTicket(id, func(tk *zammadsim.Ticket) { tk.OrganizationID = otherOrg.ID })
				return id, sheetsOf(id), nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ticketOf := map[int64]int64{}
			for _, e := range h.zs.Entries() {
				ticketOf[e.ID] = e.TicketID
			}
			before := sheetSnapshot(h)
			h.Add(time.Minute)
			ticket, wantChanged, wantDeleted := tt.change(t)
			slices.Sort(wantChanged)
			slices.Sort(wantDeleted)
			if len(wantChanged)+len(wantDeleted) == 0 {
				t.Fatal("the case expects no change")
			}

			searchGone.Store(tt.searchDown)
			h.zs.SetFaults(tt.faults)
			h.zs.ResetCounters()
			run := h.run(tb.ModeFull)
			h.zs.SetFaults(zammadsim.Faults{})
			searchGone.Store(false)
			zreq := h.zs.Requests()
			t.Logf("%+v; Zammad %s; Kimai %s", run.Counts, top(zreq), top(h.ks.Requests()))

			if run.Status != tb.RunSucceeded || run.Counts.Errors+run.Counts.Conflicts+run.Counts.Created != 0 ||
				(run.Counts.Updated > 0) != tt.updated || (run.Counts.Deleted > 0) != tt.removed {
				t.Fatalf("run: %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
			}
			d := diffSheets(t, h, before, sheetSnapshot(h), ticketOf)
			for _, m := range []map[int64][]int64{d.changed, d.deleted} {
				for id := range m {
					slices.Sort(m[id])
				}
			}
			if len(d.created) != 0 || len(d.changed) > 1 || len(d.deleted) > 1 ||
				!slices.Equal(d.changed[ticket], wantChanged) || !slices.Equal(d.deleted[ticket], wantDeleted) {
				t.Errorf("Kimai changes %+v, want on ticket %d changed %v deleted %v", d, ticket, wantChanged, wantDeleted)
			}
			if run.Counts.Updated != len(wantChanged) || run.Counts.Deleted != len(wantDeleted) {
				t.Errorf("counts %+v, want %d updated, %d deleted", run.Counts, len(wantChanged), len(wantDeleted))
			}
			// Without a working search every ticket is read on its own;
			// with it, none. (A ticket the search leaves out because the
			// token may not read its group is refused on its own too: see
			// TestUnreadableTicketIsAnItemError.)
			want := 0
			if tt.searchDown || tt.faults != (zammadsim.Faults{}) {
				want = ticketsInScope(h)
			}
			if zreq[keyTicket] != want {
				t.Errorf("%d single ticket reads, want %d", zreq[keyTicket], want)
			}
			assertUnchanged(t, h, tb.ModeFull)
		})
	}
}

// ticketsInScope counts the tickets with entries (all in the window).
func ticketsInScope(h *harness) int {
	ts := map[int64]bool{}
	for _, e := range h.zs.Entries() {
		ts[e.TicketID] = true
	}
	return len(ts)
}
