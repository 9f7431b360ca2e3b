package api

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// maxSummaryDays bounds one summary request: a year and a day.
const maxSummaryDays = 366

// summaryResponse is the answer of GET /api/profiles/{id}/summary.
type summaryResponse struct {
	ProfileID string `json:"profile_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	// Entries and Seconds are all time: what the profile holds in Kimai.
	Entries int64 `json:"entries"`
	Seconds int64 `json:"seconds"`
	// Period sums Days.
	Period struct {
		Entries int64 `json:"entries"`
		Seconds int64 `json:"seconds"`
	} `json:"period"`
	// Days has every day from From to To, oldest first, zeros included, so
	// that a chart needs no gaps filled.
	Days []tb.DayTotal `json:"days"`
}

// getSummary answers what a profile holds in Kimai by the day worked (the
// day a timesheet begins in the Kimai user's zone), from the counters the
// engine keeps on every write: two queries, whatever the number of entries.
func (s *server) getSummary(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "from", "to")
	if err != nil {
		return err
	}
	p := problems{}
	from, to := summaryPeriod(p, q, s.Now().UTC())
	if err := p.err(); err != nil {
		return err
	}
	pr, err := s.loadProfile(r)
	if err != nil {
		return err
	}
	sum, err := s.Store.Summary(r.Context(), pr.ID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return err
	}
	out := summaryResponse{ProfileID: pr.ID, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Entries: sum.Entries, Seconds: sum.Seconds, Days: []tb.DayTotal{}}
	have := map[string]tb.DayTotal{}
	for _, d := range sum.Days {
		have[d.Day] = d
	}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		t := have[day]
		t.Day = day
		out.Days = append(out.Days, t)
		out.Period.Entries += t.Entries
		out.Period.Seconds += t.Seconds
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// summaryPeriod reads from and to (YYYY-MM-DD, inclusive): by default the
// 30 days up to today (UTC); at most maxSummaryDays days.
func summaryPeriod(p problems, q url.Values, now time.Time) (from, to time.Time) {
	return period(p, q, now, func(to time.Time) time.Time { return to.AddDate(0, 0, -29) })
}

// period reads from and to (YYYY-MM-DD, inclusive): to defaults to today
// (UTC), from to defFrom(to); at most maxSummaryDays days.
func period(p problems, q url.Values, now time.Time, defFrom func(to time.Time) time.Time) (from, to time.Time) {
	day := func(name string, def time.Time) time.Time {
		v := q.Get(name)
		if v == "" {
			return def
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			p.add(name, "must be a date such as 2026-03-31")
			return def
		}
		return t
	}
	today := now.Truncate(24 * time.Hour)
	to = day("to", today)
	from = day("from", defFrom(to))
	switch {
	case to.Before(from):
		p.add("to", "must not be before from")
	case to.Sub(from) >= maxSummaryDays*24*time.Hour:
		p.add("from", fmt.Sprintf("must be at most %d days before to", maxSummaryDays-1))
	}
	return from, to
}
