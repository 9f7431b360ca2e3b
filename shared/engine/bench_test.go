package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// BenchmarkSync10k measures the scale target: a first full sync of 10,000
// Zammad entries on 500 tickets into an empty Kimai, both simulators
// answering every request after 10 ms, then an unchanged second full run
// that must not write. Each iteration builds a fresh harness (simulators
// and DynamoDB table) outside the timer; the timer covers the first sync
// only. Run it with -benchtime=1x: one iteration takes well under a minute.
//
// Reported metrics (of the last iteration):
//
//	entries/min       created entries per minute of wall time of the first sync
//	kimai-req/created all Kimai requests of the first sync per created entry
//	ddb-writes/10k    DynamoDB items written by the first sync per 10,000 entries
//	zammad-req        Zammad requests of the first sync
//	rerun-writes      Kimai POST/PATCH/DELETE requests of the unchanged re-run (must be 0)
//	rerun-s           wall time of the unchanged re-run
//	relink-req/entry  Kimai requests per entry of a range run after every link
//	                  was lost (adopted by marker, never created again)
//	relink-writes     Kimai writes of that run (must be 0)
//	first-rss-MB      process peak RSS right after the first sync
//	peak-rss-MB       process peak RSS after the runs (includes both in-process
//	                  simulators; a high-water mark over the whole process, so a
//	                  later sub-benchmark also reports earlier ones' peak)
//
// The latency=0 sub-benchmark is a diagnostic: it shows the floor set by
// CPU and DynamoDB (kumo) with no network latency at all.
//
// The pace=fixed8 sub-benchmarks write at a fixed 8 Kimai requests in
// flight, which bounds a first sync at 8 / latency (48,000 entries/min at
// 10 ms); bound-% is how close the whole run (reading, planning, writing,
// records) comes to it. pace=adaptive is the profile default (adaptive, up
// to 32): the simulator has no capacity limit, so the limit grows to 32.
func BenchmarkSync10k(b *testing.B) {
	for _, lat := range []time.Duration{10 * time.Millisecond, 0} {
		for _, pace := range []tb.Pace{"fixed8", tb.PaceAdaptive} {
			b.Run(fmt.Sprintf("latency=%s/pace=%s", lat, pace), func(b *testing.B) { benchSync(b, 10_000, 500, lat, pace) })
		}
	}
}

