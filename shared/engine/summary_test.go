package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/report"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// kimaiTruth is what Kimai holds for the profile, by the day a timesheet
// begins in the Kimai user's zone (the harness's Europe/Berlin).
func kimaiTruth(h *harness) (entries, secs int64, days map[string]tb.DayTotal) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	days = map[string]tb.DayTotal{}
	for _, sheets := range h.sheetsByEntry() {
		for _, s := range sheets {
			d := s.Begin.In(berlin).Format(time.DateOnly)
			t := days[d]
			t.Day, t.Entries, t.Seconds = d, t.Entries+1, t.Seconds+s.Duration
			days[d] = t
			entries++
			secs += s.Duration
		}
	}
	return entries, secs, days
}

// checkSummary compares the profile's summary with Kimai's truth.
func checkSummary(t *testing.T, h *harness, step string) {
	t.Helper()
	got, err := h.st.Summary(context.Background(), h.profile.ID, "2026-01-01", "2026-12-31")
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	entries, secs, days := kimaiTruth(h)
	if got.Entries != entries || got.Seconds != secs || len(got.Days) != len(days) {
		t.Fatalf("%s: summary %d entries, %d s, %d days; Kimai holds %d entries, %d s on %d days (%+v vs %+v)",
			step, got.Entries, got.Seconds, len(got.Days), entries, secs, len(days), got.Days, days)
	}
	for _, d := range got.Days {
		if days[d.Day] != d {
			t.Fatalf("%s: day %s is %+v in the summary, %+v in Kimai", step, d.Day, d, days[d.Day])
		}
	}
}

// TestSummaryMatchesKimai: the summary the engine keeps, and the report's
// totals, equal what Kimai
// holds after creates, an edit that moves an entry to another day, a
// negative correction, a deletion, a Kimai-side edit resolved with
// keep_kimai, and it ignores dry runs. An entry that began at 23:14 UTC counts
// on the next day in the Kimai user's zone (Berlin).
func TestSummaryMatchesKimai(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	day := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, time.UTC) }
	e1 := h.addEntry(tid, agent, typ, "120", day(2, 9, 0))
	e2 := h.addEntry(tid, agent, typ, "30", day(2, 14, 0))
	e3 := h.addEntry(tid, agent, typ, "45", day(3, 23, 59)) // booked then, so it began at 23:14 UTC: 00:14 on the 4th in Berlin
	h.addEntry(tid, agent, typ, "15", day(5, 10, 0))
	h.run(tb.ModeIncremental, func(r *engine.Request) { r.DryRun = true })
	checkSummary(t, h, "dry run")
	if s, _ := h.st.Summary(context.Background(), h.profile.ID, "2026-01-01", "2026-12-31"); s.Entries != 0 {
		t.Fatalf("a dry run counted %d entries", s.Entries)
	}
	if last, _ := h.st.LastSuccesses(context.Background(), []string{h.profile.ID}); len(last) != 0 {
		t.Fatalf("a dry run counted as the profile's last success: %v", last)
	}
	h.run(tb.ModeIncremental)
	checkSummary(t, h, "first sync")
	checkReport(t, h, "first sync")
	if last, _ := h.st.LastSuccesses(context.Background(), []string{h.profile.ID}); !last[h.profile.ID].Equal(h.Now()) {
		t.Fatalf("the sync was not recorded as the profile's last success: %v (now %v)", last, h.Now())
	}
	if s, _ := h.st.Summary(context.Background(), h.profile.ID, "2026-03-04", "2026-03-04"); len(s.Days) != 1 || s.Days[0].Seconds != 45*60 {
		t.Fatalf("the 23:30 UTC entry is not on the 4th (Berlin): %+v", s.Days)
	}

	h.Add(time.Minute)
	h.zs.UpdateEntry(e2.ID, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("50"); e.CreatedAt = day(6, 8, 0) })
	h.run(tb.ModeIncremental)
	checkSummary(t, h, "edit to another day")
	checkReport(t, h, "edit to another day")

	h.Add(time.Minute)
	h.addEntry(tid, agent, typ, "-60", day(7, 9, 0))
	h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
	checkSummary(t, h, "negative correction")
	checkReport(t, h, "negative correction")

	h.zs.DeleteEntry(e1.ID)
	h.run(tb.ModeFull)
	checkSummary(t, h, "deletion")
	checkReport(t, h, "deletion")

	// Someone edits e3's timesheet in Kimai (longer), then Zammad changes:
	// a conflict; keep_kimai makes Kimai's state the baseline.
	sheet := h.sheetsByEntry()[e3.ID][0]
	h.ks.EditTimesheet(sheet.ID, func(s *kimaisim.Sheet) { s.End = s.End.Add(30 * time.Minute) })
	h.Add(time.Minute)
	h.zs.UpdateEntry(e3.ID, func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("40") })
	h.run(tb.ModeIncremental)
	if c := h.conflictOf(e3.ID); c.Kind != tb.ConflictEditedInKimai {
		t.Fatalf("conflict %s", c.Kind)
	}
	if rep := checkReport(t, h, "kimai-side edit in conflict"); reasonSeconds(rep.Totals, report.ReasonConflict) != -35*60 {
		t.Fatalf("the open conflict explains %+v, want -2100 s", rep.Totals.Reasons)
	}
	h.resolve(e3.ID, tb.ResolveKeepKimai)
	checkSummary(t, h, "kimai-side edit kept")
	checkReport(t, h, "kimai-side edit kept")

	h.run(tb.ModeFull)
	checkSummary(t, h, "settled")
	checkReport(t, h, "settled")
}

