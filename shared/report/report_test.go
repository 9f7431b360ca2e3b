package report_test

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/report"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

// rec is a synced entry of customer 1 on 2026-03-02, agent 7, ticket 50.
func rec(entry int64, mut func(*tb.EntryRecord)) tb.EntryRecord {
	r := tb.EntryRecord{ProfileID: "p", EntryID: entry, TicketID: 50, TicketNumber: "53003", TicketTitle: "Order",
		Day: "2026-03-02", AgentID: 7, Agent: "Chris", CustomerID: 1, Customer: "Acme", ProjectID: 3, Project: "Support",
		ActivityID: 4, Activity: "Billable", Zammad: 600, Written: 600, Kimai: 600, Status: tb.RecordSynced, TimesheetID: entry + 100}
	if mut != nil {
		mut(&r)
	}
	return r
}

func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    tb.EntryRecord
		want report.Reason
	}{
		{"agree", rec(1, nil), ""},
		{"conflict", rec(1, func(r *tb.EntryRecord) { r.Status, r.Kimai, r.Written = tb.RecordConflict, 0, 0 }), report.ReasonConflict},
		{"conflict, same time", rec(1, func(r *tb.EntryRecord) { r.Status = tb.RecordConflict }), ""},
		{"skipped", rec(1, func(r *tb.EntryRecord) { r.Status, r.Kimai, r.Written = tb.RecordSkipped, 0, 0 }), report.ReasonSkipped},
		{"pending", rec(1, func(r *tb.EntryRecord) { r.Status, r.Kimai, r.Written = tb.RecordPending, 0, 0 }), report.ReasonPending},
		{"failed", rec(1, func(r *tb.EntryRecord) { r.Status, r.Kimai, r.Written = tb.RecordFailed, 0, 0 }), report.ReasonFailed},
		{"edited in kimai", rec(1, func(r *tb.EntryRecord) { r.Kimai = 900 }), report.ReasonEditedKimai},
		{"kept kimai", rec(1, func(r *tb.EntryRecord) { r.Kimai, r.Written = 900, 900 }), report.ReasonEditedKimai},
		{"deleted in kimai", rec(1, func(r *tb.EntryRecord) { r.Kimai, r.KimaiGone = 0, true }), report.ReasonDeletedKimai},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := report.ReasonOf(tc.r)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("ReasonOf = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	recs := []tb.EntryRecord{
		rec(1, func(r *tb.EntryRecord) { r.Exported = true }),
		rec(2, func(r *tb.EntryRecord) { r.Kimai = 900; r.Day = "2026-03-03" }),
		rec(3, func(r *tb.EntryRecord) {
			r.Status, r.Written, r.Kimai, r.Reason = tb.RecordConflict, 0, 0, "unmapped_customer"
			r.CustomerID, r.Customer, r.ProjectID, r.Project, r.ActivityID, r.Activity = 0, "", 0, "", 0, ""
			r.TicketID, r.TicketNumber, r.Zammad = 51, "53004", 1200
		}),
		rec(4, func(r *tb.EntryRecord) { r.Day = "2026-04-01" }), // outside the period
		rec(5, func(r *tb.EntryRecord) {
			r.CustomerID, r.Customer, r.Zammad, r.Written, r.Kimai = 2, "Beta", 300, 300, 300
		}),
	}
	rep := report.Build(report.Input{ProfileID: "p", From: day("2026-03-01"), To: day("2026-03-31"), GroupBy: report.ByCustomer,
		Records: recs, Observed: time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)})
	if rep.From != "2026-03-01" || rep.To != "2026-03-31" || len(rep.Days) != 31 || rep.ObservedAt != "2026-03-20T12:00:00Z" {
		t.Fatalf("period %s..%s, %d days, observed %q", rep.From, rep.To, len(rep.Days), rep.ObservedAt)
	}
	if d := rep.Days[1]; d.Day != "2026-03-02" || d.Zammad != 600+1200+300 || d.Kimai != 600+300 {
		t.Fatalf("2 March: %+v", d)
	}
	if d := rep.Days[2]; d.Zammad != 600 || d.Kimai != 900 {
		t.Fatalf("3 March: %+v", d)
	}
	// Equal Zammad time: by name.
	want := []report.Group{
		{Key: "", Name: "(no customer: not mapped)", Entries: 1, Zammad: 1200, Difference: 1200,
			Reasons: []report.ReasonPart{{Reason: report.ReasonConflict, Entries: 1, Seconds: 1200}}},
		{Key: "1", Name: "Acme", Entries: 2, Zammad: 1200, Written: 1200, Kimai: 1500, Difference: -300, Billed: 600,
			Reasons: []report.ReasonPart{{Reason: report.ReasonEditedKimai, Entries: 1, Seconds: -300}}},
		{Key: "2", Name: "Beta", Entries: 1, Zammad: 300, Written: 300, Kimai: 300, Reasons: []report.ReasonPart{}},
	}
	if len(rep.Groups) != len(want) {
		t.Fatalf("%d groups: %+v", len(rep.Groups), rep.Groups)
	}
	for i := range want {
		g := rep.Groups[i]
		if g.Key != want[i].Key || g.Name != want[i].Name || g.Entries != want[i].Entries || g.Zammad != want[i].Zammad ||
			g.Written != want[i].Written || g.Kimai != want[i].Kimai || g.Difference != want[i].Difference ||
			g.Billed != want[i].Billed || !reflect.DeepEqual(g.Reasons, want[i].Reasons) || g.IsBilled != nil {
			t.Errorf("group %d = %+v, want %+v", i, g, want[i])
		}
	}
	tot := rep.Totals
	if tot.Entries != 4 || tot.Zammad != 2700 || tot.Kimai != 1800 || tot.Difference != 900 || tot.Billed != 600 || len(tot.Reasons) != 2 ||
		tot.Reasons[0].Reason != report.ReasonConflict {
		t.Fatalf("totals %+v", tot)
	}
}

