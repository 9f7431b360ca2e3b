package api

import (
	"context"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestSummaryEndpoint(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("Summary")["id"].(string)
	day := func(s string) time.Time {
		d, _ := time.Parse(time.DateOnly, s)
		return d.Add(10 * time.Hour)
	}
	for i, b := range []struct {
		day  string
		secs int64
	}{{"2026-03-02", 1800}, {"2026-03-02", 600}, {"2026-03-04", 3600}, {"2026-01-15", 60}} {
		e := int64(i + 1)
		_, err := h.st.PutLink(context.Background(), tb.Link{ProfileID: pid, EntryID: e, TicketID: 1, State: tb.LinkSynced, TimesheetID: 100 + e,
			Baseline: tb.Timesheet{ID: 100 + e, Begin: day(b.day), End: day(b.day).Add(time.Duration(b.secs) * time.Second), Duration: b.secs}}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	var got summaryResponse
	h.do("GET", "/api/profiles/"+pid+"/summary?from=2026-03-01&to=2026-03-05", nil).want(t, 200).decode(t, &got)
	if got.ProfileID != pid || got.From != "2026-03-01" || got.To != "2026-03-05" || got.Entries != 4 || got.Seconds != 6060 ||
		got.Period.Entries != 3 || got.Period.Seconds != 6000 || len(got.Days) != 5 {
		t.Fatalf("summary %+v", got)
	}
	want := []tb.DayTotal{{Day: "2026-03-01"}, {Day: "2026-03-02", Entries: 2, Seconds: 2400}, {Day: "2026-03-03"},
		{Day: "2026-03-04", Entries: 1, Seconds: 3600}, {Day: "2026-03-05"}}
	for i := range want {
		if got.Days[i] != want[i] {
			t.Fatalf("day %d: %+v, want %+v", i, got.Days[i], want[i])
		}
	}
	// Default: the 30 days up to today (the harness clock).
	h.do("GET", "/api/profiles/"+pid+"/summary", nil).want(t, 200).decode(t, &got)
	today := h.clock.Now().UTC().Format(time.DateOnly)
	if len(got.Days) != 30 || got.To != today || got.Days[29].Day != today {
		t.Fatalf("default period %s..%s, %d days", got.From, got.To, len(got.Days))
	}
	// A year and a day at most; bad dates and order are refused.
	h.do("GET", "/api/profiles/"+pid+"/summary?from=2025-03-05&to=2026-03-05", nil).want(t, 200)
	h.do("GET", "/api/profiles/"+pid+"/summary?from=2025-03-04&to=2026-03-05", nil).wantError(t, 400, apperr.CodeValidation, "from")
	h.do("GET", "/api/profiles/"+pid+"/summary?from=2026-03-06&to=2026-03-05", nil).wantError(t, 400, apperr.CodeValidation, "to")
	h.do("GET", "/api/profiles/"+pid+"/summary?from=2026-3-6", nil).wantError(t, 400, apperr.CodeValidation, "from")
	h.do("GET", "/api/profiles/"+pid+"/summary?days=3", nil).wantError(t, 400, apperr.CodeValidation, "days")
	h.do("GET", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/summary", nil).wantError(t, 404, apperr.CodeNotFound, "")
}
