package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/report"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// buildReport is the profile's report over 2026, grouped by customer.
func buildReport(t *testing.T, h *harness, by report.GroupBy) report.Report {
	t.Helper()
	ctx := context.Background()
	recs, err := h.st.RecordsByDay(ctx, h.profile.ID, "2026-01-01", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	obs, err := h.st.Observed(ctx, h.profile.ID)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := time.Parse(time.DateOnly, "2026-01-01")
	to, _ := time.Parse(time.DateOnly, "2026-12-31")
	return report.Build(report.Input{ProfileID: h.profile.ID, From: from, To: to, GroupBy: by, Records: recs, Observed: obs,
		Billing: h.profile.Billing.Enabled})
}

// checkReport compares the report's totals with the truth: Zammad's time
// (every entry's units, corrections netted, one minute per unit) and what
// Kimai holds; the reasons explain the whole difference.
func checkReport(t *testing.T, h *harness, step string) report.Report {
	t.Helper()
	rep := buildReport(t, h, report.ByCustomer)
	var zammad int64
	for _, e := range h.zs.Entries() {
		s, _ := e.TimeUnit.Seconds() // one minute per unit
		zammad += s
	}
	_, kimai, _ := kimaiTruth(h)
	tot := rep.Totals
	if tot.Zammad != zammad || tot.Kimai != kimai || tot.Difference != zammad-kimai {
		t.Fatalf("%s: report says Zammad %d s, Kimai %d s, difference %d; truth is %d s and %d s",
			step, tot.Zammad, tot.Kimai, tot.Difference, zammad, kimai)
	}
	var explained int64
	for _, r := range tot.Reasons {
		explained += r.Seconds
	}
	if explained != tot.Difference {
		t.Fatalf("%s: reasons %+v explain %d s of a %d s difference", step, tot.Reasons, explained, tot.Difference)
	}
	var days, groups int64
	for _, d := range rep.Days {
		days += d.Kimai
	}
	for _, g := range rep.Groups {
		groups += g.Kimai
	}
	if days != kimai || groups != kimai {
		t.Fatalf("%s: days sum to %d s, groups to %d s; Kimai holds %d s", step, days, groups, kimai)
	}
	return rep
}

func reasonSeconds(g report.Group, why report.Reason) int64 {
	for _, r := range g.Reasons {
		if r.Reason == why {
			return r.Seconds
		}
	}
	return 0
}

// TestReportSeesKimaiEditsAndExports: a timesheet edited in Kimai, with
// nothing changed in Zammad, shows in the next run's report as "edited in
// Kimai"; an export shows as billed time, an un-export takes it back.
func TestReportSeesKimaiEditsAndExports(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	e1 := h.addEntry(tid, agent, typ, "30", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	e2 := h.addEntry(tid, agent, typ, "45", time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC))
	h.run(tb.ModeIncremental)
	rep := checkReport(t, h, "first sync")
	if rep.Totals.Difference != 0 || len(rep.Totals.Reasons) != 0 || rep.ObservedAt == "" {
		t.Fatalf("after the first sync: %+v (observed %q)", rep.Totals, rep.ObservedAt)
	}

	sheets := h.sheetsByEntry()
	h.Add(time.Minute)
	h.ks.EditTimesheet(sheets[e1.ID][0].ID, func(s *kimaisim.Sheet) { s.End = s.End.Add(15 * time.Minute) })
	h.ks.SetExported(sheets[e2.ID][0].ID, true)
	h.Add(time.Minute)
	h.run(tb.ModeIncremental)
	rep = checkReport(t, h, "after a Kimai-side edit and an export")
	if got := reasonSeconds(rep.Totals, report.ReasonEditedKimai); got != -15*60 {
		t.Fatalf("edited in Kimai explains %d s, want -900: %+v", got, rep.Totals)
	}
	if rep.Totals.Billed != 45*60 {
		t.Fatalf("billed %d s, want 2700", rep.Totals.Billed)
	}

	h.Add(time.Minute)
	h.ks.SetExported(sheets[e2.ID][0].ID, false)
	h.Add(time.Minute)
	h.run(tb.ModeIncremental)
	if rep = checkReport(t, h, "after an un-export"); rep.Totals.Billed != 0 {
		t.Fatalf("billed %d s after the un-export", rep.Totals.Billed)
	}
	// A run that finds nothing new writes no record.
	before := kumoWrites(t, h)
	h.run(tb.ModeFull)
	if d := kumoWrites(t, h) - before; d != 0 {
		t.Fatalf("an unchanged full run rewrote %d records", d)
	}
}

// kumoWrites counts the profile's stored entry records' content: a change
// in any record changes the sum of their hashes.
func kumoWrites(t *testing.T, h *harness) int {
	t.Helper()
	recs, err := h.st.AllRecords(context.Background(), h.profile.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		n += int(r.Kimai+r.Written+r.Zammad) + len(r.Status)
		if r.Exported {
			n++
		}
	}
	return n
}

// TestRunStoresProgressWhileItRuns: a slow run stores its counts and
// progress every ProgressEvery, so its record shows how far it is before it
// ends; the final record has done = total.
func TestRunStoresProgressWhileItRuns(t *testing.T) {
	h := newHarness(t, options{engine: engine.Options{ProgressEvery: 20 * time.Millisecond}, profile: func(p *tb.Profile) { p.Concurrency = 2 }})
	tid, agent, typ := h.seedBasics()
	for i := range 12 {
		h.addEntry(tid, agent, typ, "30", time.Date(2026, 3, 2, 9, i, 0, 0, time.UTC))
	}
	h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets", Latency: 40 * time.Millisecond})
	var seen []tb.Progress
	var mu sync.Mutex
	done := make(chan struct{})
	id := ident.New(time.Now())
	go func() {
		defer close(done)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			r, err := h.st.GetRun(context.Background(), id)
			if err == nil && r.Progress != nil {
				mu.Lock()
				seen = append(seen, *r.Progress)
				mu.Unlock()
			}
			if err == nil && r.Status != tb.RunRunning {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	run := h.run(tb.ModeIncremental, func(r *engine.Request) { r.RunID = id })
	<-done
	if p := run.Progress; p == nil || p.Done != 12 || p.Total != 12 || p.Phase != tb.PhaseFinishing {
		t.Fatalf("final progress %+v", run.Progress)
	}
	mu.Lock()
	defer mu.Unlock()
	partial := false
	for _, p := range seen {
		if p.Phase == tb.PhaseWriting && p.Done > 0 && p.Done < p.Total {
			partial = true
		}
	}
	if !partial {
		t.Fatalf("no progress seen while the run wrote: %+v", seen)
	}
}

// TestRunRecordsOutcomesAndRetriesFailures: each entry's outcome is kept
// with the classified reason of a failure; a retry run over the failed
// entries' tickets (Extra) carries them out and names the run it retries.
func TestRunRecordsOutcomesAndRetriesFailures(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	ok := h.addEntry(tid, agent, typ, "30", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	first := h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
	h.zs.AddTicket(zammadsimTicket(60, "53010"))
	bad := h.addEntry(60, agent, typ, "20", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	h.zs.AddTicket(zammadsimTicket(61, "53011"))
	bad2 := h.addEntry(61, agent, typ, "25", time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC))
	// Kimai answers 500 to every create: a transient failure.
	h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets", ErrorRate: 1})
	run := h.run(tb.ModeFull)
	h.ks.ClearFaults()
	if run.Counts.Errors != 2 || run.Status != tb.RunPartial {
		t.Fatalf("run with failures: %+v", run)
	}
	got := map[int64]tb.EntryOutcome{}
	for _, id := range []string{first.ID, run.ID} {
		stored, err := h.st.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range stored.Outcomes {
			if o.Outcome != tb.OutcomeUnchanged {
				got[o.EntryID] = o
			}
		}
	}
	if o := got[ok.ID]; o.Outcome != tb.OutcomeCreated || o.TicketNumber != "53003" || o.TimesheetID == 0 || o.Seconds != 1800 || o.Customer == "" {
		t.Fatalf("created entry: %+v", o)
	}
	for _, e := range []int64{bad.ID, bad2.ID} {
		if o := got[e]; o.Outcome != tb.OutcomeFailed || o.Class != "upstream" || o.Reason == "" || o.TicketID == 0 {
			t.Fatalf("failed entry %d: %+v", e, o)
		}
	}
	// Kimai answered every attempt itself (500: its request was over) and
	// the marker searches found nothing: the claims were released, so a
	// retry right away creates them.
	for _, e := range []int64{bad.ID, bad2.ID} {
		if o := got[e]; o.Outcome != tb.OutcomeFailed {
			t.Fatalf("entry %d: %+v", e, o)
		}
		if l, err := h.st.GetLink(context.Background(), h.profile.ID, 0, e); err == nil && l.State == tb.LinkPending {
			t.Fatalf("entry %d keeps a pending claim after Kimai certainly stored nothing: %+v (outcome %+v)", e, l, got[e])
		}
	}
	retry := h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID, r.Extra, r.RetryOf = 60, []int64{61}, run.ID })
	if retry.Counts.Created != 2 || retry.Counts.Errors != 0 || retry.RetryOf != run.ID || len(retry.Tickets) != 2 {
		t.Fatalf("retry run: %+v", retry)
	}
	if n := len(h.sheetsByEntry()); n != 3 {
		t.Fatalf("Kimai holds timesheets of %d entries, want 3", n)
	}
	checkReport(t, h, "after the retry")
}
