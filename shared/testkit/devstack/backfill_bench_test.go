package devstack_test

import (
	"context"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/testkit/devstack"
)

var (
	backfillEntries = flag.Int("backfill.entries", 100_000, "BenchmarkBackfill: Zammad entries, spread over a year")
	backfillTickets = flag.Int("backfill.tickets", 5_000, "BenchmarkBackfill: tickets they are booked on")
	backfillTimeout = flag.Int("backfill.timeout", 120, "BenchmarkBackfill: the reconcile function's Lambda timeout in seconds")
	backfillLatency = flag.Duration("backfill.latency", 10*time.Millisecond, "BenchmarkBackfill: latency of every Zammad and Kimai request")
)

// BenchmarkBackfill is a year's backfill in the Lambda shape: make dev's
// stack (the real reconcile binary behind kumo's Lambda runtime API, the
// SQS glue), -backfill.entries entries on -backfill.tickets tickets over a
// year, one range run over that year through the API. The reconcile
// function's timeout is -backfill.timeout seconds (the template's is 900),
// so the run has to continue across invocations (continuation messages).
// It reports the total time, the invocations, the peak RSS of the reconcile
// processes (VmHWM) and the Lambda GB-seconds the run costs at the
// template's 512 MB and at 256 MB (its time from queued to finished, which
// includes the few milliseconds between invocations), and checks that
// Kimai holds exactly one timesheet per entry.
//
//	go test -run '^$' -bench BenchmarkBackfill -benchtime=1x -timeout 60m ./shared/testkit/devstack/
func BenchmarkBackfill(b *testing.B) {
	root, bin := stackBench(b)
	for range b.N {
		runBackfill(b, root, bin)
	}
}

func runBackfill(b *testing.B, root, bin string) {
	b.StopTimer()
	ctx := context.Background()
	logs := &levelCounter{}
	s, err := devstack.Start(ctx, devstack.Options{Root: root, KumoBin: bin, KumoPort: freePort(b),
		HTTPAddr: "127.0.0.1:0", ZammadAddr: "127.0.0.1:0", KimaiAddr: "127.0.0.1:0", AdminPassword: "load-password-1",
		DemoTickets: *backfillTickets, DemoEntries: *backfillEntries, DemoSpan: 360 * 24 * time.Hour,
		Timeouts: map[string]int{"reconcile": *backfillTimeout}, ScheduleEvery: 24 * time.Hour, Output: logs})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, prof := newProfile(b, s)
	s.Zammad.SetFaults(zammadsim.Faults{Latency: *backfillLatency})
	s.Kimai.SetFaults(kimaisim.Faults{Latency: *backfillLatency})

	b.StartTimer()
	start := time.Now()
	from, to := time.Now().AddDate(0, 0, -365).UTC(), time.Now().UTC()
	var acc struct{ ID string }
	c.do("POST", "/api/profiles/"+prof.ID+"/runs", map[string]any{"mode": "range", "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339)}, 202, &acc)
	var run runView
	for last := time.Now(); ; time.Sleep(time.Second) {
		login(c) // the run outlasts a console session
		c.do("GET", "/api/runs/"+acc.ID, nil, 200, &run)
		if run.Status == "succeeded" || run.Status == "partial" {
			break
		}
		if run.Status == "failed" || time.Since(start) > 55*time.Minute {
			b.Fatalf("backfill %s after %v: %+v", run.Status, time.Since(start), run)
		}
		if time.Since(last) > time.Minute {
			last = time.Now()
			b.Logf("%v: %s, %d of %d, after ticket %d, part %d", time.Since(start).Round(time.Second), run.Status,
				run.Progress.Done, run.Progress.Total, run.Progress.After, run.Progress.Invocations)
		}
	}
	took := time.Since(start)
	b.StopTimer()

	byEntry := map[int64]int{}
	for _, sh := range s.Kimai.Timesheets() {
		if _, id, ok := plan.ParseMarker(sh.Description); ok {
			byEntry[id]++
		}
	}
	for id, n := range byEntry {
		if n != 1 {
			b.Fatalf("entry %d has %d timesheets", id, n)
		}
	}
	if run.Counts.Errors != 0 || len(byEntry) != run.Counts.Created || run.Counts.Created == 0 {
		b.Fatalf("backfill %+v; Kimai holds timesheets for %d entries", run.Counts, len(byEntry))
	}
	var peak int64
	for _, p := range s.PIDs("reconcile") {
		peak = max(peak, vmHWM(b, p))
	}
	var full runView
	c.do("GET", "/api/runs/"+run.ID, nil, 200, &full)
	b.Logf("backfill of %d entries on %d tickets: %+v in %v, %d continuations; %s", len(s.Zammad.Entries()), *backfillTickets,
		run.Counts, took.Round(time.Second), full.Progress.Invocations, logs.counts())
	b.ReportMetric(took.Seconds(), "total-s")
	b.ReportMetric(float64(run.Counts.Created)/took.Minutes(), "entries/min")
	b.ReportMetric(float64(full.Progress.Invocations+1), "invocations")
	b.ReportMetric(float64(peak)/1024, "reconcile-peak-rss-MB")
	b.ReportMetric(took.Seconds()*0.5, "GB-s@512MB")
	b.ReportMetric(took.Seconds()*0.25, "GB-s@256MB")
}

// vmHWM is a process's peak resident set in KiB (Linux).
func vmHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatalf("read status of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatalf("no VmHWM for process %d", pid)
	return 0
}

// login gives c a fresh console session.
func login(c *client) {
	var l struct{ Token string }
	c.token = ""
	c.do("POST", "/api/auth/login", map[string]string{"username": "admin", "password": "load-password-1"}, 200, &l)
	c.token = l.Token
}
