package plan

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Lost links: a restored table, a profile re-created against the same
// Kimai, a link deleted by hand. The claim only protects an entry while its
// link exists, so before the first claim of an entry Kimai is searched for
// its marker, and a timesheet found there is adopted instead of being
// created a second time. The search is batched so that a first sync stays
// within about one Kimai request per created entry.
const (
	// OrphanMargin widens each searched window: Kimai rounds begin on
	// save, and the timesheet may have been moved a little by a human.
	OrphanMargin = 24 * time.Hour
	// orphanGap splits candidates into separate windows when their begin
	// times are further apart than this.
	orphanGap = 2 * 24 * time.Hour
	// OrphanPage is how many timesheets one listing request returns
	// (Kimai's page size).
	OrphanPage = 500
)

// OrphanSearch is how a run looks for the timesheets of unlinked
// entries: by begin-time windows (Windows) or by ticket number (Tickets).
type OrphanSearch struct {
	Windows []Window
	Tickets []string // ticket numbers, searched as "#<number>"
}

// Window is a span of timesheet begin times.
type Window struct{ From, To time.Time }

// OrphanCandidates lists the entries of a plan input that are about to be
// created for the first time: a timesheet is wanted, there is no link at
// all, and no conflict stands in the way. covered reports entries whose
// timesheets a full run has already listed, which need no search.
func OrphanCandidates(in Input, covered func(Desired) bool) []Desired {
	var cands []Desired
	for _, d := range in.Desired {
		if _, linked := in.Links[d.Entry.ID]; linked || d.Sheet == nil || d.Conflict != nil || covered(d) {
			continue
		}
		if c, open := in.Conflicts[d.Entry.ID]; open && blocking(c.Kind) {
			continue
		}
		cands = append(cands, d)
	}
	return cands
}

// OrphanSearchFor picks the cheaper batching for the unlinked entries'
// timesheets: one listing per cluster of begin times, unless that needs
// more requests than one term search per ticket. perDay is how many
// Timebridge timesheets Kimai is expected to hold per day (0: unknown, a
// window is then one request): a backfill's chunk has entries all over
// its year, and one listing of that year would read every timesheet the
// backfill already wrote, ever more pages with every chunk. It is pure.
func OrphanSearchFor(cands []Desired, perDay float64) OrphanSearch {
	if len(cands) == 0 {
		return OrphanSearch{}
	}
	begins := make([]time.Time, 0, len(cands))
	tickets := map[string]bool{}
	for _, d := range cands {
		begins = append(begins, d.Sheet.Begin)
		tickets[d.Ticket.Number] = true
	}
	slices.SortFunc(begins, func(a, b time.Time) int { return a.Compare(b) })
	var ws []Window
	for _, b := range begins {
		if n := len(ws); n > 0 && b.Sub(ws[n-1].To) <= orphanGap {
			ws[n-1].To = b
			continue
		}
		ws = append(ws, Window{From: b, To: b})
	}
	cost := 0
	for _, w := range ws {
		days := (w.To.Sub(w.From) + 2*OrphanMargin).Hours() / 24
		cost += max(1, int(math.Ceil(perDay*days/OrphanPage)))
	}
	if cost <= len(tickets) {
		for i := range ws {
			ws[i].From, ws[i].To = ws[i].From.Add(-OrphanMargin), ws[i].To.Add(OrphanMargin)
		}
		return OrphanSearch{Windows: ws}
	}
	nums := make([]string, 0, len(tickets))
	for n := range tickets {
		nums = append(nums, n)
	}
	sort.Strings(nums)
	return OrphanSearch{Tickets: nums}
}