func benchSync(b *testing.B, entries, tickets int, latency time.Duration, pace tb.Pace) {
	b.ReportAllocs()
	var (
		firstWall, rerunWall time.Duration
		created              int
		kimaiReq, zammadReq  int
		rerunWrites          int
		relinkReq            int
		relinkWrites         int
		firstRSS             int64
		ddbWrites            int64
	)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var runLog testkit.Buffer // the runs' "run finished" lines: where the time went
		h := newHarness(b, options{log: slog.New(slog.NewJSONHandler(&runLog, nil)), profile: func(p *tb.Profile) {
			if pace == "fixed8" {
				p.Pace, p.Concurrency = tb.PaceFixed, 8
			}
		}})
		// Every entry within the 60-day deletion window of h.Now().
		demo := h.zs.SeedDemo(zammadsim.DemoConfig{
			Seed: 42, Tickets: tickets, Entries: entries,
			Start: h.Now().Add(-50 * 24 * time.Hour), Span: 45 * 24 * time.Hour,
		})
		if demo.Entries != entries || len(demo.TicketIDs) != tickets {
			b.Fatalf("demo: %d entries on %d tickets", demo.Entries, len(demo.TicketIDs))
		}
		h.zs.SetFaults(zammadsim.Faults{Latency: latency})
		h.ks.SetFaults(kimaisim.Faults{Latency: latency})
		h.zs.ResetCounters()
		h.ks.ResetCounters()

		kumotest.ResetWrites()
		b.StartTimer()
		t0 := time.Now()
		run := h.run(tb.ModeFull)
		firstWall = time.Since(t0)
		ddbWrites = kumotest.Writes()
		firstRSS = maxRSS(b)
		b.StopTimer()

		kReqs, zReqs := h.ks.Requests(), h.zs.Requests()
		created = run.Counts.Created
		kimaiReq, zammadReq = sum(kReqs), sum(zReqs)
		if run.Status != tb.RunSucceeded || run.Counts.Errors != 0 || run.Counts.Conflicts != 0 {
			b.Fatalf("first run: %s %+v %+v", run.Status, run.Counts, run.ItemErrors)
		}
		byEntry := h.sheetsByEntry()
		for id, ss := range byEntry {
			if len(ss) != 1 {
				b.Fatalf("entry %d has %d timesheets", id, len(ss))
			}
			if e, ok := h.zs.Entry(id); !ok || e.TimeUnit.Sign() <= 0 || ss[0].Duration <= 0 {
				b.Fatalf("timesheet %d for entry %d (in Zammad: %v, %s units) with duration %d", ss[0].ID, id, ok, e.TimeUnit, ss[0].Duration)
			}
		}
		if len(byEntry) != created || created == 0 {
			b.Fatalf("Kimai holds timesheets for %d entries, run created %d", len(byEntry), created)
		}
		// Entries with a positive net after corrections get a timesheet;
		// corrections and entries netted to zero don't.
		if created > entries-demo.Corrections {
			b.Fatalf("created %d > %d entries - %d corrections", created, entries, demo.Corrections)
		}

		h.ks.ResetCounters()
		h.zs.ResetCounters()
		t1 := time.Now()
		rerun := h.run(tb.ModeFull)
		rerunWall = time.Since(t1)
		rerunWrites = h.kimaiWrites()
		if rerunWrites != 0 || rerun.Counts.Created+rerun.Counts.Updated+rerun.Counts.Deleted != 0 || rerun.Counts.Errors != 0 {
			b.Fatalf("unchanged re-run wrote: %d Kimai writes, %+v", rerunWrites, rerun.Counts)
		}
		rerunLog := fmt.Sprintf("re-run: %+v in %s; Kimai %s; Zammad %s", rerun.Counts, rerunWall.Round(time.Millisecond), top(h.ks.Requests()), top(h.zs.Requests()))
		// Lost links (a table restored from an old backup): every link is
		// gone, and a range run over all entries must adopt the timesheets
		// by marker instead of creating them again, in batched listings.
		// Page by page: the benchmark's own copy of every link would
		// count in the process's peak RSS.
		if err := h.st.Links(context.Background(), h.profile.ID, func(ls []tb.Link) error {
			for _, l := range ls {
				if err := h.st.DeleteLink(context.Background(), l); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		h.ks.ResetCounters()
		relink := h.run(tb.ModeRange, func(r *engine.Request) { r.From, r.To = h.Now().AddDate(0, 0, -60), h.Now().Add(time.Hour) })
		relinkReq, relinkWrites = sum(h.ks.Requests()), h.kimaiWrites()
		if relinkWrites != 0 || relink.Counts.Errors != 0 || len(h.ks.Timesheets()) != created {
			b.Fatalf("re-linking wrote %d times (%+v); Kimai holds %d timesheets for %d entries", relinkWrites, relink.Counts, len(h.ks.Timesheets()), created)
		}
		if i == b.N-1 {
			b.Logf("re-link after losing every link: %+v; Kimai %s", relink.Counts, top(h.ks.Requests()))
			b.Logf("first run: %+v in %s; %d corrections, %d untyped", run.Counts, firstWall.Round(time.Millisecond), demo.Corrections, demo.Untyped)
			b.Logf("first run Kimai requests (%d): %s", kimaiReq, top(kReqs))
			b.Logf("first run Zammad requests (%d): %s", zammadReq, top(zReqs))
			b.Log(rerunLog)
			for _, line := range strings.Split(runLog.String(), "\n") {
				if strings.Contains(line, `"run finished"`) {
					b.Log(line)
				}
			}
		}
		h.zs.Close()
		h.ks.Close()
		b.StartTimer()
	}
	b.StopTimer()

	b.ReportMetric(float64(created)/firstWall.Minutes(), "entries/min")
	if pace == "fixed8" && latency > 0 {
		bound := 8 * float64(time.Minute) / float64(latency)
		b.ReportMetric(100*float64(created)/firstWall.Minutes()/bound, "bound-%")
	}
	b.ReportMetric(float64(kimaiReq)/float64(created), "kimai-req/created")
	b.ReportMetric(float64(ddbWrites)*10_000/float64(entries), "ddb-writes/10k")
	b.ReportMetric(float64(zammadReq), "zammad-req")
	b.ReportMetric(float64(rerunWrites), "rerun-writes")
	b.ReportMetric(rerunWall.Seconds(), "rerun-s")
	b.ReportMetric(float64(relinkReq)/float64(created), "relink-req/entry")
	b.ReportMetric(float64(relinkWrites), "relink-writes")
	b.ReportMetric(float64(firstRSS)/1024, "first-rss-MB")
	b.ReportMetric(float64(maxRSS(b))/1024, "peak-rss-MB")
}

// maxRSS is the process's peak resident set so far, in KiB (Linux).
func maxRSS(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Maxrss
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// top lists request counts, largest first.
func top(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		if m[ks[i]] != m[ks[j]] {
			return m[ks[i]] > m[ks[j]]
		}
		return ks[i] < ks[j]
	})
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// BenchmarkBackfill20k is a year's backfill in one process: a range run over
// 20,000 entries on 1,000 tickets spread over a year, both simulators
// answering after 10 ms, worked through in chunks (there is no deadline, so
// it never continues; BenchmarkBackfill in shared/testkit/devstack runs one
// through the real reconcile binary with continuations). It reports
// entries/min, DynamoDB items written per 10,000 entries and Kimai requests
// per created entry.
func BenchmarkBackfill20k(b *testing.B) {
	var took time.Duration
	var created int
	var writes int64
	for range b.N {
		b.StopTimer()
		var runLog testkit.Buffer // the run's "run finished" line: where the time went
		h := newHarness(b, options{log: slog.New(slog.NewJSONHandler(&runLog, nil))})
		h.zs.SeedDemo(zammadsim.DemoConfig{Seed: 9, Tickets: 1_000, Entries: 20_000,
			Start: h.Now().AddDate(0, 0, -360), Span: 355 * 24 * time.Hour})
		h.zs.SetFaults(zammadsim.Faults{Latency: 10 * time.Millisecond})
		h.ks.SetFaults(kimaisim.Faults{Latency: 10 * time.Millisecond})
		h.ks.ResetCounters()
		kumotest.ResetWrites()
		b.StartTimer()
		t0 := time.Now()
		run := h.run(tb.ModeRange, func(r *engine.Request) { r.From, r.To = h.Now().AddDate(0, 0, -365), h.Now() })
		took = time.Since(t0)
		b.StopTimer()
		writes, created = kumotest.Writes(), run.Counts.Created
		if run.Counts.Errors != 0 || created == 0 || len(h.sheetsByEntry()) != created {
			b.Fatalf("backfill: %+v; Kimai holds timesheets for %d entries", run.Counts, len(h.sheetsByEntry()))
		}
		b.Logf("backfill: %+v in %s; Kimai %s", run.Counts, took.Round(time.Millisecond), top(h.ks.Requests()))
		for _, line := range strings.Split(runLog.String(), "\n") {
			if strings.Contains(line, `"run finished"`) {
				b.Log(line)
			}
		}
		b.ReportMetric(float64(sum(h.ks.Requests()))/float64(created), "kimai-req/created")
	}
	b.ReportMetric(float64(created)/took.Minutes(), "entries/min")
	b.ReportMetric(float64(writes)*10_000/20_000, "ddb-writes/10k")
	b.ReportMetric(float64(maxRSS(b))/1024, "peak-rss-MB")
}
