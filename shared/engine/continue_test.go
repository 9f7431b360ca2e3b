package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestRangeRunContinuesAcrossDeadlines is a backfill in the Lambda shape:
// every invocation gets a short deadline (40–200 ms), often cutting a chunk
// off in the middle, while Kimai keeps working on requests whose client gave
// up (slow commits, as PHP does). Each invocation goes on from the stored
// point, as the queue consumer's continuation message or the redelivered
// message would make it. The run must end, never start over from its first
// ticket, and leave exactly one timesheet per entry.
//
// The report's records are held over several chunks (Options.RecordBatch):
// with the default, an invocation writes them only when it stops in time;
// with a small batch, also between chunks. Either way every synced entry
// has its record when the run ends.
func TestRangeRunContinuesAcrossDeadlines(t *testing.T) {
	for _, batch := range []int{0, 150} {
		t.Run(fmt.Sprintf("records batch %d", batch), func(t *testing.T) { testRangeRunContinues(t, batch) })
	}
}

func testRangeRunContinues(t *testing.T, batch int) {
	// Deadlines this short often leave no time for a single change after
	// the run's start-up: stalls are part of the test, not a failure.
	h := newHarness(t, options{engine: engine.Options{ChunkTickets: 10, MinChunkTime: 30 * time.Millisecond, MaxStalls: 1000, RecordBatch: batch}})
	demo := h.zs.SeedDemo(zammadsim.DemoConfig{Seed: 5, Tickets: 30, Entries: 400,
		Start: h.Now().AddDate(0, 0, -300), Span: 280 * 24 * time.Hour})
	h.ks.SetFaults(kimaisim.Faults{Latency: time.Millisecond, SlowCommitRate: 0.05, SlowCommitDelay: 30 * time.Millisecond})
	from, to := h.Now().AddDate(-1, 0, 0), h.Now().Add(time.Hour)

	rng := rand.New(rand.NewPCG(5, 12))
	var runID string
	var resume, lastResume, firstResume int64
	part, stuck := 0, 0
	invocations, cut := 0, 0
	var run tb.Run
	for {
		invocations++
		if invocations > 500 {
			t.Fatalf("still not done after %d invocations (after ticket %d)", invocations, resume)
		}
		// 40–200 ms, doubled after every 3 invocations in a row that did
		// not finish a chunk (a slow machine, -race), so that cuts keep
		// coming but the run gets through.
		budget := time.Duration(40+rng.IntN(160)) * time.Millisecond << min(stuck/3, 8)
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		var err error
		run, err = h.eng.Run(ctx, engine.Request{RunID: runID, ProfileID: h.profile.ID, Mode: tb.ModeRange, From: from, To: to,
			Resume: resume, Part: part, Trigger: "test"})
		expired := ctx.Err() != nil
		cancel()
		runID = run.ID
		t.Logf("invocation %d (part %d after %d): %s %+v %+v: %v", invocations, part, resume, run.Status, run.Counts, run.Progress, err)
		var c *engine.Continuation
		if err == nil {
			if run.Status == tb.RunFailed || run.Status == tb.RunRunning {
				t.Fatalf("invocation %d ended the run %s", invocations, run.Status)
			}
			break
		}
		if !errors.As(err, &c) {
			if expired && apperr.Is(err, apperr.Timeout) {
				// Cut before the run record was stored: the queue
				// redelivers the same message.
				cut++
				stuck++
				continue
			}
			t.Fatalf("invocation %d: %v", invocations, err)
		}
		if c.After < lastResume {
			t.Fatalf("invocation %d went back from ticket %d to %d", invocations, lastResume, c.After)
		}
		if expired {
			cut++
		}
		rec, err := h.st.GetRun(context.Background(), runID)
		if err != nil || rec.Status != tb.RunRunning || rec.Progress == nil || rec.Progress.After < c.After {
			t.Fatalf("continuing run's record: %v %s %+v", err, rec.Status, rec.Progress)
		}
		if c.After > lastResume {
			stuck = 0
		} else {
			stuck++
		}
		resume, lastResume, part = c.After, c.After, c.Part
		if firstResume == 0 {
			firstResume = resume
		}
	}
	if invocations < 5 || cut < 3 {
		t.Fatalf("%d invocations, %d cut off by the deadline: the test did not test continuing", invocations, cut)
	}
	if c := run.Counts; run.Progress.Invocations == 0 || c.Created == 0 || c.Errors != 0 {
		t.Fatalf("finished run: %s, %d continuations, %+v %+v", run.Status, run.Progress.Invocations, run.Counts, run.ItemErrors)
	}
	t.Logf("%d invocations, %d cut off by their deadline; %+v", invocations, cut, run.Counts)
	recs, err := h.st.AllRecords(context.Background(), h.profile.ID)
	if err != nil {
		t.Fatal(err)
	}
	sheet := map[int64]int64{}
	for _, r := range recs {
		sheet[r.EntryID] = r.TimesheetID
	}
	if err := h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error {
		for _, l := range ls {
			if l.State == tb.LinkSynced && sheet[l.EntryID] != l.TimesheetID {
				t.Errorf("entry %d: synced to timesheet %d, its record names %d", l.EntryID, l.TimesheetID, sheet[l.EntryID])
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// SQS delivers the first continuation again: it must not touch the
	// finished run.
	h.ks.ResetCounters()
	dup, err := h.eng.Run(context.Background(), engine.Request{RunID: runID, ProfileID: h.profile.ID, Mode: tb.ModeRange, From: from, To: to,
		Resume: firstResume, Part: 1, Trigger: "test"})
	if err != nil || dup.Status != run.Status || dup.Counts.Created != run.Counts.Created || dup.Counts.Seen != run.Counts.Seen || len(h.ks.Requests()) != 0 {
		t.Fatalf("a stale continuation ran: %v, %s %+v (was %s %+v); Kimai %v", err, dup.Status, dup.Counts, run.Status, run.Counts, h.ks.Requests())
	}

	// Creates whose client gave up commit later; claims still pending are
	// settled by a run after the grace.
	h.ks.WaitIdle()
	h.Add(engine.DefaultPendingGrace + time.Minute)
	h.ks.SetFaults(kimaisim.Faults{})
	settle := h.run(tb.ModeRange, func(r *engine.Request) { r.From, r.To = from, to })
	if run.Counts.Seen != settle.Counts.Seen {
		t.Fatalf("the continued run saw %d entries, the range holds %d", run.Counts.Seen, settle.Counts.Seen)
	}

	byEntry := h.sheetsByEntry()
	for id, ss := range byEntry {
		if len(ss) != 1 {
			t.Fatalf("entry %d has %d timesheets", id, len(ss))
		}
	}
	h.ks.ResetCounters()
	again := h.run(tb.ModeRange, func(r *engine.Request) { r.From, r.To = from, to })
	if w := h.kimaiWrites(); w != 0 || again.Counts.Errors != 0 || again.Counts.Skipped != 0 && again.Counts.Skipped != demo.Corrections {
		t.Fatalf("a settled backfill wrote %d times on the next run: %+v", w, again.Counts)
	}
	synced := 0
	if err := h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error {
		for _, l := range ls {
			switch l.State {
			case tb.LinkSynced:
				synced++
			case tb.LinkPending:
				t.Errorf("entry %d still pending", l.EntryID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if synced != len(byEntry) || synced == 0 || len(h.ks.Timesheets()) != synced {
		t.Fatalf("%d synced links, %d entries with timesheets, %d timesheets", synced, len(byEntry), len(h.ks.Timesheets()))
	}
}
