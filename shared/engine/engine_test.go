package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func at(h, m int) time.Time { return time.Date(2026, 3, 16, h, m, 0, 0, time.UTC) }

func TestFirstSyncThenNoWrites(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e1 := h.addEntry(tid, agent, typ, "15", at(8, 12))
	e2 := h.addEntry(tid, agent, typ, "30", at(9, 0))
	e3 := h.addEntry(tid, agent, 0, "45", at(10, 0)) // null type → auto-created default activity

	run := h.run(tb.ModeFull)
	if run.Status != tb.RunSucceeded || run.Counts.Created != 3 || run.Counts.Seen != 3 {
		t.Fatalf("first run: %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
	}
	byEntry := h.sheetsByEntry()
	for _, e := range []zammadsim.Entry{e1, e2, e3} {
		if len(byEntry[e.ID]) != 1 {
			t.Fatalf("entry %d has %d timesheets", e.ID, len(byEntry[e.ID]))
		}
	}
	s := byEntry[e1.ID][0]
	berlin, _ := time.LoadLocation("Europe/Berlin")
	// created_at 08:12:xx UTC is 09:12 CET; whole minutes are sent, so
	// Kimai's rounding keeps them.
	if got := s.End.In(berlin).Format("2006-01-02 15:04:05"); got != "2026-03-16 09:12:00" {
		t.Errorf("end %s", got)
	}
	if s.Duration != 15*60 || !strings.HasPrefix(s.Description, "#53003 Order 787556 [TB-") || len(s.Tags) != 1 || s.Tags[0] != "zammad" {
		t.Errorf("timesheet %+v", s)
	}
	// Auto-created catalog with sanitised names and external numbers.
	var cust kimaisim.Customer
	for _, c := range h.ks.Customers() {
		if c.Number == plan.CustomerNumber(2) {
			cust = c
		}
	}
	if cust.Name != "Chrispresso Inc. coffee" {
		t.Errorf("customer %+v", cust)
	}
	acts := map[string]bool{}
	for _, a := range h.ks.Activities() {
		acts[a.Number] = true
	}
	if !acts[plan.ActivityNumber(2)] || !acts[plan.ActivityNumber(0)] {
		t.Errorf("activities %v", acts)
	}

	writes := h.kimaiWrites()
	for _, mode := range []tb.RunMode{tb.ModeFull, tb.ModeIncremental, tb.ModeIncremental} {
		run = h.run(mode)
		if run.Counts.Created+run.Counts.Updated+run.Counts.Deleted != 0 || run.Counts.Errors != 0 {
			t.Fatalf("%s re-run wrote: %+v", mode, run.Counts)
		}
	}
	if w := h.kimaiWrites(); w != writes {
		t.Fatalf("re-runs over unchanged data made %d Kimai writes", w-writes)
	}
}

func TestEditsDeletesAndCorrectionsPropagate(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e1 := h.addEntry(tid, agent, typ, "120", at(8, 0))
	e2 := h.addEntry(tid, agent, typ, "30", at(9, 0))
	e3 := h.addEntry(tid, agent, typ, "10", at(9, 30))
	h.run(tb.ModeIncremental)

	// An admin edits e2 in Zammad: the timesheet follows.
	h.Add(time.Minute)
	h.zs.UpdateEntry(e2.ID, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("45") })
	run := h.run(tb.ModeIncremental)
	if run.Counts.Updated != 1 || run.Counts.Created != 0 {
		t.Fatalf("edit: %+v", run.Counts)
	}
	if s := h.sheetsByEntry()[e2.ID][0]; s.Duration != 45*60 {
		t.Fatalf("edited duration %d", s.Duration)
	}

	// A negative correction (booked 120 by mistake, -100 added): the
	// latest earlier positive entry of the same agent and type shrinks.
	h.Add(time.Minute)
	h.addEntry(tid, agent, typ, "-100", at(11, 0))
	run = h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
	// latest earlier positive is e3 (10) → 0 (deleted), then e2 (45) → 0, then e1 (120) → 75
	sheets := h.sheetsByEntry()
	if len(sheets[e3.ID]) != 0 || len(sheets[e2.ID]) != 0 || len(sheets[e1.ID]) != 1 || sheets[e1.ID][0].Duration != 75*60 {
		t.Fatalf("after correction: %d %d %v (%+v)", len(sheets[e3.ID]), len(sheets[e2.ID]), sheets[e1.ID], run.Counts)
	}
	if run.Counts.Deleted != 2 || run.Counts.Updated != 1 {
		t.Fatalf("correction counts %+v", run.Counts)
	}

	// Zammad hard-deletes e1: only a full run can tell; the timesheet goes.
	h.zs.DeleteEntry(e1.ID)
	if run = h.run(tb.ModeIncremental); run.Counts.Deleted != 0 {
		t.Fatalf("incremental can't see deletions, yet deleted %d", run.Counts.Deleted)
	}
	run = h.run(tb.ModeFull)
	if run.Counts.Deleted != 1 || len(h.sheetsByEntry()[e1.ID]) != 0 {
		t.Fatalf("full run after delete: %+v", run.Counts)
	}
	// Deleting the whole ticket removes the rest of the links quietly.
	h.zs.DeleteTicket(tid)
	run = h.run(tb.ModeFull)
	if len(h.ks.Timesheets()) != 0 || run.Counts.Errors != 0 {
		t.Fatalf("after ticket delete: %d timesheets, %+v", len(h.ks.Timesheets()), run.Counts)
	}
	if got := h.run(tb.ModeFull); got.Counts.Deleted+got.Counts.Created+got.Counts.Updated != 0 {
		t.Fatalf("not settled: %+v", got.Counts)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	h.addEntry(tid, agent, typ, "15", at(8, 0))
	h.addEntry(tid, agent, typ, "-30", at(7, 0)) // unmatched correction
	run := h.run(tb.ModeFull, func(r *engine.Request) { r.DryRun = true })
	if h.kimaiWrites() != 0 || len(h.ks.Customers()) != 0 {
		t.Fatalf("dry run wrote to Kimai")
	}
	if len(run.Plan) != 2 || run.Plan[0].Action != tb.ActionConflict && run.Plan[1].Action != tb.ActionConflict {
		t.Fatalf("plan %+v", run.Plan)
	}
	var create tb.PlannedChange
	for _, p := range run.Plan {
		if p.Action == tb.ActionCreate {
			create = p
		}
	}
	if create.After == nil || !strings.Contains(create.Reason, "would auto-create") {
		t.Fatalf("preview lacks detail: %+v", create)
	}
	if len(h.openConflicts()) != 0 {
		t.Fatal("dry run stored conflicts")
	}
	stored, err := h.st.GetRun(context.Background(), run.ID)
	if err != nil || len(stored.Plan) != 2 || !stored.DryRun {
		t.Fatalf("stored dry run: %v %+v", err, stored)
	}
	// Rows and preview speak in names: the ticket number, the customer and
	// project to be auto-created, the conflict to be opened.
	if create.TicketNumber != "53003" || create.Customer != "Chrispresso Inc. coffee" /* Kimai refuses <>"= in names */ || create.Project == "" || create.Activity == "" {
		t.Fatalf("the planned create is not named: %+v", create)
	}
	pv := stored.Preview
	if pv == nil || len(pv.Groups) != 3 || pv.Groups[0].By != tb.MapCustomer || pv.Groups[0].Name != create.Customer ||
		pv.Groups[0].Create != 1 || pv.Groups[0].Seconds != 15*60 || len(pv.Conflicts) != 1 || pv.Conflicts[0].Kind != tb.ConflictUnmatchedNegative {
		t.Fatalf("preview %+v", pv)
	}
	if len(pv.Creates) == 0 || pv.Creates[0].Kind != tb.MapCustomer || pv.Creates[0].Entries != 1 {
		t.Fatalf("preview creates %+v", pv.Creates)
	}
}

func TestRangeBackfillAndWebhookTicket(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	h.zs.AddTicket(zammadsim.Ticket{ID: 51, Number: "53004", Title: "Other", OrganizationID: 2, GroupID: 1, CustomerID: 3})
	old := h.addEntry(tid, agent, typ, "15", time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)) // outside the 60-day window
	recent := h.addEntry(51, agent, typ, "20", at(8, 0))

	run := h.run(tb.ModeRange, func(r *engine.Request) {
		r.From, r.To = time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	})
	if run.Counts.Created != 1 || len(h.sheetsByEntry()[old.ID]) != 1 || len(h.sheetsByEntry()[recent.ID]) != 0 {
		t.Fatalf("backfill: %+v", run.Counts)
	}
	run = h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = 51 })
	if run.Counts.Created != 1 || len(h.sheetsByEntry()[recent.ID]) != 1 {
		t.Fatalf("ticket run: %+v", run.Counts)
	}
	// The old entry is outside the deletion window: a full run leaves it be
	// even after Zammad forgets it.
	h.zs.DeleteEntry(old.ID)
	if run = h.run(tb.ModeFull); run.Counts.Deleted != 0 || len(h.sheetsByEntry()[old.ID]) != 1 {
		t.Fatalf("deleted outside the window: %+v", run.Counts)
	}
	// A one-ticket run sees deletions of its own ticket.
	h.zs.DeleteEntry(recent.ID)
	if run = h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = 51 }); run.Counts.Deleted != 1 {
		t.Fatalf("ticket run deletion: %+v", run.Counts)
	}
}

