package zammadsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// This file holds the routes and handlers. Every handler runs with s.mu
// held and returns a value to encode; the response is written after the
// lock is released, so a slow client cannot stall the simulator.

// session is the authenticated caller of a request.
type session struct {
	user *User
	tok  *token
}

// may reports whether the caller holds any of perms. A permission grants
// its sub-permissions ("admin" grants "admin.time_accounting").
func (c *session) may(perms ...string) bool {
	for _, want := range perms {
		for _, have := range c.tok.perms {
			if have == want || strings.HasPrefix(want, have+".") {
				return true
			}
		}
	}
	return false
}

// admin reports whether the caller sees exception details in 500 bodies
// (Zammad shows them to admins only).
func (c *session) admin() bool {
	for _, p := range c.tok.perms {
		if p == "admin" || strings.HasPrefix(p, "admin.") {
			return true
		}
	}
	return false
}

var (
	errAuthRequired = apiError{http.StatusForbidden, "Authentication required", true}
	errTokenPerm    = apiError{http.StatusForbidden, "Token authorization failed.", true}
)

// result is what a handler produces.
type result struct {
	status int
	body   any
	err    *apiError
}

func ok(body any) result           { return result{status: http.StatusOK, body: body} }
func fail(e apiError) result       { return result{err: &e} }
func failp(e *apiError) result     { return result{err: e} }
func created(body any) result      { return result{status: http.StatusCreated, body: body} }
func denied() result               { return fail(errTokenPerm) }
func notFound(m, id string) result { return fail(errNotFound(m, id)) }

// handler handles an authenticated request; q merges query and JSON body.
type handler func(r *http.Request, c *session, q url.Values, body map[string]json.RawMessage) result

// route registers pattern ("METHOD /path"); perms, when given, are
// required (any of them) before the handler runs.
func (s *Server) route(pattern string, perms []string, h handler) {
	_, path, _ := strings.Cut(pattern, " ")
	s.mux.HandleFunc(pattern, s.withFaults(pattern, path, func(w http.ResponseWriter, r *http.Request) {
		c, aerr := s.authenticate(r)
		if aerr != nil {
			writeError(w, r, *aerr)
			return
		}
		if len(perms) > 0 && !c.may(perms...) {
			writeError(w, r, errTokenPerm)
			return
		}
		q := r.URL.Query()
		var body map[string]json.RawMessage
		// Rails parses a JSON body of any method (DELETE /tags/remove
		// sends one).
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			raw, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
			if len(bytes.TrimSpace(raw)) > 0 {
				if err := json.Unmarshal(raw, &body); err != nil {
					writeError(w, r, apiError{http.StatusBadRequest, "Error occurred while parsing request parameters.", false})
					return
				}
				for k, v := range body {
					if sv, ok := scalar(v); ok && !q.Has(k) {
						q.Set(k, sv)
					}
				}
			}
		}
		s.mu.Lock()
		res := h(r, c, q, body)
		if res.err != nil && res.err.status == http.StatusInternalServerError && !c.admin() {
			// Non-admins get an opaque error id instead of the exception.
			res.err = &apiError{status: http.StatusInternalServerError, msg: "Error ID qZ3v9xKc: Please contact your administrator."}
		}
		var b []byte
		var err error
		if res.err == nil {
			b, err = json.Marshal(res.body)
		}
		s.mu.Unlock()
		switch {
		case res.err != nil:
			writeError(w, r, *res.err)
		case err != nil:
			panic(fmt.Sprintf("zammadsim: encode %s: %v", pattern, err))
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(res.status)
			w.Write(b)
		}
	}))
}