// TestSummaryCountsLinksFromBeforeIt: links written before the summary
// existed have no tally and no counters; the next run that loads them
// counts each exactly once (a second run changes nothing).
func TestSummaryCountsLinksFromBeforeIt(t *testing.T) {
	h := newHarness(t, options{})
	tid, agent, typ := h.seedBasics()
	for i := range 5 {
		h.addEntry(tid, agent, typ, "30", time.Date(2026, 3, 2+i, 9, 0, 0, 0, time.UTC))
	}
	h.run(tb.ModeIncremental)
	checkSummary(t, h, "first sync")
	forgetSummary(t, h)
	if s, _ := h.st.Summary(context.Background(), h.profile.ID, "2026-01-01", "2026-12-31"); s.Entries != 0 {
		t.Fatalf("the old deployment's table still has a summary: %+v", s)
	}
	h.run(tb.ModeTicket, func(r *engine.Request) { r.DryRun, r.TicketID = true, tid })
	if s, _ := h.st.Summary(context.Background(), h.profile.ID, "2026-01-01", "2026-12-31"); s.Entries != 0 {
		t.Fatalf("a dry run wrote %d entries into the summary", s.Entries)
	}
	h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
	checkSummary(t, h, "after the first run of the new version")
	h.run(tb.ModeFull)
	checkSummary(t, h, "after another run")
}

// forgetSummary turns the table into one of a deployment from before the
// summary: no counter items, no tally on any link.
func forgetSummary(t *testing.T, h *harness) {
	t.Helper()
	ctx := context.Background()
	db := kumotest.Get(t).DynamoDB
	var items []map[string]types.AttributeValue
	for _, pk := range []string{"P#" + h.profile.ID, "SUM#" + h.profile.ID} {
		out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(h.st.Table()),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
	}
	var err error
	for _, it := range items {
		k := map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}
		sk := it["sk"].(*types.AttributeValueMemberS).Value
		switch {
		case strings.HasPrefix(it["pk"].(*types.AttributeValueMemberS).Value, "SUM#"):
			_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(h.st.Table()), Key: k})
		case strings.HasPrefix(sk, "LINK#"):
			_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(h.st.Table()), Key: k,
				UpdateExpression: aws.String("REMOVE tally, worked_on")})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
