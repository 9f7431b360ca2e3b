package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Regression tests for exactly-once holes found in review.

// keep_kimai on a duplicate conflict of an unlinked entry (link lost, copy
// in Kimai) must adopt one of them, never create a third.
func TestKeepKimaiOnUnlinkedDuplicates(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.run(tb.ModeFull)
	if err := h.st.DeleteLink(context.Background(), mustLink(t, h, tid, e.ID)); err != nil {
		t.Fatal(err)
	}
	s, _ := h.ks.Sheet(sheetOf(h, e.ID)[0].ID)
	s.ID = 0
	h.ks.AddTimesheet(s)
	h.run(tb.ModeFull)
	if c := h.conflictOf(e.ID); c.Kind != tb.ConflictDuplicateInKimai {
		t.Fatalf("conflict %+v", c)
	}
	h.resolve(e.ID, tb.ResolveKeepKimai)
	h.Add(time.Minute)
	h.run(tb.ModeFull)
	ticketRun(h, tid)
	if n := len(sheetOf(h, e.ID)); n != 2 || len(h.openConflicts()) != 0 {
		t.Fatalf("%d timesheets, %d open conflicts after keep_kimai", n, len(h.openConflicts()))
	}
}

// An update that reached Kimai but whose link write was lost is Timebridge's
// own write: the next run catches the link up instead of raising
// edited_in_kimai.
func TestInterruptedUpdateIsNotAConflict(t *testing.T) {
	h := newHarness(t, options{})
	tid, _, _, e := synced(h)
	changeInZammad(h, e.ID, "45")
	h.crash = func(l tb.Link) bool { return l.EntryID == e.ID }
	ticketRun(h, tid)
	h.crash = nil
	writes := h.kimaiWrites()
	ticketRun(h, tid)
	if cs := h.openConflicts(); len(cs) != 0 {
		t.Fatalf("open conflicts %+v", cs)
	}
	if h.kimaiWrites() != writes || sheetOf(h, e.ID)[0].Duration != 45*60 {
		t.Fatal("the catch-up wrote to Kimai or lost the update")
	}
}

// An ambiguous POST followed by a failing marker search must not be POSTed
// again: the pending link waits, and the next run adopts the timesheet.
func TestUnsettledCreateIsNotRepeated(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	var posts, gets atomic.Int32
	h.ks.SetFaults(kimaisim.Faults{FailAfterWriteRate: 1, Match: func(m, p string) bool {
		if m == "POST" && p == "/api/timesheets" && posts.Add(1) == 1 {
			h.ks.SetFaults(kimaisim.Faults{ErrorRate: 1, Match: func(m, p string) bool {
				return m == "GET" && p == "/api/timesheets" && gets.Add(1) <= 12
			}})
			return true
		}
		return false
	}})
	r, _ := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeTicket, TicketID: tid, Trigger: "test"})
	h.ks.ClearFaults()
	if n := len(sheetOf(h, e.ID)); n != 1 || posts.Load() != 1 || r.Counts.Errors == 0 {
		t.Fatalf("%d timesheets after %d POSTs (run %+v)", n, posts.Load(), r.Counts)
	}
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkPending {
		t.Fatalf("the claim was released: %+v", l)
	}
	ticketRun(h, tid)
	if l := mustLink(t, h, tid, e.ID); l.State != tb.LinkSynced || len(sheetOf(h, e.ID)) != 1 {
		t.Fatalf("not recovered: %+v", l)
	}
}

// A timesheet edited out of the full run's listing (begin moved before the
// window) still exists: it must not be declared deleted, and later
// changes must never produce a second one.
func TestTimesheetOutsideListingIsNotDeleted(t *testing.T) {
	h := newHarness(t, options{})
	tid, _, _, e := synced(h)
	id := sheetOf(h, e.ID)[0].ID
	h.ks.EditTimesheet(id, func(s *kimaisim.Sheet) {
		s.Begin = s.Begin.AddDate(0, 0, -90)
		s.End = s.End.AddDate(0, 0, -90)
	})
	h.run(tb.ModeFull)
	for _, c := range h.openConflicts() {
		if c.Kind == tb.ConflictDeletedInKimai {
			t.Fatalf("a live timesheet was declared deleted: %+v", c)
		}
	}
	changeInZammad(h, e.ID, "45")
	ticketRun(h, tid)
	if n := len(sheetOf(h, e.ID)); n != 1 {
		t.Fatalf("%d timesheets", n)
	}
}

// A create left pending for an entry outside the deletion window (a
// backfill that crashed before its link write) is settled by the next full
// run, not left waiting for ever.
func TestStrayPendingOutsideWindowIsSettled(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	old := h.addEntry(tid, agent, typ, "30", time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC))
	h.crash = func(l tb.Link) bool { return l.EntryID == old.ID }
	h.run(tb.ModeRange, func(r *engine.Request) {
		r.From, r.To = time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	})
	h.crash = nil
	if l := mustLink(t, h, tid, old.ID); l.State != tb.LinkPending {
		t.Fatalf("setup: %+v", l)
	}
	// The ticket has nothing inside the window, so the full run does not
	// plan the entry: only the stray sweep can settle it.
	h.run(tb.ModeFull)
	if l := mustLink(t, h, tid, old.ID); l.State != tb.LinkSynced || len(sheetOf(h, old.ID)) != 1 {
		t.Fatalf("stray pending not settled: %+v", l)
	}
}