func TestBuildByTicketSaysBilled(t *testing.T) {
	recs := []tb.EntryRecord{
		rec(1, func(r *tb.EntryRecord) { r.Exported = true }),
		rec(2, func(r *tb.EntryRecord) { r.Exported = true }),
		rec(3, func(r *tb.EntryRecord) { r.TicketID, r.TicketNumber, r.Exported = 51, "53004", true }),
		rec(4, func(r *tb.EntryRecord) { r.TicketID, r.TicketNumber = 51, "53004" }),
	}
	in := report.Input{From: day("2026-03-01"), To: day("2026-03-31"), GroupBy: report.ByTicket, Records: recs, Billing: true}
	rep := report.Build(in)
	got := map[string]bool{}
	for _, g := range rep.Groups {
		if g.IsBilled == nil {
			t.Fatalf("group %s: billed not said", g.Name)
		}
		got[g.Name] = *g.IsBilled
		if g.TicketID == 0 {
			t.Fatalf("group %s without ticket id", g.Name)
		}
	}
	if !got["#53003 Order"] || got["#53004 Order"] {
		t.Fatalf("billed %v", got)
	}
	in.Billing = false
	for _, g := range report.Build(in).Groups {
		if g.IsBilled != nil {
			t.Fatalf("billing off, yet %s says billed", g.Name)
		}
	}
}

func TestGroupings(t *testing.T) {
	r := rec(1, nil)
	for _, tc := range []struct {
		by        report.GroupBy
		key, name string
	}{
		{report.ByCustomer, "1", "Acme"},
		{report.ByProject, "3", "Support"},
		{report.ByActivity, "4", "Billable"},
		{report.ByAgent, "7", "Chris"},
		{report.ByTicket, "50", "#53003 Order"},
	} {
		rep := report.Build(report.Input{From: day("2026-03-02"), To: day("2026-03-02"), GroupBy: tc.by, Records: []tb.EntryRecord{r}})
		if g := rep.Groups[0]; g.Key != tc.key || g.Name != tc.name {
			t.Errorf("%s: %q %q, want %q %q", tc.by, g.Key, g.Name, tc.key, tc.name)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	recs := []tb.EntryRecord{
		rec(1, func(r *tb.EntryRecord) { r.Customer = "=HYPERLINK(\"x\")"; r.Zammad, r.Written, r.Kimai = 90, 90, 90 }),
		rec(2, func(r *tb.EntryRecord) { r.CustomerID, r.Customer, r.Kimai = 2, "Beta, Inc.", 900 }),
	}
	rep := report.Build(report.Input{From: day("2026-03-02"), To: day("2026-03-02"), GroupBy: report.ByCustomer, Records: recs})
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"customer", "name", "entries", "zammad_minutes", "written_minutes", "kimai_minutes", "difference_minutes", "billed_minutes",
			"open_conflict_minutes", "skipped_minutes", "pending_minutes", "failed_minutes", "edited_in_kimai_minutes", "deleted_in_kimai_minutes"},
		{"2", "Beta, Inc.", "1", "10", "10", "15", "-5", "0", "0", "0", "0", "0", "-5", "0"},
		{"1", "'=HYPERLINK(\"x\")", "1", "1.5", "1.5", "1.5", "0", "0", "0", "0", "0", "0", "0", "0"},
		{"total", "Total", "2", "11.5", "11.5", "16.5", "-5", "0", "0", "0", "0", "0", "-5", "0"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("CSV\n%q\nwant\n%q", rows, want)
	}
}
