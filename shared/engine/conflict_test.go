package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// scenario produces one conflict of a kind for one entry.
type scenario struct {
	opts    options
	produce func(h *harness) int64 // returns the entry id
	// fix removes the cause (for retry).
	fix func(h *harness, entryID int64)
}

func synced(h *harness) (tid, agent, typ int64, e zammadsim.Entry) {
	tid, agent, typ = h.seedBasics()
	e = h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.run(tb.ModeFull)
	return
}

func changeInZammad(h *harness, id int64, units string) {
	h.Add(time.Minute)
	h.zs.UpdateEntry(id, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse(units) })
}

func sheetOf(h *harness, entryID int64) []tb.Timesheet { return h.sheetsByEntry()[entryID] }

func ticketRun(h *harness, tid int64) tb.Run {
	return h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
}

var scenarios = map[tb.ConflictKind]scenario{
	tb.ConflictEditedInKimai: {produce: func(h *harness) int64 {
		tid, _, _, e := synced(h)
		h.ks.EditTimesheet(sheetOf(h, e.ID)[0].ID, func(s *kimaisim.Sheet) { s.Description += " (checked)" })
		changeInZammad(h, e.ID, "45")
		ticketRun(h, tid)
		return e.ID
	}},
	tb.ConflictDeletedInKimai: {produce: func(h *harness) int64 {
		tid, _, _, e := synced(h)
		h.ks.DeleteTimesheet(sheetOf(h, e.ID)[0].ID)
		changeInZammad(h, e.ID, "45")
		ticketRun(h, tid)
		return e.ID
	}},
	tb.ConflictLockedInKimai: {produce: func(h *harness) int64 {
		tid, _, _, e := synced(h)
		h.ks.SetExported(sheetOf(h, e.ID)[0].ID, true)
		changeInZammad(h, e.ID, "45")
		ticketRun(h, tid)
		return e.ID
	}, fix: func(h *harness, id int64) { h.ks.SetExported(sheetOf(h, id)[0].ID, false) }},
	tb.ConflictDuplicateInKimai: {produce: func(h *harness) int64 {
		tid, agent, typ := h.seedBasics()
		e := h.addEntry(tid, agent, typ, "30", at(8, 0))
		h.crash = func(l tb.Link) bool { return l.EntryID == e.ID }
		h.run(tb.ModeFull) // Kimai created it, the link write "crashed"
		h.crash = nil
		s, _ := h.ks.Sheet(sheetOf(h, e.ID)[0].ID)
		s.ID = 0
		h.ks.AddTimesheet(s) // someone copied it in Kimai
		h.run(tb.ModeFull)
		return e.ID
	}},
	tb.ConflictDeletedInZammad: {produce: func(h *harness) int64 {
		_, _, _, e := synced(h)
		h.ks.EditTimesheet(sheetOf(h, e.ID)[0].ID, func(s *kimaisim.Sheet) { s.Description += " (billed)" })
		h.zs.DeleteEntry(e.ID)
		h.run(tb.ModeFull)
		return e.ID
	}},
	tb.ConflictUnmappedActivity: {
		opts:    options{profile: func(p *tb.Profile) { p.AutoCreateActivities = false }},
		produce: oneEntry,
		fix: func(h *harness, id int64) {
			a := h.ks.AddActivity(kimaisim.Activity{Name: "Support"})
			mustMap(h, tb.MapActivity, "2", a.ID)
		}},
	tb.ConflictUnmappedCustomer: {
		opts:    options{profile: func(p *tb.Profile) { p.AutoCreateCustomers = false }},
		produce: oneEntry,
		fix: func(h *harness, id int64) {
			c := h.ks.AddCustomer(kimaisim.Customer{Name: "Chrispresso"})
			mustMap(h, tb.MapCustomer, "2", c.ID)
		}},
	tb.ConflictUnmappedProject: {
		opts:    options{profile: func(p *tb.Profile) { p.ProjectStrategy = tb.ProjectPerTicket; p.AutoCreateProjects = false }},
		produce: oneEntry,
		fix: func(h *harness, id int64) {
			c := h.ks.AddCustomer(kimaisim.Customer{Name: "Chrispresso"})
			p := h.ks.AddProject(kimaisim.Project{CustomerID: c.ID, Name: "Order 787556"})
			mustMap(h, tb.MapProject, "ticket-50", p.ID)
		}},
	tb.ConflictUnmappedUser: {
		opts:    options{profile: func(p *tb.Profile) { p.UserMode = tb.UserExplicit; p.StrictUsers = true }},
		produce: oneEntry,
		fix:     func(h *harness, id int64) { mustMap(h, tb.MapUser, "3", 1) }},
	tb.ConflictRejectedByKimai: {
		produce: func(h *harness) int64 {
			tid, agent, typ := h.seedBasics()
			// An activity bound to another project: Kimai refuses the pair.
			c := h.ks.AddCustomer(kimaisim.Customer{Name: "Elsewhere"})
			p := h.ks.AddProject(kimaisim.Project{CustomerID: c.ID, Name: "Other"})
			a := h.ks.AddActivity(kimaisim.Activity{ProjectID: p.ID, Name: "Other only"})
			mustMap(h, tb.MapActivity, "2", a.ID)
			e := h.addEntry(tid, agent, typ, "30", at(8, 0))
			h.run(tb.ModeFull)
			return e.ID
		},
		fix: func(h *harness, id int64) {
			a := h.ks.AddActivity(kimaisim.Activity{Name: "Global support"})
			mustMap(h, tb.MapActivity, "2", a.ID)
		}},
	tb.ConflictUnmatchedNegative: {
		produce: func(h *harness) int64 {
			tid, agent, typ := h.seedBasics()
			e := h.addEntry(tid, agent, typ, "-30", at(8, 0))
			h.run(tb.ModeFull)
			return e.ID
		},
		fix: func(h *harness, id int64) {
			e, _ := h.zs.Entry(id)
			h.addEntry(e.TicketID, e.CreatedByID, e.TypeID, "60", at(7, 0))
		}},
}