// scalar renders a JSON scalar as a parameter string.
func scalar(v json.RawMessage) (string, bool) {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return "", false
	}
	switch t := x.(type) {
	case string:
		return t, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

// authenticate mirrors ApplicationController::Authenticates for the
// schemes the simulator knows.
func (s *Server) authenticate(r *http.Request) (*session, *apiError) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	var tok string
	bearer := false
	switch strings.ToLower(scheme) {
	case "token":
		tok = rest
		if v, ok := strings.CutPrefix(rest, "token="); ok {
			tok = strings.Trim(v, `"`)
		}
	case "bearer":
		tok, bearer = rest, true
	case "basic":
		return nil, &apiError{http.StatusUnauthorized, "Invalid BasicAuth credentials", true}
	}
	if tok == "" {
		return nil, &errAuthRequired
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tok]
	switch {
	case !ok && bearer:
		return nil, &apiError{http.StatusUnauthorized, "The provided token is invalid.", true}
	case !ok:
		return nil, &apiError{http.StatusUnauthorized, "Can't find User for Token", true}
	case t.expired:
		return nil, &apiError{http.StatusUnauthorized, "Not authorized (token expired)!", true}
	}
	u := s.users[t.userID]
	if u == nil || u.Inactive {
		return nil, &apiError{http.StatusUnauthorized, "Login failed. Have you double-checked your credentials and completed the email verification step?", true}
	}
	uc := *u
	return &session{user: &uc, tok: t}, nil
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	admin := []string{PermAdminTimeAccounting}
	agent := []string{PermTicketAgent}
	ticketTime := []string{PermAdminTimeAccounting, PermTicketAgent}

	if !s.noGlobal {
		s.route("GET /api/v1/time_accountings", nil, s.listEntries)
		s.route("POST /api/v1/time_accountings", admin, s.createEntry)
		s.route("GET /api/v1/time_accountings/{id}", admin, s.showEntry)
		s.route("PUT /api/v1/time_accountings/{id}", admin, s.updateEntry)
		s.route("DELETE /api/v1/time_accountings/{id}", admin, s.destroyEntry)
	}
	s.route("GET /api/v1/tickets/{ticket_id}/time_accountings", ticketTime, s.listEntries)
	s.route("POST /api/v1/tickets/{ticket_id}/time_accountings", ticketTime, s.createEntry)
	s.route("GET /api/v1/tickets/{ticket_id}/time_accountings/{id}", ticketTime, s.showEntry)
	s.route("PUT /api/v1/tickets/{ticket_id}/time_accountings/{id}", admin, s.updateEntry)
	s.route("DELETE /api/v1/tickets/{ticket_id}/time_accountings/{id}", admin, s.destroyEntry)
	s.route("GET /api/v1/time_accounting/types", admin, s.listTypes)

	s.route("GET /api/v1/tickets", agent, s.listTickets)
	s.route("GET /api/v1/tickets/{id}", agent, s.showTicket)
	s.route("GET /api/v1/tickets/search", agent, s.searchTickets)
	s.route("POST /api/v1/tickets/search", agent, s.searchTickets)
	s.route("GET /api/v1/ticket_states", nil, s.listStates)

	orgPerm := []string{PermAdminOrganization, PermTicketAgent}
	s.route("GET /api/v1/organizations", orgPerm, s.listOrgs)
	s.route("GET /api/v1/organizations/{id}", orgPerm, s.showOrg)
	userPerm := []string{PermAdminUser, PermTicketAgent}
	s.route("GET /api/v1/users", userPerm, s.listUsers)
	s.route("GET /api/v1/users/me", nil, s.me)
	s.route("GET /api/v1/users/{id}", userPerm, s.showUser)
	// Tags: TagsControllerPolicy decides per ticket (tags.go).
	s.route("GET /api/v1/tags", nil, s.listTags)
	s.route("POST /api/v1/tags/add", nil, s.addTag)
	s.route("DELETE /api/v1/tags/remove", nil, s.removeTag)
	s.route("GET /api/v1/tag_search", []string{PermTicketAgent, PermAdminTag, "knowledge_base.editor"}, s.tagSearch)
	s.route("GET /api/v1/tag_list", []string{PermAdminTag}, s.tagAdminList)
	s.route("GET /api/v1/signshow", nil, s.signshow)

	groupPerm := []string{PermAdminGroup, PermTicketAgent}
	s.route("GET /api/v1/groups", groupPerm, s.listGroups)
	s.route("GET /api/v1/groups/{id}", groupPerm, s.showGroup)

	// Anything else is a Rails routing error (404), answered without
	// authentication — also how a Zammad without the global time
	// accounting API answers /api/v1/time_accountings.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " (no route)"
		s.withFaults(key, "", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, apiError{http.StatusNotFound, fmt.Sprintf("No route matches [%s] %s", r.Method, r.URL.Path), true})
		})(w, r)
	})
}

// pathID reads a numeric path value; Rails' find with a non-numeric id
// simply finds nothing.
func pathID(r *http.Request, name string) (int64, string) {
	raw := r.PathValue(name)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return -1, raw
	}
	return n, raw
}

