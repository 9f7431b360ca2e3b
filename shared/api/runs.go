package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/queue"
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
	q, err := query(r, "profile_id", "limit", "cursor")
	if err != nil {
		return err
	}
	p := problems{}
	pid := queryID(p, q, "profile_id")
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
		runs, next, err = s.Store.ListRuns(ctx, pid, limit, cursor)
	} else {
		runs, next, err = s.Store.ListAllRuns(ctx, limit, cursor)
	}
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
