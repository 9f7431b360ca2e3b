package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Regression tests of the exactly-once guarantee (README: The guarantee):
// slow and lost Kimai answers, lost links, paging races, DST, refused and
// unreadable timesheets, stuck cursors, leases. Each one failed on the code
// before its fix (commit 47ff47a).

// A pending claim whose create Kimai has not committed yet (PHP keeps
// running after the client gave up) must not be cleared and created again
// before PendingGrace: when the first request commits, that would be two
// timesheets.
func TestPendingClaimWaitsForGrace(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	// A run claimed the entry and POSTed; Kimai is still working on it.
	claim := tb.Link{ProfileID: h.profile.ID, EntryID: e.ID, TicketID: tid, State: tb.LinkPending, SourceHash: "x",
		EntryCreatedAt: e.CreatedAt, ClaimedAt: h.Now(), RunID: "earlier"}
	if _, err := h.st.PutLink(context.Background(), claim, nil); err != nil {
		t.Fatal(err)
	}
	h.Add(2 * time.Minute)
	r := ticketRun(h, tid)
	if n := len(h.ks.Timesheets()); n != 0 || r.Counts.Created != 0 {
		t.Fatalf("created %d (Kimai holds %d) while the first create may still commit", r.Counts.Created, n)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkPending {
		t.Fatalf("claim cleared before the grace: %+v", l)
	}
	// Now Kimai commits the first request.
	h.ks.AddTimesheet(kimaisim.Sheet{UserID: 1, ProjectID: 1, ActivityID: 1, Timezone: "Europe/Berlin",
		Begin: at(7, 30), End: at(8, 0), Description: "#53003 Order 787556 [" + h.marker(e.ID) + "]"})
	h.Add(time.Minute)
	ticketRun(h, tid)
	if n := len(sheetOf(h, e.ID)); n != 1 {
		t.Fatalf("%d timesheets for one entry", n)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkSynced {
		t.Fatalf("late commit not adopted: %+v", l)
	}
}

// After the grace, a claim whose create never reached Kimai is cleared and
// the entry is created, exactly once.
func TestPendingClaimClearedAfterGrace(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	claim := tb.Link{ProfileID: h.profile.ID, EntryID: e.ID, TicketID: tid, State: tb.LinkPending, SourceHash: "x",
		EntryCreatedAt: e.CreatedAt, ClaimedAt: h.Now(), RunID: "earlier"}
	if _, err := h.st.PutLink(context.Background(), claim, nil); err != nil {
		t.Fatal(err)
	}
	h.Add(engine.DefaultPendingGrace + time.Second)
	ticketRun(h, tid)
	l := mustLink(t, h, tid, e.ID)
	if n := len(sheetOf(h, e.ID)); n != 1 || l.State != tb.LinkSynced {
		t.Fatalf("%d timesheets, link %+v", n, l)
	}
	if l.Version != 4 {
		// claim (1) → withdrawn (2) → claimed again (3) → synced (4): the
		// version never restarts, so an older attempt's write can never
		// match again.
		t.Fatalf("link version %d, want 4", l.Version)
	}
}

// An entry deleted in Zammad while a full run pages through all entries
// shifts the next row onto the page already read. The run must not act on
// the ticket of the skipped row from that incomplete view (before the fix:
// a correction netted into the wrong entry and deleted its unchanged
// timesheet). With few tickets to act on, the run re-reads them one by
// one; with more of them than the scan had pages (a first sync), it scans
// once more, and re-reads only if that second pass misses a row of the
// first (the deletion that shifted it).
func TestFullRunRereadsTicketsItActsOn(t *testing.T) {
	const (
		ticketReads = "GET /api/v1/tickets/{ticket_id}/time_accountings"
		listReads   = "GET /api/v1/time_accountings"
	)
	for _, tc := range []struct {
		name string
		// more tickets with one new entry each, after the first run
		more   int
		delete bool
		// Zammad requests of the second run: tickets read one by one,
		// pages of the entry list
		wantTicketReads, wantListReads int
	}{
		// 5 entries: 2 pages of 3; 1 ticket to act on (p1's, netted
		// anew), and read once more to confirm that p2 is gone (it is not).
		{name: "few tickets: re-read", delete: true, wantTicketReads: 2, wantListReads: 2},
		// 11 entries: 4 pages; 7 tickets to act on; the second pass misses
		// f1, so all 7 are read (and p2's once more).
		{name: "many tickets: second pass, then re-read", more: 6, delete: true, wantTicketReads: 8, wantListReads: 8},
		// Nothing deleted: the second pass vouches for the first.
		{name: "many tickets: second pass only", more: 6, wantTicketReads: 0, wantListReads: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			var armed atomic.Bool
			var victim int64
			h = newHarness(t, options{
				engine: engine.Options{ScanPageSize: 3},
				zammadWrap: func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if armed.Load() && r.URL.Path == "/api/v1/time_accountings" && r.URL.Query().Get("page") == "2" {
							armed.Store(false)
							h.zs.DeleteEntry(victim) // on page 1, already read
						}
						next.ServeHTTP(w, r)
					})
				},
			})
			tid, agent, typ := h.seedBasics()
			other := h.zs.AddTicket(zammadsimTicket(51, "53004"))
			f1 := h.addEntry(other.ID, agent, typ, "5", at(7, 0))
			h.addEntry(other.ID, agent, typ, "5", at(7, 10))
			p1 := h.addEntry(tid, agent, typ, "10", at(8, 0))
			p2 := h.addEntry(tid, agent, typ, "30", at(9, 0))
			h.addEntry(tid, agent, typ, "-10", at(9, 30)) // nets into p2, the latest earlier positive
			h.run(tb.ModeFull)
			before := sheetOf(h, p1.ID)
			if len(before) != 1 || sheetOf(h, p2.ID)[0].Duration != 20*60 {
				t.Fatalf("setup: p1 %v p2 %v", before, sheetOf(h, p2.ID))
			}
			var added []int64
			for i := range tc.more {
				tk := h.zs.AddTicket(zammadsimTicket(int64(60+i), fmt.Sprintf("5310%d", i)))
				added = append(added, h.addEntry(tk.ID, agent, typ, "5", at(11, i)).ID)
			}
			// Page 1 = f1, f2, p1; deleting f1 before page 2 is read moves
			// p2 onto page 1: the scan never sees it.
			victim = f1.ID
			h.Add(time.Minute)
			armed.Store(tc.delete)
			h.zs.ResetCounters()
			r := h.run(tb.ModeFull)
			if armed.Load() {
				t.Fatal("the scan never reached page 2")
			}
			after := sheetOf(h, p1.ID)
			if len(after) != 1 || !plan.SameAsBaseline(before[0], after[0]) {
				t.Fatalf("p1's unchanged timesheet was rewritten or deleted: %v → %v (run %+v)", before, after, r.Counts)
			}
			if s := sheetOf(h, p2.ID); len(s) != 1 || s[0].Duration != 20*60 {
				t.Fatalf("p2: %v", s)
			}
			if cs := h.openConflicts(); len(cs) != 0 {
				t.Fatalf("conflicts from an incomplete view: %+v", cs)
			}
			for _, id := range added {
				if len(sheetOf(h, id)) != 1 {
					t.Fatalf("new entry %d: %v (run %+v %+v)", id, sheetOf(h, id), r.Counts, r.ItemErrors)
				}
			}
			reqs := h.zs.Requests()
			if reqs[ticketReads] != tc.wantTicketReads || reqs[listReads] != tc.wantListReads {
				t.Fatalf("%d tickets read one by one and %d list pages, want %d and %d", reqs[ticketReads], reqs[listReads], tc.wantTicketReads, tc.wantListReads)
			}
			if !tc.delete {
				return
			}
			// The deletion itself happened after its row was read: the
			// next full run sees it.
			h.run(tb.ModeFull)
			if len(sheetOf(h, f1.ID)) != 0 {
				t.Fatalf("the entry really deleted in Zammad kept its timesheet (run %+v %+v)", r.Counts, r.ItemErrors)
			}
		})
	}
}