// ---- time accountings ----

// listEntries serves the global list (optionally ?ticket_id=) and the
// per-ticket list.
func (s *Server) listEntries(r *http.Request, c *session, q url.Values, _ map[string]json.RawMessage) result {
	var ticketID int64
	var raw string
	scoped := true
	switch {
	case r.PathValue("ticket_id") != "":
		ticketID, raw = pathID(r, "ticket_id")
	case q.Has("ticket_id"):
		raw = q.Get("ticket_id")
		ticketID = int64(rubyToI(raw))
	default:
		scoped = false
	}
	if !scoped {
		// The global list: no ticket to check agent access against.
		if !c.may(PermAdminTimeAccounting) {
			return denied()
		}
	} else {
		if !c.may(PermAdminTimeAccounting, PermTicketAgent) {
			return denied()
		}
		if s.tickets[ticketID] == nil {
			return notFound("Ticket", raw)
		}
	}
	ords, aerr := parseOrder(q, entryColumns, "id", false)
	if aerr != nil {
		return failp(aerr)
	}
	rows := make([]*Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if !scoped || e.TicketID == ticketID {
			rows = append(rows, e)
		}
	}
	sortRows(s, rows, entryColumns, ords, func(e *Entry) int64 { return e.ID })
	pg, aerr := page(q, rows, 500, 1000)
	if aerr != nil {
		return failp(aerr)
	}
	expand := truthy(q.Get("expand"))
	out := make([]any, len(pg))
	for i, e := range pg {
		out[i] = s.entryView(e, expand)
	}
	return ok(out)
}

// findEntry finds the entry of the request, scoped to the ticket in the
// path when there is one (404 for another ticket's entry).
func (s *Server) findEntry(r *http.Request) (*Entry, *apiError) {
	id, raw := pathID(r, "id")
	e := s.entries[id]
	if tid, rawTicket := pathID(r, "ticket_id"); rawTicket != "" {
		if s.tickets[tid] == nil {
			x := errNotFound("Ticket", rawTicket)
			return nil, &x
		}
		if e == nil || e.TicketID != tid {
			x := apiError{http.StatusNotFound, fmt.Sprintf(`Couldn't find Ticket::TimeAccounting with 'id'=%s [WHERE "ticket_time_accountings"."ticket_id" = $1]`, raw), true}
			return nil, &x
		}
	}
	if e == nil {
		x := errNotFound("Ticket::TimeAccounting", raw)
		return nil, &x
	}
	return e, nil
}

func (s *Server) showEntry(r *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	e, aerr := s.findEntry(r)
	if aerr != nil {
		return failp(aerr)
	}
	return ok(s.entryView(e, truthy(q.Get("expand"))))
}

// entryParams validates the writable attributes of an entry body.
type entryParams struct {
	hasUnit         bool
	timeUnit        decimal.Dec
	typeID, article int64
	hasType         bool
	hasArticle      bool
}

func (s *Server) readEntryParams(body map[string]json.RawMessage, self int64) (entryParams, *apiError) {
	var p entryParams
	if raw, ok := body["time_unit"]; ok {
		p.hasUnit = true
		var d decimal.Dec
		t := strings.TrimSpace(string(raw))
		switch {
		case t == "null" || t == `""`:
			x := errUnprocessable("Time unit can't be blank")
			return p, &x
		case d.UnmarshalJSON(raw) != nil:
			x := errUnprocessable("Time unit is not a number")
			return p, &x
		}
		d = round2(d)
		if d.Cmp(maxUnit) > 0 || d.Cmp(maxUnit.Neg()) < 0 {
			x := apiError{http.StatusUnprocessableEntity, "PG::NumericValueOutOfRange: ERROR:  numeric field overflow", false}
			return p, &x
		}
		p.timeUnit = d
	}
	for _, f := range []struct {
		key string
		dst *int64
		has *bool
	}{{"type_id", &p.typeID, &p.hasType}, {"ticket_article_id", &p.article, &p.hasArticle}} {
		raw, ok := body[f.key]
		if !ok {
			continue
		}
		*f.has = true
		if strings.TrimSpace(string(raw)) == "null" {
			continue
		}
		sv, _ := scalar(raw)
		n, err := strconv.ParseInt(sv, 10, 64)
		if err != nil || n <= 0 {
			x := errUnprocessable(fmt.Sprintf("%s is invalid", f.key))
			return p, &x
		}
		*f.dst = n
	}
	if p.hasType && p.typeID != 0 && s.types[p.typeID] == nil {
		x := apiError{http.StatusUnprocessableEntity, `PG::ForeignKeyViolation: ERROR:  insert or update on table "ticket_time_accountings" violates foreign key constraint "fk_rails_type_id"`, false}
		return p, &x
	}
	if p.hasArticle && p.article != 0 && s.articleTaken(p.article, self) {
		x := errUnprocessable("This object already exists.")
		return p, &x
	}
	return p, nil
}

