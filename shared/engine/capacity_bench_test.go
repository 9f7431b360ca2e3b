package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// BenchmarkCapacity measures how well a first sync uses Kimai servers of
// different capacity: the Kimai simulator serves at most capacity
// timesheet creates at once, 200 ms each (PHP-FPM workers), queues up to
// twice as many more in FIFO order, and answers 429 with Retry-After: 1 to
// the rest (an nginx limit_conn in front). Reads are not limited, so the
// figures are those of the writes. The adaptive pace may reach 64 writes
// at once; fixed8 is the old default, a fixed concurrency of 8. Run it
// with -benchtime=1x.
//
// Entries scale with what the pace can use (100 per write slot, about 20 s
// of writes at full use), so that every sub-benchmark takes well under a
// minute: 100 × capacity for adaptive, 100 × min(capacity, 8) for fixed8.
//
// Reported metrics:
//
//	entries/min  created entries per minute of the run's wall time
//	util-%       the workers' busy time / (capacity × the span from the
//	             first create to the last); ideal 100
//	429s         creates the simulator refused for a full queue
//	failed       entries that failed (must be 0 for adaptive)
//	limit-final  the write concurrency at the end of the run
//	limit-max    the highest write concurrency of the run
//	peak-busy    the most workers busy at once
func BenchmarkCapacity(b *testing.B) {
	const service = 200 * time.Millisecond
	for _, capacity := range []int{2, 8, 64} {
		for _, pace := range []struct {
			name  string
			pace  tb.Pace
			bound int
		}{{"adaptive", tb.PaceAdaptive, 64}, {"fixed8", tb.PaceFixed, 8}} {
			entries := 100 * min(capacity, pace.bound)
			b.Run(fmt.Sprintf("capacity=%d/pace=%s", capacity, pace.name), func(b *testing.B) {
				benchCapacity(b, capacity, service, entries, pace.pace, pace.bound)
			})
		}
	}
}

func benchCapacity(b *testing.B, capacity int, service time.Duration, entries int, pace tb.Pace, bound int) {
	var (
		wall  time.Duration
		run   tb.Run
		stats kimaisim.CapacityStats
	)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b, options{profile: func(p *tb.Profile) { p.Concurrency, p.Pace = bound, pace }})
		demo := h.zs.SeedDemo(zammadsim.DemoConfig{
			Seed: 42, Tickets: max(10, entries/20), Entries: entries,
			Start: h.Now().Add(-50 * 24 * time.Hour), Span: 45 * 24 * time.Hour,
		})
		if demo.Entries != entries {
			b.Fatalf("demo: %d entries", demo.Entries)
		}
		h.ks.SetFaults(kimaisim.Faults{Method: "POST", PathPrefix: "/api/timesheets",
			Latency: service, Capacity: capacity, QueueLimit: 2 * capacity, RetryAfter: time.Second})
		h.ks.ResetCounters()

		b.StartTimer()
		t0 := time.Now()
		run = h.run(tb.ModeFull)
		wall = time.Since(t0)
		b.StopTimer()
		stats = h.ks.CapacityStats()

		for id, ss := range h.sheetsByEntry() {
			if len(ss) != 1 {
				b.Fatalf("entry %d has %d timesheets", id, len(ss))
			}
		}
		if run.Concurrency == nil || run.Concurrency.Pace != pace || run.Concurrency.Bound != bound {
			b.Fatalf("run's concurrency %+v, want pace %s up to %d", run.Concurrency, pace, bound)
		}
		if pace == tb.PaceAdaptive && (run.Counts.Errors != 0 || run.Status != tb.RunSucceeded) {
			b.Fatalf("adaptive run: %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
		}
	}
	span := stats.Last.Sub(stats.First)
	util := 0.0
	if span > 0 {
		util = 100 * float64(stats.Busy) / (float64(capacity) * float64(span))
	}
	b.ReportMetric(float64(run.Counts.Created)/wall.Minutes(), "entries/min")
	b.ReportMetric(util, "util-%")
	b.ReportMetric(float64(stats.Rejected), "429s")
	b.ReportMetric(float64(run.Counts.Errors), "failed")
	b.ReportMetric(float64(run.Concurrency.Final), "limit-final")
	b.ReportMetric(float64(run.Concurrency.Max), "limit-max")
	b.ReportMetric(float64(stats.PeakBusy), "peak-busy")
	b.Logf("%d entries: %s in %s, writes over %s; Kimai %+v; concurrency %d points, drops %d, attempts %d",
		entries, run.Status, wall.Round(time.Millisecond), span.Round(time.Millisecond), stats, len(run.Concurrency.Points),
		run.Concurrency.Drops, run.Concurrency.Attempts)
}