// A linked timesheet the token may not read (403) is that entry's
// conflict; the rest of the run goes on and the incremental cursor moves.
func TestUnreadableTimesheetIsAConflict(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	other := h.zs.AddTicket(zammadsimTicket(51, "53004"))
	e1 := h.addEntry(tid, agent, typ, "30", at(8, 0))
	e2 := h.addEntry(other.ID, agent, typ, "30", at(8, 0))
	h.run(tb.ModeIncremental)
	// Someone moves e1's timesheet to another user, and the sync user
	// may only see its own timesheets.
	h.ks.AddUser(kimaisim.User{ID: 2, Username: "anna", Email: "anna@example.com", Timezone: "Europe/Berlin", Enabled: true}, "")
	h.ks.EditTimesheet(sheetOf(h, e1.ID)[0].ID, func(s *kimaisim.Sheet) { s.UserID = 2 })
	perms := kimaisim.PermissionsFor(kimaisim.RoleSuperAdmin)
	var without []string
	for _, p := range perms {
		if p != kimaisim.PermViewOtherTimesheet {
			without = append(without, p)
		}
	}
	h.ks.AddUser(kimaisim.User{ID: 1, Username: "sync", Email: "sync@example.com", Timezone: "Europe/Berlin",
		Roles: []string{kimaisim.RoleSuperAdmin}, Permissions: without, Enabled: true}, kToken)
	changeInZammad(h, e1.ID, "45")
	changeInZammad(h, e2.ID, "45")

	r, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeIncremental, Trigger: "test"})
	if err != nil {
		t.Fatalf("one unreadable timesheet failed the run: %v", err)
	}
	if r.Counts.Updated != 1 || sheetOf(h, e2.ID)[0].Duration != 45*60 {
		t.Fatalf("the other entry was not updated: %+v", r.Counts)
	}
	if c := h.conflictOf(e1.ID); c.Kind != tb.ConflictUnreadableInKimai || c.Status != tb.ConflictOpen {
		t.Fatalf("conflict %+v", c)
	}
	cur, ok, err := h.st.GetCursor(context.Background(), h.profile.ID)
	if err != nil || !ok || cur.UpdatedAt.Before(h.Now()) {
		t.Fatalf("cursor %v (ok %v, err %v) did not move to %v", cur.UpdatedAt, ok, err, h.Now())
	}
	if _, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull, Trigger: "test"}); err != nil {
		t.Fatalf("full run: %v", err)
	}
}