func (s *Server) createEntry(r *http.Request, c *session, q url.Values, body map[string]json.RawMessage) result {
	var tid int64
	if raw := r.PathValue("ticket_id"); raw != "" {
		tid, _ = pathID(r, "ticket_id")
		if s.tickets[tid] == nil {
			return notFound("Ticket", raw)
		}
	} else {
		tid = int64(rubyToI(q.Get("ticket_id")))
		if s.tickets[tid] == nil {
			return fail(errUnprocessable("Ticket must exist"))
		}
	}
	p, aerr := s.readEntryParams(body, 0)
	if aerr != nil {
		return failp(aerr)
	}
	if !p.hasUnit {
		return fail(errUnprocessable("Time unit can't be blank"))
	}
	now := s.clock()
	e := &Entry{ID: s.id("entries", 0), TicketID: tid, TicketArticleID: p.article, TimeUnit: p.timeUnit,
		TypeID: p.typeID, CreatedByID: c.user.ID, CreatedAt: now, UpdatedAt: now}
	s.entries[e.ID] = e
	s.indexArticle(0, e)
	t := s.tickets[tid]
	t.entryCount++
	s.ticketTotalChanged(t, e.TimeUnit, now)
	return created(s.entryView(e, false))
}

func (s *Server) updateEntry(r *http.Request, _ *session, _ url.Values, body map[string]json.RawMessage) result {
	e, aerr := s.findEntry(r)
	if aerr != nil {
		return failp(aerr)
	}
	p, aerr := s.readEntryParams(body, e.ID)
	if aerr != nil {
		return failp(aerr)
	}
	delta := decimal.Dec{}
	if p.hasUnit {
		delta = p.timeUnit.Sub(e.TimeUnit)
		e.TimeUnit = p.timeUnit
	}
	if p.hasType {
		e.TypeID = p.typeID
	}
	if p.hasArticle {
		old := e.TicketArticleID
		e.TicketArticleID = p.article
		s.indexArticle(old, e)
	}
	e.UpdatedAt = s.clock()
	s.ticketTotalChanged(s.tickets[e.TicketID], delta, e.UpdatedAt)
	return ok(s.entryView(e, false))
}

func (s *Server) destroyEntry(r *http.Request, _ *session, _ url.Values, _ map[string]json.RawMessage) result {
	e, aerr := s.findEntry(r)
	if aerr != nil {
		return failp(aerr)
	}
	s.deleteEntry(e.ID)
	return ok(map[string]any{})
}

func (s *Server) listTypes(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	return listModel(s, q, s.types, typeColumns, func(t *Type) int64 { return t.ID }, typeView)
}

// listModel is model_index_render: sortable, default 500, max 1000.
func listModel[T any](s *Server, q url.Values, m map[int64]T, cols columns[T], id func(T) int64, view func(T) any) result {
	ords, aerr := parseOrder(q, cols, "id", false)
	if aerr != nil {
		return failp(aerr)
	}
	rows := make([]T, 0, len(m))
	for _, v := range m {
		rows = append(rows, v)
	}
	sortRows(s, rows, cols, ords, id)
	return pageOf(q, rows, 500, 1000, view)
}

// ---- tickets ----

func (s *Server) listTickets(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	// TicketsController#index: always id ASC, default 100, max 100.
	expand := truthy(q.Get("expand"))
	return listByID(q, s.tickets, 100, 100, func(t *ticketRec) int64 { return t.ID },
		func(t *ticketRec) any { return s.ticketView(t, expand) })
}

