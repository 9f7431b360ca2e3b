package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func (s *server) listConflicts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := query(r, "profile_id", "status", "limit", "cursor")
	if err != nil {
		return err
	}
	p := problems{}
	pid := queryID(p, q, "profile_id")
	limit := queryInt(p, q, "limit", defaultConflictPage, 1, maxConflictPage)
	offset := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "o"))
		if err != nil || n < 0 || !strings.HasPrefix(c, "o") {
			p.add("cursor", "is not a cursor from a previous page")
		}
		offset = n
	}
	status := tb.ConflictStatus(q.Get("status"))
	switch status {
	case "", tb.ConflictOpen, tb.ConflictResolved:
	default:
		p.add("status", "must be open or resolved")
	}
	if err := p.err(); err != nil {
		return err
	}
	if pid != "" {
		if _, err := s.Store.GetProfile(ctx, pid); err != nil {
			return err
		}
	}
	cs, err := s.Store.ListConflicts(ctx, pid, status)
	if err != nil {
		return err
	}
	// Pages bound the answer (a first sync with missing mappings can open
	// thousands of conflicts; Lambda answers at most 6 MB). The cursor is
	// an offset into the newest-first list: a conflict opened meanwhile can
	// repeat an item on the next page, which clients de-duplicate by id.
	if offset > len(cs) {
		offset = len(cs)
	}
	end := min(offset+limit, len(cs))
	out := make([]conflictView, 0, end-offset)
	for _, c := range cs[offset:end] {
		out = append(out, viewConflict(c))
	}
	next := ""
	if end < len(cs) {
		next = "o" + strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, page[conflictView]{Items: out, NextCursor: next})
	return nil
}

const (
	defaultConflictPage = 200
	maxConflictPage     = 500
)

// conflictID validates the {id} path value: a conflict id is
// "<profile id>.<entry id>".
func conflictID(r *http.Request) (string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return "", err
	}
	if _, _, err := store.ParseConflictID(id); err != nil {
		return "", fieldError("id", "is not a conflict id (<profile id>.<entry id>)")
	}
	return id, nil
}

func (s *server) getConflict(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	id, err := conflictID(r)
	if err != nil {
		return err
	}
	c, err := s.Store.ConflictByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewConflict(c))
	return nil
}

type resolveInput struct {
	Action string `json:"action"`
}

func (s *server) resolveConflict(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if _, err := query(r); err != nil {
		return err
	}
	id, err := conflictID(r)
	if err != nil {
		return err
	}
	var in resolveInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	action := tb.Resolution(in.Action)
	switch action {
	case tb.ResolveUseZammad, tb.ResolveKeepKimai, tb.ResolveSkip, tb.ResolveRetry:
	case "":
		return fieldError("action", "is required (use_zammad, keep_kimai, skip or retry)")
	default:
		return fieldError("action", "must be use_zammad, keep_kimai, skip or retry")
	}
	c, err := s.Store.ConflictByID(ctx, id)
	if err != nil {
		return err
	}
	if c.Status != tb.ConflictOpen {
		msg := "This conflict is already resolved"
		if c.Resolution != "" {
			msg += fmt.Sprintf(" (%s", c.Resolution)
			if c.ResolvedBy != "" {
				msg += " by " + c.ResolvedBy
			}
			msg += ")"
		}
		return apperr.New(apperr.Conflict, "api: resolve conflict", msg+".")
	}
	if !c.Kind.Allows(action) {
		allowed := make([]string, 0, 3)
		for _, a := range c.Kind.Resolutions() {
			allowed = append(allowed, string(a))
		}
		return fieldError("action", fmt.Sprintf("does not apply to a %s conflict; use %s", c.Kind, strings.Join(allowed, ", ")))
	}
	who := actor(ctx)
	after, err := s.Resolver.Resolve(ctx, id, action, who)
	ev := auditEvent{ProfileID: c.ProfileID, Type: "conflict.resolve_requested", Subject: "conflict " + id,
		Before: viewConflict(c)}
	if err != nil {
		ev.Message = fmt.Sprintf("Asked to resolve a %s conflict with %s; it failed: %s", c.Kind, action, apperr.MessageOf(err))
		s.audit(r, ev)
		return resolverError(err)
	}
	ev.Message = fmt.Sprintf("Resolved a %s conflict with %s (now %s)", c.Kind, action, after.Status)
	ev.After = viewConflict(after)
	s.audit(r, ev)
	writeJSON(w, http.StatusOK, viewConflict(after))
	return nil
}

// resolverError keeps the engine's own kinds (conflict: already resolved
// or a run in progress; validation: the action does not apply; not found:
// no such conflict) but turns Zammad's or Kimai's refusals, which reach a
// resolution as auth, permission or rate limiting, into upstream errors
// (apperr.FromUpstream).
func resolverError(err error) error {
	switch apperr.KindOf(err) {
	case apperr.Auth, apperr.Permission, apperr.RateLimited:
		return apperr.FromUpstream(err)
	}
	return err
}
