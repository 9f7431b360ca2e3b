package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/report"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestReportEndpoint: the report of a period from the stored entry
// records, as JSON and as CSV with the same numbers; the period's default
// is the month up to today; bad parameters are refused by name.
func TestReportEndpoint(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("Report")["id"].(string)
	recs := []tb.EntryRecord{
		{ProfileID: pid, EntryID: 1, TicketID: 50, TicketNumber: "53003", Day: "2026-03-02", CustomerID: 1, Customer: "Acme",
			Zammad: 1800, Written: 1800, Kimai: 1800, Status: tb.RecordSynced, TimesheetID: 101, Exported: true},
		{ProfileID: pid, EntryID: 2, TicketID: 50, TicketNumber: "53003", Day: "2026-03-03", CustomerID: 1, Customer: "Acme",
			Zammad: 600, Written: 600, Kimai: 900, Status: tb.RecordSynced, TimesheetID: 102},
		{ProfileID: pid, EntryID: 3, TicketID: 51, TicketNumber: "53004", Day: "2026-03-03", Zammad: 1200, Status: tb.RecordConflict,
			Reason: "unmapped_customer"},
		{ProfileID: pid, EntryID: 4, TicketID: 51, TicketNumber: "53004", Day: "2026-04-01", CustomerID: 1, Customer: "Acme",
			Zammad: 60, Written: 60, Kimai: 60, Status: tb.RecordSynced, TimesheetID: 104},
	}
	if err := h.st.WriteRecords(context.Background(), recs, nil); err != nil {
		t.Fatal(err)
	}
	var got report.Report
	base := "/api/profiles/" + pid + "/report"
	h.do("GET", base+"?from=2026-03-01&to=2026-03-31", nil).want(t, 200).decode(t, &got)
	if got.From != "2026-03-01" || got.To != "2026-03-31" || got.GroupBy != report.ByCustomer || len(got.Days) != 31 || len(got.Groups) != 2 {
		t.Fatalf("report %+v", got)
	}
	if tot := got.Totals; tot.Entries != 3 || tot.Zammad != 3600 || tot.Kimai != 2700 || tot.Difference != 900 || tot.Billed != 1800 {
		t.Fatalf("totals %+v", tot)
	}
	var byTicket report.Report
	h.do("GET", base+"?from=2026-03-01&to=2026-04-30&group_by=ticket", nil).want(t, 200).decode(t, &byTicket)
	if len(byTicket.Groups) != 2 || byTicket.Groups[0].TicketID == 0 || byTicket.Totals.Entries != 4 {
		t.Fatalf("by ticket %+v", byTicket)
	}

	r := h.do("GET", base+"?from=2026-03-01&to=2026-03-31&format=csv", nil).want(t, 200)
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="timebridge-report-2026-03-01-2026-03-31-customer.csv"` {
		t.Fatalf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(got.Groups)+1 {
		t.Fatalf("%d CSV rows for %d groups", len(rows), len(got.Groups))
	}
	for i, g := range got.Groups {
		row := rows[i+1]
		if row[1] != g.Name || row[3] != fmt.Sprint(g.Zammad/60) || row[5] != fmt.Sprint(g.Kimai/60) || row[6] != fmt.Sprint(g.Difference/60) {
			t.Fatalf("CSV row %v, group %+v", row, g)
		}
	}

	// Default: the month up to today (the harness clock).
	h.do("GET", base, nil).want(t, 200).decode(t, &got)
	today := h.clock.Now().UTC()
	if got.To != today.Format(time.DateOnly) || got.From != today.AddDate(0, 0, 1-today.Day()).Format(time.DateOnly) {
		t.Fatalf("default period %s..%s", got.From, got.To)
	}
	h.do("GET", base+"?group_by=org", nil).wantError(t, 400, apperr.CodeValidation, "group_by")
	h.do("GET", base+"?format=xml", nil).wantError(t, 400, apperr.CodeValidation, "format")
	h.do("GET", base+"?from=2025-03-04&to=2026-03-05", nil).wantError(t, 400, apperr.CodeValidation, "from")
	h.do("GET", base+"?x=1", nil).wantError(t, 400, apperr.CodeValidation, "x")
	h.do("GET", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/report", nil).wantError(t, 404, apperr.CodeNotFound, "")
}

// TestRunEntriesAndRetry: a run's outcomes are paged and filtered; a retry
// queues one ticket run over the failed entries' tickets, refused while
// the run goes on or when nothing failed.
func TestRunEntriesAndRetry(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("Retry")["id"].(string)
	ctx := context.Background()
	var outs []tb.EntryOutcome
	for i := range 7 {
		o := tb.EntryOutcome{EntryID: int64(i + 1), TicketID: int64(50 + i%3), Outcome: tb.OutcomeCreated}
		switch i {
		case 1, 4:
			o.Outcome, o.Class, o.Reason = tb.OutcomeFailed, "upstream", "Kimai answered 500."
		case 2:
			o.Outcome = tb.OutcomeUnchanged
		}
		outs = append(outs, o)
	}
	run, err := h.st.PutRun(ctx, tb.Run{ProfileID: pid, Mode: tb.ModeFull, Status: tb.RunRunning, Outcomes: outs})
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items      []tb.EntryOutcome `json:"items"`
		Total      int               `json:"total"`
		NextCursor string            `json:"next_cursor"`
	}
	h.do("GET", "/api/runs/"+run.ID+"/entries?limit=4", nil).want(t, 200).decode(t, &page)
	if page.Total != 6 || len(page.Items) != 4 || page.NextCursor == "" {
		t.Fatalf("first page %+v", page)
	}
	h.do("GET", "/api/runs/"+run.ID+"/entries?limit=4&cursor="+page.NextCursor, nil).want(t, 200).decode(t, &page)
	if len(page.Items) != 2 || page.NextCursor != "" || page.Items[1].EntryID != 7 {
		t.Fatalf("second page %+v", page)
	}
	h.do("GET", "/api/runs/"+run.ID+"/entries?outcome=unchanged", nil).want(t, 200).decode(t, &page)
	if page.Total != 1 || page.Items[0].EntryID != 3 {
		t.Fatalf("unchanged %+v", page)
	}
	h.do("GET", "/api/runs/"+run.ID+"/entries?outcome=failed", nil).want(t, 200).decode(t, &page)
	if page.Total != 2 || page.Items[0].Reason == "" {
		t.Fatalf("failed %+v", page)
	}
	h.do("GET", "/api/runs/"+run.ID+"/entries?outcome=gone", nil).wantError(t, 400, apperr.CodeValidation, "outcome")
	h.do("GET", "/api/runs/"+run.ID+"/entries?cursor=x", nil).wantError(t, 400, apperr.CodeValidation, "cursor")

	h.do("POST", "/api/runs/"+run.ID+"/retry", nil).wantError(t, 409, apperr.CodeConflict, "")
	run.Status = tb.RunPartial
	if _, err := h.st.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	before := len(h.sink.Sent())
	acc := h.do("POST", "/api/runs/"+run.ID+"/retry", nil).want(t, 202).obj(t)
	msgs := h.sink.Sent()
	if len(msgs) != before+1 {
		t.Fatalf("%d messages queued", len(msgs)-before)
	}
	m := msgs[len(msgs)-1]
	if m.Mode != tb.ModeTicket || m.TicketID != 51 || len(m.Tickets) != 0 || m.RetryOf != run.ID || m.RunID != acc["id"] {
		t.Fatalf("retry message %+v", m)
	}
	queued, err := h.st.GetRun(ctx, acc["id"].(string))
	if err != nil || queued.RetryOf != run.ID || queued.Status != tb.RunQueued {
		t.Fatalf("retry run %+v, %v", queued, err)
	}
	if got := h.auditTypes(pid); !slices.Contains(got, "run.requested") {
		t.Fatalf("audit %v", got)
	}

	clean, _ := h.st.PutRun(ctx, tb.Run{ProfileID: pid, Mode: tb.ModeFull, Status: tb.RunSucceeded,
		Outcomes: []tb.EntryOutcome{{EntryID: 1, TicketID: 50, Outcome: tb.OutcomeCreated}}})
	h.do("POST", "/api/runs/"+clean.ID+"/retry", nil).wantError(t, 409, apperr.CodeConflict, "")
}

// TestRunsByDate: from/to bound the runs list by when they were queued,
// across profiles and for one.
func TestRunsByDate(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("Dates")["id"].(string)
	ctx := context.Background()
	for _, d := range []string{"2026-03-01T10:00:00Z", "2026-03-02T23:59:59Z", "2026-03-03T00:00:00Z", "2026-03-05T08:00:00Z"} {
		q, _ := time.Parse(time.RFC3339, d)
		if _, err := h.st.PutRun(ctx, tb.Run{ProfileID: pid, Mode: tb.ModeFull, Status: tb.RunSucceeded, QueuedAt: q}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string) int {
		var p struct {
			Items []tb.Run `json:"items"`
		}
		h.do("GET", "/api/runs?"+q, nil).want(t, 200).decode(t, &p)
		return len(p.Items)
	}
	for q, want := range map[string]int{
		"from=2026-03-02&to=2026-03-02":                        1,
		"from=2026-03-02&to=2026-03-03":                        2,
		"from=2026-03-03":                                      2,
		"to=2026-03-01":                                        1,
		"from=2026-03-02T23:59:59Z&to=2026-03-03T00:00:00Z":    1,
		"profile_id=" + pid + "&from=2026-03-01&to=2026-03-05": 4,
		"profile_id=" + pid + "&from=2026-03-04":               1,
	} {
		if got := count(q); got != want {
			t.Errorf("%s: %d runs, want %d", q, got, want)
		}
	}
	h.do("GET", "/api/runs?from=yesterday", nil).wantError(t, 400, apperr.CodeValidation, "from")
	h.do("GET", "/api/runs?from=2026-03-05&to=2026-03-01", nil).wantError(t, 400, apperr.CodeValidation, "to")
}
