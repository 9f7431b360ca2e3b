package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

const (
	defaultRunPage = 50
	maxRunPage     = 200
	// maxRangeDays bounds a backfill: a longer one belongs in several runs.
	maxRangeDays = 366
)

type runInput struct {
	Mode   string  `json:"mode"`
	From   *string `json:"from"`
	To     *string `json:"to"`
	DryRun bool    `json:"dry_run"`
}

type runAccepted struct {
	ID     string       `json:"id"`
	Status tb.RunStatus `json:"status"`
}

func (s *server) startRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in runInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	p := problems{}
	mode := tb.RunMode(in.Mode)
	switch mode {
	case tb.ModeIncremental, tb.ModeFull, tb.ModeRange:
	case "":
		p.add("mode", "is required (incremental, full or range)")
	default:
		p.add("mode", "must be incremental, full or range")
	}
	from, to := parseTimeField(p, "from", in.From), parseTimeField(p, "to", in.To)
	if mode == tb.ModeRange {
		switch {
		case in.From == nil:
			p.add("from", "is required for a range run")
		case in.To == nil:
			p.add("to", "is required for a range run")
		case from != nil && to != nil && !from.Before(*to):
			p.add("to", "must be after from")
		case from != nil && to != nil && to.Sub(*from) > maxRangeDays*24*time.Hour:
			p.add("to", fmt.Sprintf("must be at most %d days after from; split longer backfills", maxRangeDays))
		case from != nil && from.Before(s.Now().AddDate(-10, 0, 0)):
			p.add("from", "must be within the last 10 years")
		case to != nil && to.After(s.Now().AddDate(0, 0, 2)):
			p.add("to", "must not be more than a day in the future")
		}
	} else if mode != "" {
		if in.From != nil {
			p.add("from", "is only allowed for mode range")
		}
		if in.To != nil {
			p.add("to", "is only allowed for mode range")
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	pr, err := s.Store.GetProfile(ctx, id)
	if err != nil {
		return err
	}
	who := actor(ctx)
	m := queue.Message{ProfileID: pr.ID, Mode: mode, From: from, To: to, DryRun: in.DryRun, Trigger: "manual", Actor: who}
	run, err := queue.Submit(ctx, s.Store, s.Queue, m, s.Now(), ident.New)
	if err != nil {
		return err
	}
	what := string(mode) + " run"
	if in.DryRun {
		what = "dry " + what
	}
	s.audit(r, auditEvent{ProfileID: pr.ID, RunID: run.ID, Type: "run.requested", Subject: "run " + run.ID,
		Message: "Queued a " + what,
		After:   map[string]any{"mode": mode, "dry_run": in.DryRun, "from": from, "to": to}})
	w.Header().Set("Location", "/api/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, runAccepted{ID: run.ID, Status: run.Status})
	return nil
}

func (s *server) getRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.Store.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *server) listRuns(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := query(r, "profile_id", "limit", "cursor", "from", "to")
	if err != nil {
		return err
	}
	p := problems{}
	pid := queryID(p, q, "profile_id")
	var win store.RunWindow
	win.From = queryInstant(p, q, "from", false)
	win.To = queryInstant(p, q, "to", true)
	if !win.From.IsZero() && !win.To.IsZero() && !win.From.Before(win.To) {
		p.add("to", "must be after from")
	}
	limit := queryInt(p, q, "limit", defaultRunPage, 1, maxRunPage)
	cursor := q.Get("cursor")
	if len(cursor) > 16<<10 {
		p.add("cursor", "is too long")
	}
	if err := p.err(); err != nil {
		return err
	}
	var runs []tb.Run
	var next string
	if pid != "" {
		if _, err := s.Store.GetProfile(ctx, pid); err != nil {
			return err
		}
	}
	runs, next, err = s.Store.ListRunsIn(ctx, pid, win, limit, cursor)
	if err != nil {
		return badCursor(err, cursor)
	}
	if runs == nil {
		runs = []tb.Run{}
	}
	writeJSON(w, http.StatusOK, page[tb.Run]{Items: runs, NextCursor: next})
	return nil
}

// badCursor names the cursor parameter in the store's validation error
// about a cursor it cannot use (ids were validated before).
func badCursor(err error, cursor string) error {
	if cursor != "" && apperr.Is(err, apperr.Validation) {
		return fieldError("cursor", "is invalid; start again without it")
	}
	return err
}

// queryInstant reads an RFC 3339 instant or a day (YYYY-MM-DD, UTC). As an
// upper bound (end) a day means "up to the end of that day".
func queryInstant(p problems, q url.Values, name string, end bool) time.Time {
	v := q.Get(name)
	if v == "" {
		return time.Time{}
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.add(name, "must be a day (2025-01-31) or an RFC 3339 time (2025-01-31T00:00:00Z)")
		return time.Time{}
	}
	return t.UTC()
}

const (
	defaultEntryPage = 100
	maxEntryPage     = 500
	// maxRetryTickets bounds one retry run; the rest stay for the next
	// retry (a run's record keeps at most this many failed entries anyway).
	maxRetryTickets = 500
)

type entriesPage struct {
	Items      []tb.EntryOutcome `json:"items"`
	Total      int               `json:"total"`
	NextCursor string            `json:"next_cursor"`
}

var outcomes = []tb.Outcome{tb.OutcomeCreated, tb.OutcomeUpdated, tb.OutcomeDeleted, tb.OutcomeUnchanged,
	tb.OutcomeSkipped, tb.OutcomeConflict, tb.OutcomeFailed}

// listRunEntries pages a run's per-entry outcomes. The cursor is the offset
// into the filtered list (the outcomes of a finished run never change).
func (s *server) listRunEntries(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "outcome", "limit", "cursor")
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p := problems{}
	limit := queryInt(p, q, "limit", defaultEntryPage, 1, maxEntryPage)
	want := tb.Outcome(q.Get("outcome"))
	if want != "" && !slices.Contains(outcomes, want) {
		p.add("outcome", "must be one of created, updated, deleted, unchanged, skipped, conflict or failed")
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 || n > 10_000_000 {
			p.add("cursor", "is invalid; start again without it")
		}
		offset = n
	}
	if err := p.err(); err != nil {
		return err
	}
	run, err := s.Store.GetRun(r.Context(), id)
	if err != nil {
		return err
	}
	var match []tb.EntryOutcome
	for _, o := range run.Outcomes {
		if o.Outcome == want || (want == "" && o.Outcome != tb.OutcomeUnchanged) {
			match = append(match, o)
		}
	}
	out := entriesPage{Items: []tb.EntryOutcome{}, Total: len(match)}
	if offset < len(match) {
		end := min(offset+limit, len(match))
		out.Items = match[offset:end]
		if end < len(match) {
			out.NextCursor = strconv.Itoa(end)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// retryRun queues a ticket run over the tickets of a finished run's failed
// entries.
func (s *server) retryRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	run, err := s.Store.GetRun(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case run.Status == tb.RunQueued || run.Status == tb.RunRunning:
		return apperr.New(apperr.Conflict, "api: retry run", "The run is still going; retry its failed entries once it has finished.")
	case run.DryRun:
		return apperr.New(apperr.Conflict, "api: retry run", "A preview wrote nothing; run it again instead.")
	}
	tickets := failedTickets(run)
	if len(tickets) == 0 {
		return apperr.New(apperr.Conflict, "api: retry run",
			"The run has no failed entries to retry (conflicts are resolved on the Conflicts page; a failed run is retried by starting it again).")
	}
	if _, err := s.Store.GetProfile(ctx, run.ProfileID); err != nil {
		return err
	}
	if len(tickets) > maxRetryTickets {
		tickets = tickets[:maxRetryTickets]
	}
	m := queue.Message{ProfileID: run.ProfileID, Mode: tb.ModeTicket, TicketID: tickets[0], Tickets: tickets[1:],
		Trigger: "manual", Actor: actor(ctx), RetryOf: run.ID}
	retry, err := queue.Submit(ctx, s.Store, s.Queue, m, s.Now(), ident.New)
	if err != nil {
		return err
	}
	s.audit(r, auditEvent{ProfileID: run.ProfileID, RunID: retry.ID, Type: "run.requested", Subject: "run " + retry.ID,
		Message: fmt.Sprintf("Queued a retry of the failed entries of run %s (%d tickets)", run.ID, len(tickets)),
		After:   map[string]any{"retry_of": run.ID, "tickets": tickets}})
	w.Header().Set("Location", "/api/runs/"+retry.ID)
	writeJSON(w, http.StatusAccepted, runAccepted{ID: retry.ID, Status: retry.Status})
	return nil
}

// failedTickets are the tickets of a run's failed entries, in order, each
// once: from its outcomes, else (older runs) from its kept item errors.
func failedTickets(run tb.Run) []int64 {
	var out []int64
	seen := map[int64]bool{}
	add := func(t int64) {
		if t > 0 && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, o := range run.Outcomes {
		if o.Outcome == tb.OutcomeFailed {
			add(o.TicketID)
		}
	}
	for _, e := range run.ItemErrors {
		add(e.TicketID)
	}
	return out
}
