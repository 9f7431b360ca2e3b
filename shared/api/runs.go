package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
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
	// listConcurrency bounds parallel per-profile queries.
	listConcurrency = 8
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
		runs, next, err = s.mergedRuns(ctx, limit, cursor)
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

// ---- runs of all profiles ----
//
// The store lists runs per profile only (gsi1 partition RUNS#<profile>).
// Without a profile filter the API therefore queries every profile's
// newest runs concurrently (one query per profile, never one per run),
// merges them newest first and returns the first page. Its cursor holds,
// per profile that still has runs, the store cursor the next query starts
// from plus how many runs after it were already shown ("skip"), so that
// no run is shown twice or skipped. Profiles created after the first page
// join at the next first page; a profile deleted meanwhile simply returns
// no runs.

type mergedCursor struct {
	P map[string]profileCursor `json:"p"`
}

type profileCursor struct {
	C string `json:"c,omitempty"` // store cursor ("" = from the newest)
	S int    `json:"s,omitempty"` // runs after C already shown
}

func decodeMergedCursor(s string) (mergedCursor, error) {
	var c mergedCursor
	bad := fieldError("cursor", "is invalid; start again without it")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || len(c.P) > 10_000 {
		return c, bad
	}
	for pid, pc := range c.P {
		if !ident.Valid(pid) || pc.S < 0 || pc.S > store.MaxRunPageSize {
			return c, bad
		}
	}
	return c, nil
}

func encodeMergedCursor(c mergedCursor) string {
	if len(c.P) == 0 {
		return ""
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *server) mergedRuns(ctx context.Context, limit int, cursor string) ([]tb.Run, string, error) {
	var state mergedCursor
	if cursor != "" {
		c, err := decodeMergedCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		state = c
	} else {
		ps, err := s.Store.ListProfiles(ctx)
		if err != nil {
			return nil, "", err
		}
		state.P = make(map[string]profileCursor, len(ps))
		for _, p := range ps {
			state.P[p.ID] = profileCursor{}
		}
	}

	type fetched struct {
		pid  string
		runs []tb.Run // after the skipped ones
		n    int      // runs the store returned, skipped ones included
		next string
		err  error
	}
	results := make([]fetched, 0, len(state.P))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, listConcurrency)
	for pid, pc := range state.P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runs, next, err := s.Store.ListRuns(ctx, pid, pc.S+limit, pc.C)
			f := fetched{pid: pid, n: len(runs), next: next, err: err}
			if pc.S < len(runs) {
				f.runs = runs[pc.S:]
			}
			mu.Lock()
			results = append(results, f)
			mu.Unlock()
		}()
	}
	wg.Wait()

	var all []tb.Run
	for _, f := range results {
		if f.err != nil {
			return nil, "", f.err
		}
		all = append(all, f.runs...)
	}
	newestFirst := func(a, b tb.Run) int {
		if c := b.QueuedAt.Compare(a.QueuedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	}
	slices.SortFunc(all, newestFirst)
	shown := all[:min(limit, len(all))]
	taken := map[string]int{}
	for _, r := range shown {
		taken[r.ProfileID]++
	}

	nextState := mergedCursor{P: map[string]profileCursor{}}
	for _, f := range results {
		pc, k := state.P[f.pid], taken[f.pid]
		switch {
		case k < len(f.runs):
			// Partly shown: keep the start, skip what was shown.
			nc := profileCursor{C: pc.C, S: pc.S + k}
			if nc.S+maxRunPage > store.MaxRunPageSize {
				// Re-anchor so the next query stays within the store's page cap.
				_, anchor, err := s.Store.ListRuns(ctx, f.pid, nc.S, nc.C)
				if err != nil {
					return nil, "", err
				}
				nc = profileCursor{C: anchor}
			}
			nextState.P[f.pid] = nc
		case f.next != "":
			// Everything fetched was shown; continue after it (a store
			// page cut short by DynamoDB's 1 MB limit may not even have
			// reached the runs to skip).
			nextState.P[f.pid] = profileCursor{C: f.next, S: max(0, pc.S-f.n)}
		}
		// Otherwise the profile has no more runs.
	}
	return shown, encodeMergedCursor(nextState), nil
}
