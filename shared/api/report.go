package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/timebridge/timebridge/shared/report"
)

// getReport answers the reconciliation report of a profile's period (by
// default the month up to today, UTC) as JSON or CSV: one Query of the
// period's entry records, whatever the profile's size.
func (s *server) getReport(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "from", "to", "group_by", "format")
	if err != nil {
		return err
	}
	p := problems{}
	from, to := period(p, q, s.Now().UTC(), func(to time.Time) time.Time { return to.AddDate(0, 0, 1-to.Day()) })
	by := report.GroupBy(q.Get("group_by"))
	if by == "" {
		by = report.ByCustomer
	} else if !slices.Contains(report.GroupBys, by) {
		p.add("group_by", "must be customer, project, activity, agent or ticket")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		p.add("format", "must be json or csv")
	}
	if err := p.err(); err != nil {
		return err
	}
	pr, err := s.loadProfile(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	recs, err := s.Store.RecordsByDay(ctx, pr.ID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return err
	}
	observed, err := s.Store.Observed(ctx, pr.ID)
	if err != nil {
		return err
	}
	rep := report.Build(report.Input{ProfileID: pr.ID, From: from, To: to, GroupBy: by, Billing: pr.Billing.Enabled,
		Observed: observed, Records: recs})
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="timebridge-report-%s-%s-%s.csv"`, rep.From, rep.To, by))
	w.WriteHeader(http.StatusOK)
	return report.WriteCSV(w, rep)
}