// A create Kimai refuses for good (403) is a conflict a human can resolve,
// and the incremental cursor moves past it; before, it was an item error
// that pinned the cursor for ever.
func TestRefusedCreateIsAConflictAndCursorMoves(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.run(tb.ModeIncremental)
	// The sync user loses the right to create timesheets.
	perms := kimaisim.PermissionsFor(kimaisim.RoleSuperAdmin)
	var without []string
	for _, p := range perms {
		if p != kimaisim.PermCreateOwnTimesheet && p != kimaisim.PermCreateOtherTimesheet {
			without = append(without, p)
		}
	}
	h.ks.AddUser(kimaisim.User{ID: 1, Username: "sync", Email: "sync@example.com", Timezone: "Europe/Berlin",
		Roles: []string{kimaisim.RoleSuperAdmin}, Permissions: without, Enabled: true}, kToken)
	h.Add(time.Minute)
	e := h.addEntry(tid, agent, typ, "15", h.Now())
	r := h.run(tb.ModeIncremental)
	if r.Counts.Errors != 0 || r.Counts.Conflicts != 1 {
		t.Fatalf("counts %+v", r.Counts)
	}
	c := h.conflictOf(e.ID)
	if c.Kind != tb.ConflictRejectedByKimai || !strings.Contains(c.Message, "permission") {
		t.Fatalf("conflict %+v", c)
	}
	cur, _, _ := h.st.GetCursor(context.Background(), h.profile.ID)
	if cur.UpdatedAt.Before(e.UpdatedAt) {
		t.Fatalf("cursor %v held before the refused entry (%v)", cur.UpdatedAt, e.UpdatedAt)
	}
	if _, err := h.st.GetLink(context.Background(), h.profile.ID, tid, e.ID); err == nil {
		if l := mustLink(t, h, tid, e.ID); l.State == tb.LinkPending {
			t.Fatalf("claim kept after a certain refusal: %+v", l)
		}
	}
}