func (s *Server) showTicket(r *http.Request, c *session, q url.Values, _ map[string]json.RawMessage) result {
	// authorize!(ticket, :show?) first: a ticket in a group the caller
	// may not read is 403, not the ticket.
	if id, _ := pathID(r, "id"); s.tickets[id] != nil && !s.ticketShow(c, s.tickets[id]) {
		return fail(errNotAuthorized)
	}
	// TicketsController#show checks expand, then full, then all; only the
	// all=true bundle (ticket_all) carries the ticket's tags.
	if !truthy(q.Get("expand")) && truthy(q.Get("all")) {
		return show(r, "Ticket", s.tickets, s.ticketAll)
	}
	return show(r, "Ticket", s.tickets, func(t *ticketRec) any { return s.ticketView(t, truthy(q.Get("expand"))) })
}

// ticketAll is TicketsController#ticket_all's bundle, with the assets
// reduced to the ticket itself and no links, mentions or form_meta content.
func (s *Server) ticketAll(t *ticketRec) any {
	articles := []int64{}
	for _, e := range s.ticketEntries(t.ID) {
		if e.TicketArticleID != 0 {
			articles = append(articles, e.TicketArticleID)
		}
	}
	slices.Sort(articles)
	tags := slices.Clone(t.tags)
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"ticket_id":          t.ID,
		"ticket_article_ids": articles,
		"assets":             map[string]any{"Ticket": map[string]any{strconv.FormatInt(t.ID, 10): s.ticketView(t, false)}},
		"links":              []any{},
		"tags":               tags,
		"mentions":           []int64{},
		"form_meta":          map[string]any{},
	}
}

// searchTickets is TicketsController#search without a search index
// (CanSearch#search_sql; Zammad asks Elasticsearch only when a query is
// given): the condition (Selector::Sql), plus a LIKE fallback for query.
// Default 50, max 200, sorted by updated_at desc. Only tickets the caller
// may read are searched (TicketPolicy::ReadScope: an agent's groups with
// read access, a customer's own and shared-organization tickets); the
// rest are left out without an error. Without expand the answer is
// Zammad's {tickets, tickets_count, assets} bundle, tickets_count counting
// the page (as TicketsController does: tickets.count).
func (s *Server) searchTickets(_ *http.Request, c *session, q url.Values, body map[string]json.RawMessage) result {
	var match func(*ticketRec) bool = func(*ticketRec) bool { return true }
	var cond json.RawMessage
	if raw, ok := body["condition"]; ok {
		cond = raw
	} else if v := q.Get("condition"); v != "" {
		cond = json.RawMessage(v)
	}
	if len(cond) > 0 && string(cond) != "null" && string(cond) != "{}" {
		m, err := compileCondition(cond)
		switch {
		case errors.Is(err, errInvalidCondition):
			// Selector::Sql#get rescues InvalidCondition, logs it and
			// returns nil: the search then runs without any condition.
		case errors.Is(err, errInvalidOperator):
			return fail(apiError{status: http.StatusInternalServerError, msg: err.Error()})
		case err != nil:
			return fail(errUnprocessable(err.Error()))
		default:
			match = m
		}
	}
	query := strings.ToLower(strings.TrimSpace(q.Get("query")))
	ords, aerr := parseOrder(q, ticketColumns, "updated_at", true)
	if aerr != nil {
		return failp(aerr)
	}
	var rows []*ticketRec
	for _, t := range s.tickets {
		if !s.ticketShow(c, t) || !match(t) {
			continue
		}
		if query != "" && query != "*" && !strings.Contains(strings.ToLower(t.Title), query) && !strings.Contains(t.Number, query) {
			continue
		}
		rows = append(rows, t)
	}
	sortRows(s, rows, ticketColumns, ords, func(t *ticketRec) int64 { return t.ID })
	pg, aerr := page(q, rows, 50, 200)
	if aerr != nil {
		return failp(aerr)
	}
	if truthy(q.Get("expand")) {
		out := make([]any, len(pg))
		for i, t := range pg {
			out[i] = s.ticketView(t, true)
		}
		return ok(out)
	}
	ids := make([]int64, len(pg))
	assets := map[string]any{}
	for i, t := range pg {
		ids[i] = t.ID
		assets[strconv.FormatInt(t.ID, 10)] = s.ticketView(t, false)
	}
	return ok(map[string]any{"tickets": ids, "tickets_count": len(ids), "assets": map[string]any{"Ticket": assets}})
}