func TestUserMappingByEmail(t *testing.T) {
	h := newHarness(t, options{profile: func(p *tb.Profile) { p.UserMode = tb.UserEmail; p.StrictUsers = true }})
	tid, agent, typ := h.seedBasics()
	h.zs.AddUser(zammadsim.User{ID: 4, Login: "nomatch", Email: "nomatch@example.com"})
	h.ks.AddUser(kimaisim.User{ID: 9, Username: "chris", Email: "CHRIS@example.com", Timezone: "Europe/Berlin", Roles: []string{kimaisim.RoleUser}, Enabled: true}, "chris-token")
	e1 := h.addEntry(tid, agent, typ, "15", at(8, 0))
	e2 := h.addEntry(tid, 4, typ, "15", at(9, 0))
	run := h.run(tb.ModeFull)
	sheets := h.sheetsByEntry()
	if len(sheets[e1.ID]) != 1 || sheets[e1.ID][0].UserID != 9 {
		t.Fatalf("mapped user: %+v", sheets[e1.ID])
	}
	if c := h.conflictOf(e2.ID); c.Kind != tb.ConflictUnmappedUser || !strings.Contains(c.Message, "nomatch@example.com") {
		t.Fatalf("conflict %+v", c)
	}
	if run.Status != tb.RunPartial || run.Counts.Conflicts != 1 {
		t.Fatalf("run %s %+v", run.Status, run.Counts)
	}
	// Map the agent explicitly and retry: the conflict closes.
	if err := h.st.PutMapping(context.Background(), tb.Mapping{ProfileID: h.profile.ID, Kind: tb.MapUser, SourceID: "4", TargetID: 1}); err != nil {
		t.Fatal(err)
	}
	if c := h.resolve(e2.ID, tb.ResolveRetry); c.Status != tb.ConflictResolved || c.Resolution != tb.ResolveRetry {
		t.Fatalf("after retry %+v", c)
	}
	if s := h.sheetsByEntry()[e2.ID]; len(s) != 1 || s[0].UserID != 1 {
		t.Fatalf("retried entry %+v", s)
	}
}