// A transient failure holds the incremental cursor only for
// MaxCursorHold; then the daily full run is the one that retries.
func TestTransientFailureHoldsCursorForBoundedTime(t *testing.T) {
	h := newHarness(t, options{engine: engine.Options{MaxCursorHold: 30 * time.Minute, CreateAttempts: 1}})
	tid, agent, typ := h.seedBasics()
	h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.run(tb.ModeIncremental)
	h.Add(time.Minute)
	e := h.addEntry(tid, agent, typ, "15", h.Now())
	h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets", RateLimitRate: 1})
	r := h.run(tb.ModeIncremental)
	if r.Counts.Errors == 0 {
		t.Fatalf("counts %+v", r.Counts)
	}
	cur, _, _ := h.st.GetCursor(context.Background(), h.profile.ID)
	if !cur.UpdatedAt.Before(e.UpdatedAt) {
		t.Fatalf("cursor %v moved past a transiently failing entry (%v); run %+v %+v", cur.UpdatedAt, e.UpdatedAt, r.Counts, r.ItemErrors)
	}
	h.Add(time.Hour)
	later := h.zs.AddTicket(zammadsimTicket(51, "53004"))
	h.addEntry(later.ID, agent, typ, "10", h.Now())
	h.run(tb.ModeIncremental)
	cur, _, _ = h.st.GetCursor(context.Background(), h.profile.ID)
	if want := h.Now().Add(-30 * time.Minute); cur.UpdatedAt.Before(want) {
		t.Fatalf("cursor %v held longer than MaxCursorHold (want ≥ %v)", cur.UpdatedAt, want)
	}
}

// Lost links (a restored table, a link deleted by hand): webhook (ticket),
// incremental and range runs adopt the timesheet found by its marker
// instead of creating a second one. Before, only full runs did, and only
// inside their window.
func TestLostLinkIsAdoptedInEveryMode(t *testing.T) {
	for _, mode := range []tb.RunMode{tb.ModeTicket, tb.ModeIncremental, tb.ModeRange, tb.ModeFull} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t, options{})
			tid, agent, typ := h.seedBasics()
			// An old entry: outside a full run's 60-day window, in a ticket
			// that has a recent one too.
			old := h.addEntry(tid, agent, typ, "30", h.Now().AddDate(0, 0, -200))
			e := h.addEntry(tid, agent, typ, "15", at(8, 0))
			h.run(tb.ModeRange, func(r *engine.Request) { r.From, r.To = h.Now().AddDate(-1, 0, 0), h.Now() })
			if len(h.ks.Timesheets()) != 2 {
				t.Fatalf("setup: %d timesheets", len(h.ks.Timesheets()))
			}
			for _, id := range []int64{old.ID, e.ID} {
				if err := h.st.DeleteLink(context.Background(), mustLink(t, h, tid, id)); err != nil {
					t.Fatal(err)
				}
			}
			changeInZammad(h, e.ID, "20") // so that the incremental scan sees the ticket
			before := h.ks.Requests()["GET /api/timesheets"]
			h.run(mode, func(r *engine.Request) {
				r.TicketID = tid
				r.From, r.To = h.Now().AddDate(-1, 0, 0), h.Now()
			})
			for _, id := range []int64{old.ID, e.ID} {
				if n := len(sheetOf(h, id)); n != 1 {
					t.Fatalf("entry %d has %d timesheets after the lost link", id, n)
				}
				if l := mustLink(t, h, tid, id); l.State != tb.LinkSynced || l.TimesheetID != sheetOf(h, id)[0].ID {
					t.Fatalf("entry %d link %+v", id, l)
				}
			}
			if d := sheetOf(h, e.ID)[0].Duration; d != 20*60 {
				t.Fatalf("adopted timesheet not brought up to date: %d s", d)
			}
			if n := h.ks.Requests()["GET /api/timesheets"] - before; n > 3 {
				t.Fatalf("%d listing requests for two lost links", n)
			}
		})
	}
}

