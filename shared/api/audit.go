package api

import (
	"net/http"

	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

const defaultAuditPage = 100

func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "profile_id", "type", "from", "to", "limit", "cursor")
	if err != nil {
		return err
	}
	p := problems{}
	aq := tb.AuditQuery{
		ProfileID: queryID(p, q, "profile_id"),
		Type:      checkText(p, "type", q.Get("type"), false, 100),
		From:      queryTime(p, q, "from"),
		To:        queryTime(p, q, "to"),
		Limit:     queryInt(p, q, "limit", defaultAuditPage, 1, store.MaxAuditPageSize),
		Cursor:    q.Get("cursor"),
	}
	if !aq.From.IsZero() && !aq.To.IsZero() && !aq.From.Before(aq.To) {
		p.add("to", "must be after from")
	}
	if len(aq.Cursor) > 4096 {
		p.add("cursor", "is too long")
	}
	if err := p.err(); err != nil {
		return err
	}
	// No profile existence check: the audit log outlives deleted profiles.
	evs, next, err := s.Store.ListAudit(r.Context(), aq)
	if err != nil {
		return badCursor(err, aq.Cursor)
	}
	if evs == nil {
		evs = []tb.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, page[tb.AuditEvent]{Items: evs, NextCursor: next})
	return nil
}
