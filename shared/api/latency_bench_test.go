package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/probe"
	"github.com/timebridge/timebridge/shared/report"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
)

// Sizes of the data set BenchmarkListLatency lists from.
const (
	benchAuditEvents = 10_000
	benchRuns        = 200
	benchConflicts   = 100
	benchLinks       = 10_000 // synced entries behind the summary
)

// benchAuditTypes are the event types the seeded audit log cycles through;
// a type filter therefore matches one event in len(benchAuditTypes).
var benchAuditTypes = []string{"timesheet.created", "timesheet.updated", "timesheet.deleted", "conflict.opened", "run.finished"}

// BenchmarkListLatency measures the API's list endpoints with 10,000 audit
// events, 200 runs and 100 open conflicts stored (target p95 < 50 ms
// locally), and a profile's summary with 10,000 synced entries over a year
// stored (target p95 < 100 ms). Each request goes through the real http.Handler (routing, bearer
// token check, validation, JSON encoding, an info-level JSON logger) and the
// real store against DynamoDB on kumo. One iteration is one request; every
// sub-benchmark reports the p50, p95 and p99 of its requests in ms.
//
//	go test -run '^$' -bench BenchmarkListLatency -benchtime 500x ./shared/api/
func BenchmarkListLatency(b *testing.B) {
	ctx := context.Background()
	st, call, must := benchAPI(b)
	now := time.Now().UTC().Truncate(time.Second)

	// ---- the data set (not timed) ----
	var tok auth.Token
	must(call("POST", "/api/auth/login", "", map[string]string{"username": adminUser, "password": adminPassword}), 200, &tok)
	var zc, kc struct{ ID string }
	must(call("POST", "/api/connectors", tok.Token, map[string]any{"kind": "zammad", "name": "Zammad", "base_url": "https://zammad.example.com", "token": "zammad-token-0001"}), 201, &zc)
	var pids []string
	// Two profiles, each into its own Kimai (one Zammad may not be synced
	// into one Kimai twice).
	for i, name := range []string{"Support", "Projects"} {
		must(call("POST", "/api/connectors", tok.Token, map[string]any{"kind": "kimai", "name": "Kimai " + name,
			"base_url": fmt.Sprintf("https://kimai%d.example.com", i), "token": "kimai-token-0002"}), 201, &kc)
		var p struct{ ID string }
		must(call("POST", "/api/profiles", tok.Token, map[string]any{"name": name, "zammad_connector_id": zc.ID, "kimai_connector_id": kc.ID}), 201, &p)
		pids = append(pids, p.ID)
	}

	seedStart := time.Now()
	// Audit: one event every 2 minutes going back from now (about two
	// weeks), alternating between the profiles and cycling through the
	// types; appended in batches of 500 by 8 writers.
	events := make([]tb.AuditEvent, benchAuditEvents)
	for i := range events {
		events[i] = tb.AuditEvent{
			Time: now.Add(-time.Duration(i+1) * 2 * time.Minute), ProfileID: pids[i%len(pids)], RunID: "run-bench",
			Actor: "engine", Type: benchAuditTypes[(i/len(pids))%len(benchAuditTypes)], Subject: fmt.Sprintf("entry %d", 100000+i),
			Message: "Created timesheet for ticket #4711 (1.5 h, Support)",
			After:   map[string]any{"timesheet_id": 200000 + i, "duration": 5400, "activity": 3, "project": 12},
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	batches := make(chan []tb.AuditEvent)
	for range 8 {
		wg.Go(func() {
			for batch := range batches {
				if err := st.AppendAudit(ctx, batch...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 0; i < len(events); i += 500 {
		batches <- events[i:min(i+500, len(events))]
	}
	close(batches)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for i := range benchRuns {
		q := now.Add(-time.Duration(i+1) * 5 * time.Minute)
		started, finished := q.Add(time.Second), q.Add(40*time.Second)
		if _, err := st.PutRun(ctx, tb.Run{ProfileID: pids[i%len(pids)], Trigger: "schedule", Mode: tb.ModeIncremental,
			Status: tb.RunSucceeded, QueuedAt: q, StartedAt: &started, FinishedAt: &finished, DurationMS: 39000,
			Counts: tb.Counts{Created: 12, Updated: 3, Unchanged: 140}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchConflicts {
		if _, err := st.PutConflict(ctx, tb.Conflict{ProfileID: pids[i%len(pids)], EntryID: int64(500000 + i), TicketID: int64(4000 + i),
			Kind: tb.ConflictEditedInKimai, Status: tb.ConflictOpen, RunID: "run-bench",
			Message: "The timesheet was edited in Kimai after Timebridge wrote it; choose which side wins."}, 0); err != nil {
			b.Fatal(err)
		}
	}
	// A cursor 9,000 events deep into the global log, as a client paging
	// with limit=50 would get it (cursors do not depend on the page size).
	deep := ""
	for range 9 {
		evs, next, err := st.ListAudit(ctx, tb.AuditQuery{Limit: 1000, Cursor: deep})
		if err != nil || next == "" {
			b.Fatalf("paging the audit log: %d events, next %q, %v", len(evs), next, err)
		}
		deep = next
	}
	b.Logf("seeded %d audit events, %d runs, %d conflicts in %v", benchAuditEvents, benchRuns, benchConflicts, time.Since(seedStart).Round(time.Millisecond))

	endpoints := []struct{ name, path string }{
		{"audit", "/api/audit?limit=50"},
		{"audit_profile_type", "/api/audit?profile_id=" + pids[0] + "&type=timesheet.updated&limit=50"},
		{"audit_deep_cursor", "/api/audit?limit=50&cursor=" + url.QueryEscape(deep)},
		{"runs_all_profiles", "/api/runs?limit=50"},
		{"runs_profile", "/api/runs?profile_id=" + pids[0] + "&limit=50"},
		{"conflicts_open", "/api/conflicts?status=open"},
		{"connectors", "/api/connectors"},
		{"profiles", "/api/profiles"},
	}
	for _, ep := range endpoints {
		b.Run(ep.name, func(b *testing.B) {
			// One untimed request checks the answer and warms the path.
			var pg struct {
				Items []json.RawMessage `json:"items"`
			}
			must(call("GET", ep.path, tok.Token, nil), 200, &pg)
			if len(pg.Items) == 0 {
				b.Fatalf("GET %s: no items", ep.path)
			}
			measure(b, call, tok.Token, ep.path)
			b.ReportMetric(float64(len(pg.Items)), "items")
		})
	}
}

// BenchmarkSummaryLatency measures GET /api/profiles/{id}/summary with
// 10,000 synced entries over a year stored (target p95 < 100 ms), on a table
// of its own so that the list figures above stay comparable.
//
//	go test -run '^$' -bench BenchmarkSummaryLatency -benchtime 500x ./shared/api/
func BenchmarkSummaryLatency(b *testing.B) {
	ctx := context.Background()
	st, call, must := benchAPI(b)
	now := time.Now().UTC().Truncate(time.Second)
	var tok auth.Token
	must(call("POST", "/api/auth/login", "", map[string]string{"username": adminUser, "password": adminPassword}), 200, &tok)
	var zc, kc, p struct{ ID string }
	must(call("POST", "/api/connectors", tok.Token, map[string]any{"kind": "zammad", "name": "Zammad", "base_url": "https://zammad.example.com", "token": "zammad-token-0001"}), 201, &zc)
	must(call("POST", "/api/connectors", tok.Token, map[string]any{"kind": "kimai", "name": "Kimai", "base_url": "https://kimai.example.com", "token": "kimai-token-0002"}), 201, &kc)
	must(call("POST", "/api/profiles", tok.Token, map[string]any{"name": "Support", "zammad_connector_id": zc.ID, "kimai_connector_id": kc.ID}), 201, &p)

	// 10,000 synced entries, one every 53 minutes back from now (about a
	// year), written the way the engine writes them (each link write
	// changes the summary counters), by 8 writers.
	seedStart := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				begin := now.Add(-time.Duration(i+1) * 53 * time.Minute)
				e := int64(i + 1)
				if _, err := st.PutLink(ctx, tb.Link{ProfileID: p.ID, EntryID: e, TicketID: 4000 + e%500, State: tb.LinkSynced,
					TimesheetID: 900000 + e, Baseline: tb.Timesheet{ID: 900000 + e, Begin: begin, End: begin.Add(30 * time.Minute), Duration: 1800}}, nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range benchLinks {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d synced entries in %v", benchLinks, time.Since(seedStart).Round(time.Millisecond))
	// And their report records, as the engine keeps them: 40 customers,
	// 500 tickets, 12 agents; one entry in 20 edited in Kimai, one in 50 in
	// conflict, a third exported.
	recs := make([]tb.EntryRecord, benchLinks)
	for i := range recs {
		e := int64(i + 1)
		begin := now.Add(-time.Duration(i+1) * 53 * time.Minute)
		r := tb.EntryRecord{ProfileID: p.ID, EntryID: e, TicketID: 4000 + e%500, TicketNumber: fmt.Sprint(31000 + e%500),
			TicketTitle: "Printer on the third floor prints blank pages", Day: begin.Format(time.DateOnly),
			AgentID: e % 12, Agent: fmt.Sprintf("Agent Number %d", e%12), CustomerID: e % 40, Customer: fmt.Sprintf("Customer GmbH %d", e%40),
			ProjectID: 100 + e%40, Project: fmt.Sprintf("Support Customer GmbH %d", e%40), ActivityID: 7, Activity: "Billable support",
			Zammad: 1800, Written: 1800, Kimai: 1800, Status: tb.RecordSynced, TimesheetID: 900000 + e, Exported: e%3 == 0}
		switch {
		case e%50 == 0:
			r.Status, r.Reason, r.Written, r.Kimai, r.TimesheetID = tb.RecordConflict, "unmapped_activity", 0, 0, 0
		case e%20 == 0:
			r.Kimai = 2700
		}
		recs[i] = r
	}
	for i := 0; i < len(recs); i += 1000 {
		if err := st.WriteRecords(ctx, recs[i:min(i+1000, len(recs))], nil); err != nil {
			b.Fatal(err)
		}
	}

	yearAgo := now.AddDate(0, 0, -365).Format(time.DateOnly)
	for _, ep := range []struct {
		name, path string
		days       int
	}{
		{"30_days", "/api/profiles/" + p.ID + "/summary", 30},
		{"366_days", "/api/profiles/" + p.ID + "/summary?from=" + yearAgo + "&to=" + now.Format(time.DateOnly), 366},
		{"report_30_days", "/api/profiles/" + p.ID + "/report?from=" + now.AddDate(0, 0, -29).Format(time.DateOnly) + "&to=" + now.Format(time.DateOnly), 30},
		{"report_366_days", "/api/profiles/" + p.ID + "/report?from=" + yearAgo + "&to=" + now.Format(time.DateOnly), 366},
		{"report_366_days_by_ticket", "/api/profiles/" + p.ID + "/report?group_by=ticket&from=" + yearAgo + "&to=" + now.Format(time.DateOnly), 366},
		{"report_366_days_csv", "/api/profiles/" + p.ID + "/report?format=csv&from=" + yearAgo + "&to=" + now.Format(time.DateOnly), 366},
	} {
		b.Run(ep.name, func(b *testing.B) {
			switch {
			case strings.Contains(ep.path, "format=csv"):
			case strings.Contains(ep.path, "/report"):
				var rep report.Report
				must(call("GET", ep.path, tok.Token, nil), 200, &rep)
				if len(rep.Days) != ep.days || rep.Totals.Entries < ep.days*26 {
					b.Fatalf("GET %s: %d entries, %d days", ep.path, rep.Totals.Entries, len(rep.Days))
				}
			default:
				var sum summaryResponse
				must(call("GET", ep.path, tok.Token, nil), 200, &sum)
				if sum.Entries != benchLinks || len(sum.Days) != ep.days {
					b.Fatalf("GET %s: %d entries, %d days", ep.path, sum.Entries, len(sum.Days))
				}
			}
			measure(b, call, tok.Token, ep.path)
		})
	}
}

// measure sends b.N requests for path and reports their p50, p95 and p99.
func measure(b *testing.B, call benchClient, token, path string) {
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		rec := call("GET", path, token, nil)
		durs = append(durs, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body.Bytes())
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	for _, p := range []struct {
		q    float64
		unit string
	}{{0.50, "p50_ms"}, {0.95, "p95_ms"}, {0.99, "p99_ms"}} {
		b.ReportMetric(percentile(durs, p.q), p.unit)
	}
}

// percentile returns the q-quantile (nearest rank) of sorted durations in ms.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// benchClient sends one request through the handler; benchCheck checks its
// status and decodes its body into out (nil: none).
type (
	benchClient func(method, path, token string, body any) *httptest.ResponseRecorder
	benchCheck  func(rec *httptest.ResponseRecorder, status int, out any)
)

// benchAPI is the API on a fresh table on kumo, as the benchmarks use it.
func benchAPI(b *testing.B) (*store.Store, benchClient, benchCheck) {
	env := kumotest.Get(b)
	st := env.NewStore(b)
	admin, err := auth.ParseAdminSecret(adminSecret(b))
	if err != nil {
		b.Fatal(err)
	}
	h := New(Deps{
		Store: st, Vault: vault.New(env.Secrets, "tb-bench/"+kumotest.UniqueName(b), 0),
		Queue: &testkit.Sink{}, Resolver: &fakeResolver{st: st},
		Prober: &fakeProber{result: probe.TestResult{OK: true}}, Catalog: &fakeProber{},
		Auth:      auth.New(auth.StaticAdmin(admin), st, auth.Options{}),
		PublicURL: publicURL,
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
		LookupHost: func(context.Context, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		},
	})

	// call sends one request through the handler and returns the answer.
	call := func(method, path, token string, body any) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = strings.NewReader(string(j))
		}
		req := httptest.NewRequest(method, path, rd)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.RemoteAddr = "203.0.113.10:40000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	must := func(rec *httptest.ResponseRecorder, status int, out any) {
		b.Helper()
		if rec.Code != status {
			b.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.Bytes())
		}
		if out != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
				b.Fatal(err)
			}
		}
	}

	return st, call, must
}