// An entry in the repeated hour of a daylight-saving change can't be sent
// to Kimai (local times without an offset are read as the first
// occurrence): 60 minutes would be stored as 0. It becomes a conflict
// before anything is written; keep_kimai accepts that and the entry stays
// quiet until it changes.
func TestRepeatedHourIsAConflictNotAWrongTimesheet(t *testing.T) {
	h := newHarness(t, options{})
	h.Set(time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC))
	tid, agent, typ := h.seedBasics()
	// 01:45Z is 02:45 CET, the second 02:45 of 25 October 2026 in Berlin;
	// 60 minutes earlier is 02:45 CEST, the first one.
	e := h.addEntry(tid, agent, typ, "60", time.Date(2026, 10, 25, 1, 45, 0, 0, time.UTC))
	ok := h.addEntry(tid, agent, typ, "30", time.Date(2026, 10, 25, 9, 0, 0, 0, time.UTC))
	r := h.run(tb.ModeFull)
	if s := sheetOf(h, e.ID); len(s) != 0 {
		t.Fatalf("wrote a timesheet Kimai can't hold: %+v (%d s)", s, s[0].Duration)
	}
	if len(sheetOf(h, ok.ID)) != 1 || r.Counts.Conflicts != 1 {
		t.Fatalf("counts %+v", r.Counts)
	}
	c := h.conflictOf(e.ID)
	if c.Kind != tb.ConflictTimeMismatch || !strings.Contains(c.Message, "repeats") {
		t.Fatalf("conflict %+v", c)
	}
	h.resolve(e.ID, tb.ResolveKeepKimai)
	h.Add(time.Minute)
	r = h.run(tb.ModeFull)
	if len(h.openConflicts()) != 0 || r.Counts.Created != 0 {
		t.Fatalf("after keep_kimai: %+v, conflicts %+v", r.Counts, h.openConflicts())
	}
}

// What Kimai stored is compared with what was sent: a shifted time (here
// the Kimai user's zone changed between the run reading it and writing) is
// never taken silently as the baseline.
func TestStoredTimeShiftIsAConflict(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	var switched atomic.Bool
	h.ks.SetFaults(kimaisim.Faults{Match: func(method, path string) bool {
		if method == http.MethodPost && path == "/api/timesheets" && switched.CompareAndSwap(false, true) {
			h.ks.AddUser(kimaisim.User{ID: 1, Username: "sync", Email: "sync@example.com", Timezone: "Europe/London",
				Roles: []string{kimaisim.RoleSuperAdmin}, Enabled: true}, kToken)
		}
		return false
	}})
	h.run(tb.ModeFull)
	s := sheetOf(h, e.ID)
	if len(s) != 1 {
		t.Fatalf("%d timesheets", len(s))
	}
	c := h.conflictOf(e.ID)
	if c.Kind != tb.ConflictTimeMismatch || c.Status != tb.ConflictOpen || c.Kimai == nil || c.Kimai.ID != s[0].ID {
		t.Fatalf("conflict %+v", c)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkSynced || l.TimesheetID != s[0].ID {
		t.Fatalf("the created timesheet must stay linked: %+v", l)
	}
	writes := h.kimaiWrites()
	h.Add(time.Minute)
	h.run(tb.ModeFull)
	if h.kimaiWrites() != writes || len(sheetOf(h, e.ID)) != 1 {
		t.Fatal("the blocked entry was written again")
	}
	h.resolve(e.ID, tb.ResolveKeepKimai)
	h.run(tb.ModeFull)
	if len(h.openConflicts()) != 0 || h.kimaiWrites() != writes {
		t.Fatalf("after keep_kimai: conflicts %+v", h.openConflicts())
	}
}

// A run renews its lease while it works: a second run of the profile
// started after the lease's term is still refused (before, the lease simply
// expired after its TTL and two runs wrote at once).
func TestRunRenewsItsLease(t *testing.T) {
	h := newHarness(t, options{engine: engine.Options{LeaseTTL: time.Second}, profile: func(p *tb.Profile) { p.Concurrency = 1 }})
	tid, agent, typ := h.seedBasics()
	for i := 0; i < 40; i++ {
		h.addEntry(tid, agent, typ, "15", at(8, i))
	}
	h.ks.SetFaults(kimaisim.Faults{Latency: 60 * time.Millisecond, Method: http.MethodPost, PathPrefix: "/api/timesheets"})
	done := make(chan tb.Run)
	go func() {
		r, _ := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull, Trigger: "test"})
		done <- r
	}()
	time.Sleep(1500 * time.Millisecond) // past the first lease term
	_, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull, Trigger: "test"})
	first := <-done
	if !errors.Is(err, engine.ErrBusy) {
		t.Fatalf("a second run started while the first was working: %v (first: %s %+v)", err, first.Status, first.Counts)
	}
	if first.Status != tb.RunSucceeded || first.Counts.Created != 40 {
		t.Fatalf("first run %s %+v", first.Status, first.Counts)
	}
}