func TestRunErrorsAreClassified(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	h.addEntry(tid, agent, typ, "15", at(8, 0))
	h.ks.RevokeToken(kToken)
	run, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull})
	if !apperr.Is(err, apperr.Auth) || run.Status != tb.RunFailed || run.Error == nil || run.Error.Class != "auth" ||
		!strings.Contains(run.Error.Message, "token") {
		t.Fatalf("revoked token: %v %+v", err, run.Error)
	}
	stored, gerr := h.st.GetRun(context.Background(), run.ID)
	if gerr != nil || stored.Status != tb.RunFailed || stored.Error.Class != "auth" {
		t.Fatalf("stored %v %+v", gerr, stored)
	}
	// The lease was released: the next run isn't blocked.
	if _, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: tb.ModeFull}); apperr.Is(err, apperr.Conflict) {
		t.Fatal("lease leaked")
	}
}

// TestFullRunObservesKimai: a full run also checks unchanged entries
// against Kimai — a timesheet deleted there becomes a conflict, a copy
// becomes a duplicate conflict, and a timesheet whose link was lost is
// adopted rather than created again.
func TestFullRunObservesKimai(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e1 := h.addEntry(tid, agent, typ, "15", at(8, 0))
	e2 := h.addEntry(tid, agent, typ, "20", at(9, 0))
	e3 := h.addEntry(tid, agent, typ, "25", at(10, 0))
	h.run(tb.ModeFull)
	ctx := context.Background()

	h.ks.DeleteTimesheet(h.sheetsByEntry()[e1.ID][0].ID)
	copySheet, _ := h.ks.Sheet(h.sheetsByEntry()[e2.ID][0].ID)
	copySheet.ID = 0
	h.ks.AddTimesheet(copySheet)
	if err := h.st.DeleteLink(ctx, mustLink(t, h, tid, e3.ID)); err != nil {
		t.Fatal(err)
	}
	before := len(h.ks.Timesheets())
	run := h.run(tb.ModeFull)
	if run.Counts.Created != 0 || len(h.ks.Timesheets()) != before {
		t.Fatalf("full run created timesheets: %+v", run.Counts)
	}
	if c := h.conflictOf(e1.ID); c.Kind != tb.ConflictDeletedInKimai {
		t.Fatalf("e1: %+v", c)
	}
	if c := h.conflictOf(e2.ID); c.Kind != tb.ConflictDuplicateInKimai || len(c.Duplicates) != 2 {
		t.Fatalf("e2: %+v", c)
	}
	if l := mustLink(t, h, tid, e3.ID); l.State != tb.LinkSynced || l.TimesheetID != h.sheetsByEntry()[e3.ID][0].ID {
		t.Fatalf("e3 not adopted: %+v", l)
	}
	// Settled: the next full run writes nothing and raises nothing new.
	writes := h.kimaiWrites()
	if run = h.run(tb.ModeFull); h.kimaiWrites() != writes || run.Counts.Conflicts != 0 {
		t.Fatalf("not settled: %+v", run.Counts)
	}
	// Duplicates without any link (both orphans) resolve to one timesheet.
	if err := h.st.DeleteLink(ctx, mustLink(t, h, tid, e2.ID)); err != nil {
		t.Fatal(err)
	}
	h.resolve(e2.ID, tb.ResolveUseZammad)
	if n := len(h.sheetsByEntry()[e2.ID]); n != 1 {
		t.Fatalf("e2 has %d timesheets after use_zammad", n)
	}
}

func mustLink(t *testing.T, h *harness, tid, eid int64) tb.Link {
	t.Helper()
	l, err := h.st.GetLink(context.Background(), h.profile.ID, tid, eid)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
