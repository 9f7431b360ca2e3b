package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func seedPaceDemo(t *testing.T, h *harness, entries int) {
	t.Helper()
	demo := h.zs.SeedDemo(zammadsim.DemoConfig{Seed: 42, Tickets: 10, Entries: entries,
		Start: h.Now().Add(-50 * 24 * time.Hour), Span: 45 * 24 * time.Hour})
	if demo.Entries != entries {
		t.Fatalf("demo: %d entries", demo.Entries)
	}
}

// TestPaceAdaptiveSmallKimai: against a Kimai that serves two creates at
// once and refuses what does not fit its short queue, the adaptive pace
// stays well below the profile's bound, honours the 429s and loses no
// entry.
func TestPaceAdaptiveSmallKimai(t *testing.T) {
	h := newHarness(t, options{profile: func(p *tb.Profile) { p.Concurrency = 32 }})
	seedPaceDemo(t, h, 80)
	h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets", Latency: 30 * time.Millisecond,
		Capacity: 2, QueueLimit: 2, RetryAfter: time.Second})
	run := h.run(tb.ModeFull)
	if run.Status != tb.RunSucceeded || run.Counts.Errors != 0 || run.Counts.Created == 0 {
		t.Fatalf("run %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
	}
	for id, ss := range h.sheetsByEntry() {
		if len(ss) != 1 {
			t.Fatalf("entry %d has %d timesheets", id, len(ss))
		}
	}
	c := run.Concurrency
	if c == nil || c.Pace != tb.PaceAdaptive || c.Bound != 32 || c.Min != 1 || len(c.Points) < 2 || c.Points[0] != (tb.ConcurrencyPoint{AtMS: 0, Limit: 1}) {
		t.Fatalf("concurrency %+v", c)
	}
	if c.Max >= 16 || c.Final > 8 || c.Attempts < run.Counts.Created {
		t.Fatalf("concurrency %+v: did not adapt to a Kimai of two workers", c)
	}
	if last := c.Points[len(c.Points)-1]; last.Limit != c.Final {
		t.Fatalf("last point %+v, final %d", last, c.Final)
	}
}

// TestPaceFixed: a fixed pace writes exactly the profile's concurrency at
// once, as before the adaptive pace.
func TestPaceFixed(t *testing.T) {
	h := newHarness(t, options{profile: func(p *tb.Profile) { p.Concurrency, p.Pace = 3, tb.PaceFixed }})
	seedPaceDemo(t, h, 40)
	h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets", Latency: 20 * time.Millisecond,
		Capacity: 50, QueueLimit: -1})
	run := h.run(tb.ModeFull)
	if run.Status != tb.RunSucceeded {
		t.Fatalf("run %s %+v", run.Status, run.ItemErrors)
	}
	c := run.Concurrency
	if c == nil || c.Pace != tb.PaceFixed || c.Bound != 3 || c.Min != 3 || c.Max != 3 || c.Final != 3 || len(c.Points) != 1 {
		t.Fatalf("concurrency %+v", c)
	}
	if st := h.ks.CapacityStats(); st.PeakBusy != 3 {
		t.Fatalf("%d creates at once, want 3", st.PeakBusy)
	}
	// The run record keeps the course.
	stored, err := h.st.GetRun(context.Background(), run.ID)
	if err != nil || stored.Concurrency == nil || stored.Concurrency.Final != 3 || len(stored.Concurrency.Points) != 1 {
		t.Fatalf("stored run's concurrency %+v (%v)", stored.Concurrency, err)
	}
}