// A run that cannot renew its lease stops before its term ends: another run
// may take over then, and the two must never write at once.
func TestRunStopsWhenItLosesItsLease(t *testing.T) {
	h := newHarness(t, options{engine: engine.Options{LeaseTTL: 600 * time.Millisecond}, profile: func(p *tb.Profile) { p.Concurrency = 1 }})
	tid, agent, typ := h.seedBasics()
	for i := 0; i < 40; i++ {
		h.addEntry(tid, agent, typ, "15", at(8, i))
	}
	h.ks.SetFaults(kimaisim.Faults{Latency: 60 * time.Millisecond, Method: http.MethodPost, PathPrefix: "/api/timesheets"})
	var takes atomic.Int32
	h.renewals = func() error {
		if takes.Add(1) > 1 { // the first take succeeds, every renewal fails
			return errors.New("dynamodb unreachable")
		}
		return nil
	}
	start := time.Now()
	r, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull, Trigger: "test"})
	if err == nil || r.Counts.Created >= 40 {
		t.Fatalf("the run went on without its lease: %v %+v", err, r.Counts)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("stopped only after %v", el)
	}
	h.renewals = nil
	h.ks.ClearFaults()
	h.ks.WaitIdle()                    // writes the lost run had started end
	time.Sleep(700 * time.Millisecond) // the lost lease's term ends
	h.Add(engine.DefaultPendingGrace + time.Minute)
	h.run(tb.ModeFull)
	for id, ss := range h.sheetsByEntry() {
		if len(ss) != 1 {
			t.Fatalf("entry %d has %d timesheets", id, len(ss))
		}
	}
	if n := len(h.ks.Timesheets()); n != 40 {
		t.Fatalf("%d timesheets", n)
	}
}

// A resolution that writes to Kimai (use_zammad on duplicates deletes the
// extras) holds the profile's lease: while a run holds it, nothing is
// deleted.
func TestResolutionTakesTheLease(t *testing.T) {
	h := newHarness(t, options{})
	id := scenarios[tb.ConflictDuplicateInKimai].produce(h)
	before := len(sheetOf(h, id))
	if before < 2 {
		t.Fatalf("setup: %d timesheets", before)
	}
	if _, ok, err := h.st.TakeLease(context.Background(), "profile-"+h.profile.ID, "a-running-run", time.Minute); err != nil || !ok {
		t.Fatalf("take lease: %v %v", ok, err)
	}
	_, err := h.eng.Resolve(context.Background(), tb.ConflictID(h.profile.ID, id), tb.ResolveUseZammad, "tester")
	if !errors.Is(err, engine.ErrBusy) {
		t.Fatalf("resolution ran beside a run: %v", err)
	}
	if n := len(sheetOf(h, id)); n != before {
		t.Fatalf("%d → %d timesheets while another run held the lease", before, n)
	}
	if err := h.st.EndLease(context.Background(), "profile-"+h.profile.ID, "a-running-run"); err != nil {
		t.Fatal(err)
	}
	h.resolve(id, tb.ResolveUseZammad)
	if n := len(sheetOf(h, id)); n != 1 {
		t.Fatalf("%d timesheets after use_zammad", n)
	}
}

