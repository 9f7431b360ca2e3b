package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/timebridge"
)

type PendingRun = store.PendingRun

// TestPendingRuns: adds accumulate (a run added twice is kept once), a
// take returns everything ordered by ticket and empties the set, and
// concurrent takers never get the same run.
func TestPendingRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	if more, err := f.st.HasPending(c, "p1"); err != nil || more {
		t.Fatalf("empty set: %v %v", more, err)
	}
	if got, err := f.st.TakePending(c, "p1"); err != nil || got != nil {
		t.Fatalf("take from an empty set: %v %v", got, err)
	}
	noErr(t, f.st.AddPending(c, "p1", []PendingRun{{RunID: "r2", TicketID: 9}, {RunID: "r1", TicketID: 12}}))
	noErr(t, f.st.AddPending(c, "p1", []PendingRun{{RunID: "r2", TicketID: 9}, {RunID: "r3", TicketID: 9}}))
	noErr(t, f.st.AddPending(c, "p2", []PendingRun{{RunID: "x", TicketID: 1}}))
	if more, err := f.st.HasPending(c, "p1"); err != nil || !more {
		t.Fatalf("after adds: %v %v", more, err)
	}
	got, err := f.st.TakePending(c, "p1")
	want := []PendingRun{{RunID: "r2", TicketID: 9}, {RunID: "r3", TicketID: 9}, {RunID: "r1", TicketID: 12}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("take: %v %v, want %v", got, err, want)
	}
	if more, _ := f.st.HasPending(c, "p1"); more {
		t.Fatal("the set is not empty after a take")
	}
	if more, _ := f.st.HasPending(c, "p2"); !more {
		t.Fatal("another profile's set was taken")
	}
	for _, bad := range [][]PendingRun{{{RunID: "", TicketID: 1}}, {{RunID: "a#b", TicketID: 1}}, {{RunID: "r", TicketID: 0}}} {
		if err := f.st.AddPending(c, "p1", bad); err == nil {
			t.Fatalf("AddPending(%v) accepted", bad)
		}
	}

	// Concurrent adds and takes: every run is taken exactly once.
	var mu sync.Mutex
	taken := map[string]int{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := f.st.AddPending(c, "p3", []PendingRun{{RunID: fmt.Sprintf("w%d-%d", w, i), TicketID: int64(i + 1)}}); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 10 {
				runs, err := f.st.TakePending(c, "p3")
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, r := range runs {
					taken[r.RunID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rest, err := f.st.TakePending(c, "p3")
	noErr(t, err)
	for _, r := range rest {
		taken[r.RunID]++
	}
	if len(taken) != 40 {
		t.Fatalf("%d distinct runs taken, want 40", len(taken))
	}
	for id, n := range taken {
		if n != 1 {
			t.Fatalf("run %s taken %d times", id, n)
		}
	}
}

// TestMarkMerged finishes queued, running and failed records only.
func TestMarkMerged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	for id, st := range map[string]timebridge.RunStatus{"q": timebridge.RunQueued, "r": timebridge.RunRunning,
		"f": timebridge.RunFailed, "s": timebridge.RunSucceeded} {
		_, err := f.st.PutRun(c, timebridge.Run{ID: id, ProfileID: "p", Trigger: "webhook", Mode: timebridge.ModeTicket, TicketID: 1,
			Status: st, QueuedAt: now})
		noErr(t, err)
	}
	noErr(t, f.st.MarkMerged(c, []string{"q", "r", "f", "s", "gone"}, "lead", timebridge.RunPartial, now, now.Add(1500*time.Millisecond)))
	for id, want := range map[string]string{"q": "partial/lead", "r": "partial/lead", "f": "partial/lead", "s": "succeeded/"} {
		r, err := f.st.GetRun(c, id)
		noErr(t, err)
		if got := string(r.Status) + "/" + r.MergedInto; got != want {
			t.Errorf("run %s: %s, want %s", id, got, want)
		}
		if want != "succeeded/" && (r.DurationMS != 1500 || r.FinishedAt == nil || r.Trigger != "webhook") {
			t.Errorf("run %s: %+v", id, r)
		}
	}
	if _, err := f.st.GetRun(c, "gone"); err == nil {
		t.Fatal("MarkMerged created a record")
	}
}
