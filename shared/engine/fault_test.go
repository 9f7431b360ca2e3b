package engine_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
)

// TestFaultsExactlyOnce syncs 2,000 entries through an unreliable Kimai and
// Zammad — 10% server errors, rate limiting with Retry-After, hangs,
// "commit the write, then fail the response", dropped connections — while
// the process "crashes" between Kimai's answer and the link write for some
// entries. Runs repeat (as the schedule would) until one finishes clean;
// afterwards Kimai must hold exactly one timesheet per entry.
func TestFaultsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("long fault test")
	}
	h := newHarness(t, options{
		policy: upstream.Policy{MaxAttempts: 5, BaseDelay: 2 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
			AttemptTimeout: 300 * time.Millisecond, MaxRetryAfter: 2 * time.Second},
		engine: engine.Options{CreateAttempts: 3, RetryDelay: 5 * time.Millisecond},
	})
	demo := h.zs.SeedDemo(zammadsim.DemoConfig{Seed: 3, Tickets: 100, Entries: 2000, Organizations: 8, Agents: 6, Types: 4,
		Start: h.Now().AddDate(0, 0, -40), Span: 35 * 24 * time.Hour})
	if demo.Entries != 2000 {
		t.Fatalf("seeded %d entries", demo.Entries)
	}

	h.zs.SetFaults(zammadsim.Faults{ErrorRate: 0.10, RateLimitRate: 0.02, RetryAfter: time.Second})
	// Creates that Kimai commits after the client gave up (PHP keeps
	// running): the client's attempt timeout is 300 ms.
	slow := func(f kimaisim.Faults) kimaisim.Faults {
		f.SlowCommitRate, f.SlowCommitDelay = 0.02, 500*time.Millisecond
		return f
	}
	h.ks.SetFaults(slow(kimaisim.Faults{ErrorRate: 0.10, RateLimitRate: 0.01, RetryAfter: time.Second,
		HangRate: 0.003, MaxHang: 2 * time.Second, FailAfterWriteRate: 0.05}))
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	crashes := 0
	h.crash = func(l tb.Link) bool {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < 0.03 {
			crashes++
			return true
		}
		return false
	}

	var runs []tb.Run
	lost := 0
	for i := 0; i < 12; i++ {
		// Runs come every few minutes, as the schedule sends them; creates
		// whose outcome stayed unknown are settled once PendingGrace passed.
		h.Add(6 * time.Minute)
		if i == 2 {
			// From the third run on, let Kimai drop connections after writing instead
			// of answering 500.
			h.ks.SetFaults(slow(kimaisim.Faults{ErrorRate: 0.10, FailAfterWriteRate: 0.05, DropConnection: true, HangRate: 0.003, MaxHang: 2 * time.Second}))
		}
		if i > 0 {
			// Links get lost (a restore, a hand-deleted item): 2% of the
			// synced ones before each run.
			lost += loseLinks(t, h, rng, 0.02)
		}
		// Full runs adopt lost links through their Kimai listing, range
		// runs through the marker search before the first claim.
		mode := tb.ModeFull
		if i%2 == 1 {
			mode = tb.ModeRange
		}
		run, err := h.eng.Run(context.Background(), engine.Request{ProfileID: h.profile.ID, Mode: mode, Trigger: "test",
			From: h.Now().AddDate(0, 0, -50), To: h.Now()})
		if err != nil && !apperr.Retryable(err) {
			t.Fatalf("run %d failed with a non-transient error: %v", i, err)
		}
		runs = append(runs, run)
		if err == nil && run.Counts.Errors == 0 && i >= 3 {
			break
		}
	}
	h.crash = nil
	h.zs.SetFaults(zammadsim.Faults{})
	h.ks.SetFaults(kimaisim.Faults{})
	h.ks.WaitIdle()
	h.Add(engine.DefaultPendingGrace + time.Minute)
	final := h.run(tb.ModeFull)
	t.Logf("runs: %d with faults, crashes simulated: %d, creates committed after the client gave up: %d, links lost: %d, final: %+v",
		len(runs), crashes, h.ks.SlowCommits(), lost, final.Counts)
	if h.ks.SlowCommits() == 0 || lost == 0 {
		t.Fatal("the faults under test never happened")
	}
	for i, r := range runs {
		t.Logf("run %d: %s %+v", i, r.Status, r.Counts)
	}

	// Expected: one timesheet per entry whose net time is positive.
	byEntry := h.sheetsByEntry()
	want := 0
	dups, missing := 0, 0
	links := map[int64]tb.Link{}
	if err := h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error {
		for _, l := range ls {
			links[l.EntryID] = l
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		switch l.State {
		case tb.LinkSynced:
			want++
			if n := len(byEntry[l.EntryID]); n == 0 {
				missing++
			} else if n > 1 {
				dups++
			}
			if len(byEntry[l.EntryID]) == 1 && byEntry[l.EntryID][0].ID != l.TimesheetID {
				t.Errorf("entry %d links %d but Kimai has %d", l.EntryID, l.TimesheetID, byEntry[l.EntryID][0].ID)
			}
		case tb.LinkPending:
			t.Errorf("entry %d still pending after a clean run", l.EntryID)
		}
	}
	for id, ss := range byEntry {
		if l, ok := links[id]; !ok || l.State != tb.LinkSynced {
			t.Errorf("orphan timesheet(s) %v for entry %d (link %+v)", ss, id, l)
		}
		if len(ss) > 1 {
			dups++
			t.Logf("entry %d: %d timesheets %+v; link %+v", id, len(ss), ss, links[id])
		}
	}
	if dups != 0 || missing != 0 {
		t.Fatalf("duplicates %d, missing %d (of %d)", dups, missing, want)
	}
	if want < 1500 || len(h.ks.Timesheets()) != want {
		t.Fatalf("Kimai holds %d timesheets, %d expected", len(h.ks.Timesheets()), want)
	}
	// Every positive-net entry is synced: compare with a dry run.
	preview := h.run(tb.ModeFull, func(r *engine.Request) { r.DryRun = true })
	if preview.Counts.Created != 0 || preview.Counts.Updated != 0 || preview.Counts.Deleted != 0 {
		t.Fatalf("not converged: %+v", preview.Counts)
	}
	if final.Counts.Created+final.Counts.Updated+final.Counts.Deleted != 0 && len(runs) < 12 {
		t.Logf("the clean run still had work: %+v", final.Counts)
	}
}

// loseLinks deletes a fraction of the synced links, as a restore from an
// older backup or a hand-deleted item would.
func loseLinks(t *testing.T, h *harness, rng *rand.Rand, rate float64) int {
	t.Helper()
	var victims []tb.Link
	if err := h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error {
		for _, l := range ls {
			if l.State == tb.LinkSynced && rng.Float64() < rate {
				victims = append(victims, l)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, l := range victims {
		if err := h.st.DeleteLink(context.Background(), l); err != nil {
			t.Fatal(err)
		}
	}
	return len(victims)
}