// A create that times out while Kimai keeps working on it (PHP finishes a
// request whose client hung up) is never POSTed again in the same run; the
// next run adopts the timesheet once Kimai committed it. Before, the engine
// searched the marker at once, found nothing and POSTed again: two
// timesheets.
func TestTimedOutCreateThatKimaiFinishesLater(t *testing.T) {
	policy := fastPolicy()
	policy.AttemptTimeout = 150 * time.Millisecond
	h := newHarness(t, options{policy: policy})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.ks.SetFaults(kimaisim.Faults{SlowCommitRate: 1, SlowCommitDelay: 400 * time.Millisecond})
	h.ks.ResetCounters()
	r := ticketRun(h, tid)
	if n := h.ks.Requests()["POST /api/timesheets"]; n != 1 {
		t.Fatalf("%d POSTs for one entry whose first create was still running (run %+v)", n, r.Counts)
	}
	h.ks.WaitIdle()
	h.ks.ClearFaults()
	if n := len(sheetOf(h, e.ID)); n != 1 {
		t.Fatalf("%d timesheets once Kimai finished", n)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkPending {
		t.Fatalf("link %+v, want the claim kept pending", l)
	}
	h.Add(time.Minute)
	ticketRun(h, tid)
	if n := len(sheetOf(h, e.ID)); n != 1 {
		t.Fatalf("%d timesheets after recovery", n)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkSynced || l.TimesheetID != sheetOf(h, e.ID)[0].ID {
		t.Fatalf("not adopted: %+v", l)
	}
}

// A Kimai user whose zone Timebridge does not know fails the run with a
// message saying so; before, the run silently booked in UTC.
func TestUnknownKimaiZoneFailsTheRun(t *testing.T) {
	h := newHarness(t, options{kimaiTZ: "Mars/Olympus"})
	tid, agent, typ := h.seedBasics()
	h.addEntry(tid, agent, typ, "30", at(8, 0))
	r, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull, Trigger: "test"})
	if !apperr.Is(err, apperr.Validation) || r.Error == nil || !strings.Contains(r.Error.Message, "Mars/Olympus") {
		t.Fatalf("err %v, run error %+v", err, r.Error)
	}
	if n := len(h.ks.Timesheets()); n != 0 {
		t.Fatalf("%d timesheets written in a guessed zone", n)
	}
}

// A ticket in a group the token's user may not read answers 403 (Zammad's
// TicketPolicy), though the admin-level entry list shows its entries: that
// ticket is the run's item error naming the missing access, it is never
// taken for deleted, and the other tickets sync. Before the fix the whole
// run failed.
func TestUnreadableTicketIsAnItemError(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	secret := h.zs.AddGroup(zammadsim.Group{ID: 9, Name: "Secret"})
	hidden := h.zs.AddTicket(zammadsim.Ticket{ID: 70, Number: "53070", Title: "Hidden", OrganizationID: 2, GroupID: secret.ID, CustomerID: 3})
	h.zs.SetUserGroups(1, map[int64][]string{1: {"full"}})
	e1 := h.addEntry(tid, agent, typ, "15", at(8, 0))
	e2 := h.addEntry(hidden.ID, agent, typ, "30", at(9, 0))
	for _, mode := range []tb.RunMode{tb.ModeFull, tb.ModeIncremental} {
		r := h.run(mode)
		if r.Status == tb.RunFailed || len(sheetOf(h, e1.ID)) != 1 || len(sheetOf(h, e2.ID)) != 0 {
			t.Fatalf("%s: %s %+v %+v; e1 %v e2 %v", mode, r.Status, r.Counts, r.ItemErrors, sheetOf(h, e1.ID), sheetOf(h, e2.ID))
		}
		if len(r.ItemErrors) != 1 || r.ItemErrors[0].TicketID != hidden.ID || r.ItemErrors[0].Class != string(apperr.Permission) ||
			!strings.Contains(r.ItemErrors[0].Message, "read access to the ticket's group") {
			t.Fatalf("%s: item errors %+v", mode, r.ItemErrors)
		}
	}
	// Given access, it syncs.
	h.zs.SetUserGroups(1, map[int64][]string{1: {"full"}, secret.ID: {"full"}})
	if r := h.run(tb.ModeFull); r.Counts.Errors != 0 || len(sheetOf(h, e2.ID)) != 1 {
		t.Fatalf("with access: %+v %+v", r.Counts, r.ItemErrors)
	}
	// Access taken away again: its timesheet stays.
	h.zs.SetUserGroups(1, map[int64][]string{1: {"full"}})
	h.Add(time.Minute)
	if r := h.run(tb.ModeFull); r.Counts.Deleted != 0 || len(sheetOf(h, e2.ID)) != 1 || r.Counts.Errors != 1 {
		t.Fatalf("access lost: %+v %+v; e2 %v", r.Counts, r.ItemErrors, sheetOf(h, e2.ID))
	}
}