// oneEntry books one entry and runs a full sync.
func oneEntry(h *harness) int64 {
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", at(8, 0))
	h.run(tb.ModeFull)
	return e.ID
}

func mustMap(h *harness, kind tb.MappingKind, src string, target int64) {
	h.t.Helper()
	if err := h.st.PutMapping(context.Background(), tb.Mapping{ProfileID: h.profile.ID, Kind: kind, SourceID: src, TargetID: target}); err != nil {
		h.t.Fatal(err)
	}
}

// TestConflicts produces every conflict kind and resolves it with every
// resolution that applies, checking Kimai and the next run afterwards.
func TestConflicts(t *testing.T) {
	for kind, sc := range scenarios {
		for _, res := range kind.Resolutions() {
			t.Run(fmt.Sprintf("%s/%s", kind, res), func(t *testing.T) {
				h := newHarness(t, sc.opts)
				id := sc.produce(h)
				c := h.conflictOf(id)
				if c.Kind != kind || c.Status != tb.ConflictOpen || c.Message == "" {
					t.Fatalf("produced %+v, want open %s", c, kind)
				}
				if res == tb.ResolveRetry && sc.fix != nil {
					sc.fix(h, id)
				}
				before := len(sheetOf(h, id))
				got := h.resolve(id, res)
				if got.Status != tb.ConflictResolved || got.Resolution != res || got.ResolvedBy == "" {
					t.Fatalf("after %s: %+v", res, got)
				}
				after := sheetOf(h, id)
				checkOutcome(t, h, kind, res, id, before, after)

				// Whatever was decided holds: the next full run changes
				// nothing and reopens nothing.
				writes := h.kimaiWrites()
				run := h.run(tb.ModeFull)
				if w := h.kimaiWrites() - writes; w != 0 || run.Counts.Conflicts != 0 {
					t.Fatalf("next run after %s: %d writes, %+v", res, w, run.Counts)
				}
				if c := h.conflictOf(id); c.Status != tb.ConflictResolved {
					t.Fatalf("conflict reopened: %+v", c)
				}
				// The decision is in the audit log.
				evs, _, err := h.st.ListAudit(context.Background(), tb.AuditQuery{ProfileID: h.profile.ID, Type: "conflict.resolved", Limit: 10})
				if err != nil || len(evs) == 0 {
					t.Fatalf("no audit event for the resolution: %v", err)
				}
			})
		}
	}
}

func checkOutcome(t *testing.T, h *harness, kind tb.ConflictKind, res tb.Resolution, id int64, before int, after []tb.Timesheet) {
	t.Helper()
	want := func(n int) {
		t.Helper()
		if len(after) != n {
			t.Fatalf("%s/%s: %d timesheets, want %d", kind, res, len(after), n)
		}
	}
	switch res {
	case tb.ResolveSkip:
		want(before)
		l, err := h.st.GetLink(context.Background(), h.profile.ID, 50, id)
		if err != nil || l.State != tb.LinkSkipped {
			t.Fatalf("skip: link %+v %v", l, err)
		}
		if e, ok := h.zs.Entry(id); ok && e.TimeUnit.Sign() > 0 {
			changeInZammad(h, id, "99") // even later changes are ignored
		}
	case tb.ResolveUseZammad:
		switch kind {
		case tb.ConflictDeletedInZammad:
			want(0)
		default:
			want(1)
			if after[0].Duration != 45*60 && kind != tb.ConflictDuplicateInKimai {
				t.Fatalf("use_zammad: duration %d", after[0].Duration)
			}
		}
	case tb.ResolveKeepKimai:
		want(before)
		if kind == tb.ConflictEditedInKimai || kind == tb.ConflictLockedInKimai {
			if after[0].Duration != 30*60 {
				t.Fatalf("keep_kimai changed Kimai: %+v", after[0])
			}
		}
	case tb.ResolveRetry:
		if kind == tb.ConflictUnmatchedNegative {
			// The correction now nets into the earlier entry (60 − 30).
			want(0)
			total := 0
			for _, ss := range h.sheetsByEntry() {
				for _, s := range ss {
					total += int(s.Duration)
				}
			}
			if total != 30*60 {
				t.Fatalf("netted total %d s, want 1800", total)
			}
			return
		}
		want(1)
	}
}

// TestConflictsCarryNames: a conflict names the agent, the type and the
// Kimai customer, project and activity, not only their ids.
func TestConflictsCarryNames(t *testing.T) {
	h := newHarness(t, options{})
	tid, _, _, e := synced(h)
	h.ks.EditTimesheet(sheetOf(h, e.ID)[0].ID, func(s *kimaisim.Sheet) { s.Description += " (checked)" })
	changeInZammad(h, e.ID, "45")
	ticketRun(h, tid)
	c := h.conflictOf(e.ID)
	want := tb.ConflictNames{Agent: "Chris Miller", Type: "Billable support", Customer: "Chrispresso Inc. coffee", Project: "Zammad support", Activity: "Billable support"}
	if c.Kind != tb.ConflictEditedInKimai || c.Names == nil || *c.Names != want {
		t.Fatalf("conflict %s names %+v, want %+v", c.Kind, c.Names, want)
	}
}
