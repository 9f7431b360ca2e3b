package zammadsim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// This file implements Zammad's list semantics: CanPaginate::Pagination
// (page/per_page/limit with a silent cap) and SqlHelper's sort_by/order_by
// (comma lists, real columns only, HTTP 500 otherwise).

// sortKey is one column value of a row. Nulls sort last ascending and first
// descending, as in PostgreSQL.
type sortKey struct {
	null bool
	n    int64
	s    string
	d    decimal.Dec
	kind byte // 'n' int/time/bool, 's' string, 'd' decimal
}

func keyInt(n int64) sortKey                    { return sortKey{n: n, kind: 'n'} }
func keyID(n int64) sortKey                     { return sortKey{n: n, kind: 'n', null: n == 0} }
func keyStr(s string) sortKey                   { return sortKey{s: s, kind: 's'} }
func keyTime(t time.Time) sortKey               { return sortKey{n: t.UnixNano(), kind: 'n'} }
func keyDec(d decimal.Dec) sortKey              { return sortKey{d: d, kind: 'd'} }
func keyBool(b bool) sortKey                    { return keyInt(map[bool]int64{false: 0, true: 1}[b]) }
func keyNull() sortKey                          { return sortKey{null: true} }
func keyConst() sortKey                         { return sortKey{kind: 'n'} }
func keyNullStr(s string) sortKey               { return sortKey{s: s, kind: 's', null: s == ""} }
func keyNullDec(d decimal.Dec, ok bool) sortKey { return sortKey{d: d, kind: 'd', null: !ok} }

func (a sortKey) cmp(b sortKey) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return 1
	case b.null:
		return -1
	}
	switch a.kind {
	case 's':
		return strings.Compare(a.s, b.s)
	case 'd':
		return a.d.Cmp(b.d)
	}
	return cmpInt(a.n, b.n)
}

// columns maps a table's real column names to their sort keys. Columns the
// simulator does not model still exist (sorting by them is legal) and sort
// as equal.
type columns[T any] map[string]func(T) sortKey

var entryColumns = columns[*Entry]{
	"id":                func(e *Entry) sortKey { return keyInt(e.ID) },
	"ticket_id":         func(e *Entry) sortKey { return keyInt(e.TicketID) },
	"ticket_article_id": func(e *Entry) sortKey { return keyID(e.TicketArticleID) },
	"time_unit":         func(e *Entry) sortKey { return keyDec(e.TimeUnit) },
	"type_id":           func(e *Entry) sortKey { return keyID(e.TypeID) },
	"created_by_id":     func(e *Entry) sortKey { return keyInt(e.CreatedByID) },
	"created_at":        func(e *Entry) sortKey { return keyTime(e.CreatedAt) },
	"updated_at":        func(e *Entry) sortKey { return keyTime(e.UpdatedAt) },
}

var ticketColumns = func() columns[*ticketRec] {
	c := columns[*ticketRec]{
		"id":              func(t *ticketRec) sortKey { return keyInt(t.ID) },
		"number":          func(t *ticketRec) sortKey { return keyStr(t.Number) },
		"title":           func(t *ticketRec) sortKey { return keyStr(t.Title) },
		"group_id":        func(t *ticketRec) sortKey { return keyInt(t.GroupID) },
		"organization_id": func(t *ticketRec) sortKey { return keyID(t.OrganizationID) },
		"customer_id":     func(t *ticketRec) sortKey { return keyInt(t.CustomerID) },
		"owner_id":        func(t *ticketRec) sortKey { return keyInt(t.OwnerID) },
		"state_id":        func(t *ticketRec) sortKey { return keyInt(states[t.State]) },
		"priority_id":     func(t *ticketRec) sortKey { return keyInt(t.PriorityID) },
		"time_unit":       func(t *ticketRec) sortKey { return keyNullDec(t.TimeUnit, t.HasTime) },
		"created_at":      func(t *ticketRec) sortKey { return keyTime(t.CreatedAt) },
		"updated_at":      func(t *ticketRec) sortKey { return keyTime(t.UpdatedAt) },
		"created_by_id":   func(t *ticketRec) sortKey { return keyInt(t.CustomerID) },
		"updated_by_id":   func(t *ticketRec) sortKey { return keyInt(t.OwnerID) },
	}
	for _, name := range []string{"note", "first_response_at", "close_at", "last_close_at",
		"last_contact_at", "last_contact_agent_at", "last_contact_customer_at", "last_owner_update_at",
		"escalation_at", "pending_time", "type", "checklist_id", "first_response_escalation_at",
		"close_escalation_at", "update_escalation_at"} {
		c[name] = func(*ticketRec) sortKey { return keyNull() }
	}
	for _, name := range []string{"create_article_type_id", "create_article_sender_id", "article_count", "preferences"} {
		c[name] = func(*ticketRec) sortKey { return keyConst() }
	}
	return c
}()

var orgColumns = columns[*Organization]{
	"id":                func(o *Organization) sortKey { return keyInt(o.ID) },
	"name":              func(o *Organization) sortKey { return keyStr(o.Name) },
	"active":            func(o *Organization) sortKey { return keyBool(!o.Inactive) },
	"note":              func(o *Organization) sortKey { return keyNullStr(o.Note) },
	"created_at":        func(o *Organization) sortKey { return keyTime(o.CreatedAt) },
	"updated_at":        func(o *Organization) sortKey { return keyTime(o.UpdatedAt) },
	"shared":            func(*Organization) sortKey { return keyConst() },
	"domain":            func(*Organization) sortKey { return keyConst() },
	"domain_assignment": func(*Organization) sortKey { return keyConst() },
	"vip":               func(*Organization) sortKey { return keyConst() },
	"created_by_id":     func(*Organization) sortKey { return keyConst() },
	"updated_by_id":     func(*Organization) sortKey { return keyConst() },
}