// compileCondition understands the condition forms Timebridge uses: the
// classic map {"ticket.attr": {"operator", "value"}} and the expert form
// {"operator": "AND"|"OR", "conditions": [{"name", "operator", "value"}]}.
// Supported: created_at/updated_at with "after (absolute)"/"before
// (absolute)", and id-like attributes with "is"/"is not".
func compileCondition(raw json.RawMessage) (func(*ticketRec) bool, error) {
	var expert struct {
		Operator   string            `json:"operator"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if json.Unmarshal(raw, &expert) == nil && expert.Conditions != nil {
		var parts []func(*ticketRec) bool
		for _, c := range expert.Conditions {
			var one struct {
				Name     string          `json:"name"`
				Operator string          `json:"operator"`
				Value    json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(c, &one); err != nil {
				return nil, fmt.Errorf("invalid condition: %v", err)
			}
			var f func(*ticketRec) bool
			var err error
			if one.Name == "" {
				f, err = compileCondition(c)
			} else {
				f, err = compileTerm(one.Name, one.Operator, one.Value)
			}
			if err != nil {
				return nil, err
			}
			parts = append(parts, f)
		}
		or := strings.EqualFold(expert.Operator, "OR")
		return func(t *ticketRec) bool {
			for _, p := range parts {
				if p(t) == or {
					return or
				}
			}
			return !or
		}, nil
	}
	var classic map[string]struct {
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &classic); err != nil {
		return nil, fmt.Errorf("invalid condition: %v", err)
	}
	var parts []func(*ticketRec) bool
	for name, c := range classic {
		f, err := compileTerm(name, c.Operator, c.Value)
		if err != nil {
			return nil, err
		}
		parts = append(parts, f)
	}
	return func(t *ticketRec) bool {
		for _, p := range parts {
			if !p(t) {
				return false
			}
		}
		return true
	}, nil
}

// Selector::Sql's two ways of refusing a condition: InvalidCondition (a
// blank value, e.g. "is" with an empty list or no value at all) is
// swallowed and the whole condition dropped; an operator outside
// VALID_OPERATORS raises, which the API answers 500.
var (
	errInvalidCondition = errors.New("invalid condition")
	errInvalidOperator  = errors.New("invalid operator")
)

// validOperators is Selector::Sql::VALID_OPERATORS.
var validOperators = []string{"after (absolute)", "after (relative)", "before (absolute)", "before (relative)",
	"contains all not", "contains all", "contains not", "contains one not", "contains one", "contains",
	"does not match regex", "ends with one of", "ends with", "from (relative)", "has changed",
	"has reached warning", "has reached", "is any of", "is in working time", "is none of",
	"is not in working time", "is not", "is set", "is", "matches regex", "not set",
	"starts with one of", "starts with", "till (relative)", "today", "within last (relative)",
	"within next (relative)"}

func compileTerm(name, op string, value json.RawMessage) (func(*ticketRec) bool, error) {
	if op == "" || !slices.Contains(validOperators, op) {
		return nil, fmt.Errorf("%w: Invalid condition, operator '%s' is invalid", errInvalidOperator, op)
	}
	// validate_pre_condition_blank!: without a pre_condition (the
	// simulator knows none), a value must be given and must not be an
	// empty list.
	if v := strings.TrimSpace(string(value)); op != "today" && (v == "" || v == "[]") {
		return nil, fmt.Errorf("%w: %s %s without a value", errInvalidCondition, name, op)
	}
	attr, okPrefix := strings.CutPrefix(name, "ticket.")
	if !okPrefix {
		return nil, fmt.Errorf("zammadsim supports ticket.* conditions only, not %q", name)
	}
	switch attr {
	case "created_at", "updated_at":
		var v string
		if err := json.Unmarshal(value, &v); err != nil {
			return nil, fmt.Errorf("invalid value for %s", name)
		}
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("invalid time %q for %s", v, name)
		}
		get := func(t *ticketRec) time.Time { return t.CreatedAt }
		if attr == "updated_at" {
			get = func(t *ticketRec) time.Time { return t.UpdatedAt }
		}
		switch op {
		case "after (absolute)":
			return func(t *ticketRec) bool { return !get(t).Before(at) }, nil
		case "before (absolute)":
			return func(t *ticketRec) bool { return !get(t).After(at) }, nil
		}
	case "id", "organization_id", "group_id", "customer_id", "owner_id", "state_id", "priority_id":
		col := ticketColumns[attr]
		var vals []int64
		var one any
		if err := json.Unmarshal(value, &one); err != nil {
			return nil, fmt.Errorf("invalid value for %s", name)
		}
		items, isList := one.([]any)
		if !isList {
			items = []any{one}
		}
		for _, it := range items {
			n, err := strconv.ParseInt(fmt.Sprint(it), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("invalid value %v for %s", it, name)
			}
			vals = append(vals, n)
		}
		in := func(t *ticketRec) bool { k := col(t); return !k.null && slices.Contains(vals, k.n) }
		switch op {
		case "is":
			return in, nil
		case "is not":
			return func(t *ticketRec) bool { return !in(t) }, nil
		}
	}
	return nil, fmt.Errorf("zammadsim does not support the condition %q %q", name, op)
}

func (s *Server) listStates(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	type state struct {
		ID     int64  `json:"id"`
		Name   string `json:"name"`
		Active bool   `json:"active"`
	}
	m := map[int64]*state{}
	for name, id := range states {
		m[id] = &state{ID: id, Name: name, Active: name != "removed"}
	}
	cols := columns[*state]{"id": func(x *state) sortKey { return keyInt(x.ID) }, "name": func(x *state) sortKey { return keyStr(x.Name) }}
	return listModel(s, q, m, cols, func(x *state) int64 { return x.ID }, func(x *state) any { return x })
}

// ---- organizations, users, groups ----

func (s *Server) listOrgs(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	return listModel(s, q, s.orgs, orgColumns, func(o *Organization) int64 { return o.ID }, s.orgView)
}

func (s *Server) showOrg(r *http.Request, _ *session, _ url.Values, _ map[string]json.RawMessage) result {
	return show(r, "Organization", s.orgs, s.orgView)
}

func (s *Server) listUsers(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	// UsersController#index: id ASC, default 100, max 1000.
	expand := truthy(q.Get("expand"))
	return listByID(q, s.users, 100, 1000, func(u *User) int64 { return u.ID },
		func(u *User) any { return s.userView(u, expand) })
}

func (s *Server) showUser(r *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	return show(r, "User", s.users, func(u *User) any { return s.userView(u, truthy(q.Get("expand"))) })
}

func (s *Server) me(_ *http.Request, c *session, q url.Values, _ map[string]json.RawMessage) result {
	u := s.users[c.user.ID]
	if u == nil {
		return notFound("User", strconv.FormatInt(c.user.ID, 10))
	}
	return ok(s.userView(u, truthy(q.Get("expand"))))
}

func (s *Server) listGroups(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	return listModel(s, q, s.groups, groupColumns, func(g *Group) int64 { return g.ID }, groupView)
}

func (s *Server) showGroup(r *http.Request, _ *session, _ url.Values, _ map[string]json.RawMessage) result {
	return show(r, "Group", s.groups, groupView)
}

// show answers GET /api/v1/<model>s/{id}: the row as view renders it, or
// Zammad's 404 naming the model and the id as given.
func show[T any](r *http.Request, model string, m map[int64]*T, view func(*T) any) result {
	id, raw := pathID(r, "id")
	row := m[id]
	if row == nil {
		return notFound(model, raw)
	}
	return ok(view(row))
}

// listByID answers an index that ignores sort_by (id ascending), paged with
// the controller's default and maximum per_page.
func listByID[T any](q url.Values, m map[int64]*T, perPage, maxPerPage int, id func(*T) int64, view func(*T) any) result {
	rows := make([]*T, 0, len(m))
	for _, v := range m {
		rows = append(rows, v)
	}
	slices.SortFunc(rows, func(a, b *T) int { return cmpInt(id(a), id(b)) })
	return pageOf(q, rows, perPage, maxPerPage, view)
}

// pageOf answers one page of sorted rows as view renders them.
func pageOf[T any](q url.Values, rows []T, perPage, maxPerPage int, view func(T) any) result {
	pg, aerr := page(q, rows, perPage, maxPerPage)
	if aerr != nil {
		return failp(aerr)
	}
	out := make([]any, len(pg))
	for i, v := range pg {
		out[i] = view(v)
	}
	return ok(out)
}