var groupColumns = columns[*Group]{
	"id":         func(g *Group) sortKey { return keyInt(g.ID) },
	"name":       func(g *Group) sortKey { return keyStr(g.Name) },
	"active":     func(g *Group) sortKey { return keyBool(!g.Inactive) },
	"note":       func(g *Group) sortKey { return keyNullStr(g.Note) },
	"created_at": func(g *Group) sortKey { return keyTime(g.CreatedAt) },
	"updated_at": func(g *Group) sortKey { return keyTime(g.UpdatedAt) },
}

var typeColumns = columns[*Type]{
	"id":         func(t *Type) sortKey { return keyInt(t.ID) },
	"name":       func(t *Type) sortKey { return keyStr(t.Name) },
	"note":       func(t *Type) sortKey { return keyNullStr(t.Note) },
	"active":     func(t *Type) sortKey { return keyBool(!t.Inactive) },
	"created_at": func(t *Type) sortKey { return keyTime(t.CreatedAt) },
	"updated_at": func(t *Type) sortKey { return keyTime(t.UpdatedAt) },
}

// order is one ORDER BY term.
type order struct {
	col  string
	desc bool
}

// parseOrder mirrors SqlHelper#get_sort_by/get_order_by/get_order: both
// parameters are comma lists; every sort_by must be a real column and every
// order_by asc/desc (else Rails raises and the API answers 500); a sort
// column without a matching order_by entry is dropped, and with nothing
// left the default applies.
func parseOrder[T any](q url.Values, cols columns[T], defCol string, defDesc bool) ([]order, *apiError) {
	split := func(v string) []string {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		parts := strings.Split(v, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts
	}
	sortBy := split(q.Get("sort_by"))
	for _, c := range sortBy {
		if _, ok := cols[c]; !ok {
			return nil, &apiError{status: http.StatusInternalServerError, msg: fmt.Sprintf("Found invalid column '%s' for sorting.", c)}
		}
	}
	orderBy := split(q.Get("order_by"))
	for i, o := range orderBy {
		lo := strings.ToLower(o)
		if lo != "asc" && lo != "desc" {
			return nil, &apiError{status: http.StatusInternalServerError, msg: fmt.Sprintf("Found invalid order by value %s. Please use 'asc' or 'desc'.", o)}
		}
		orderBy[i] = lo
	}
	if len(sortBy) == 0 {
		sortBy = []string{defCol}
	}
	if len(orderBy) == 0 {
		orderBy = []string{map[bool]string{false: "asc", true: "desc"}[defDesc]}
	}
	var out []order
	for i, c := range sortBy {
		if i >= len(orderBy) || c == "" || orderBy[i] == "" {
			continue
		}
		out = append(out, order{col: c, desc: orderBy[i] == "desc"})
	}
	if len(out) == 0 {
		out = []order{{col: defCol}}
	}
	return out, nil
}

// sortRows sorts rows by ords. Ties are broken by id unless the server
// simulates unstable ties, in which case they are shuffled first with the
// seeded rng (s.mu must be held).
func sortRows[T any](s *Server, rows []T, cols columns[T], ords []order, id func(T) int64) {
	if s.unstableTies {
		s.rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	}
	slices.SortStableFunc(rows, func(a, b T) int {
		for _, o := range ords {
			c := cols[o.col](a).cmp(cols[o.col](b))
			if o.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if s.unstableTies {
			return 0
		}
		return cmpInt(id(a), id(b))
	})
}

// page mirrors CanPaginate::Pagination: per_page (alias limit) defaults to
// def and is silently capped at max; page is 1-based. Values are read like
// Ruby's to_i. A negative offset or limit is a database error (422).
func page[T any](q url.Values, rows []T, def, max int) ([]T, *apiError) {
	limit := def
	if v, ok := firstParam(q, "per_page", "limit"); ok {
		limit = rubyToI(v)
	}
	limit = min(limit, max)
	p := 1
	if v, ok := firstParam(q, "page"); ok {
		p = rubyToI(v)
	}
	offset := (p - 1) * limit
	switch {
	case limit < 0:
		return nil, &apiError{http.StatusUnprocessableEntity, "PG::InvalidRowCountInLimitClause: ERROR:  LIMIT must not be negative", false}
	case offset < 0:
		return nil, &apiError{http.StatusUnprocessableEntity, "PG::InvalidRowCountInResultOffsetClause: ERROR:  OFFSET must not be negative", false}
	case offset >= len(rows):
		return []T{}, nil
	}
	return rows[offset:min(offset+limit, len(rows))], nil
}

func firstParam(q url.Values, names ...string) (string, bool) {
	for _, n := range names {
		if vs, ok := q[n]; ok && len(vs) > 0 {
			return vs[0], true
		}
	}
	return "", false
}

// rubyToI converts like Ruby's String#to_i: leading spaces, an optional
// sign, then digits; anything else ends the number ("12abc" → 12,
// "abc" → 0).
func rubyToI(s string) int {
	s = strings.TrimLeft(s, " \t\n")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > 1<<40 {
			break // far beyond any real page; avoid overflow
		}
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n
}

// truthy reads a Rails boolean parameter such as expand=true.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on", "t":
		return true
	}
	return false
}
