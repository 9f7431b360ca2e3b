package zammadsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Tags, as Zammad implements them. What the simulator reproduces, and the
// zammad/zammad source it was read from:
//
//   - Routes (app/controllers/tags_controller.rb, 2024+): GET /api/v1/tags
//     ?object=&o_id= → 200 {"tags":[…]}; POST /api/v1/tags/add → **201**
//     with the body `true`; DELETE /api/v1/tags/remove → 200 `true`.
//     Parameters come from the query or a JSON body (Rails merges both,
//     also for DELETE).
//   - Who (app/policies/controllers/tags_controller_policy.rb, 2026): list
//     needs TicketPolicy#show? (an agent with read access to the ticket's
//     group, or the ticket's customer with ticket.customer, or a customer
//     of the ticket's shared organization); add and remove need
//     TicketPolicy#agent_update_access?: ticket.agent (user and token)
//     **and** change (or full) access to the ticket's group. admin.tag
//     alone does not let anyone tag a ticket, and customers can never
//     add or remove. A refusal is Pundit's 403 "Not authorized". The
//     policy finds the ticket first, so an unknown o_id is a 404; an
//     object other than Ticket (or a knowledge base answer, which the
//     simulator does not have) makes the policy call nil.find: a 500.
//   - New tag names (Tag.tag_allowed?, app/models/tag.rb, called by the
//     controller before tag_add): allowed when the tag_new setting is on
//     (the default, state: true in the UpdateTag migration), or the
//     *user* (its roles, not the token) has admin.tag, or a tag item of
//     exactly that name exists — looked up with the raw parameter, not
//     stripped, case-sensitively (ApplicationModel::CanLookup enforces
//     case sensitivity). Otherwise 403 (Exceptions::Forbidden).
//   - Adding (Tag.tag_add): the name is stripped of surrounding
//     whitespace; a tag already on the ticket, compared case-insensitively
//     (tags_include? uses LOWER), makes it a no-op that answers true and
//     does not touch the ticket. Otherwise the item is looked up exactly
//     (case-sensitive) or created with the stripped name — so "Billed" and
//     "billed" are two items, and a ticket never gets both. An item name
//     that is blank or contains "," or "*" fails Tag::Item's validation;
//     create then returns an unsaved item and inserting the tag with a
//     NULL tag_item_id is a statement error, which the simulator answers
//     422 like its other statement errors.
//   - Removing (Tag.tag_remove): the stripped name is looked up exactly —
//     removing "BILLED" leaves "billed" on the ticket — and created as an
//     item if missing (even with tag_new off; removal never checks
//     tag_allowed?). Removing a tag the ticket does not have answers true.
//   - updated_at: both tag_add (except the duplicate no-op) and tag_remove
//     (always, even when nothing was removed) end in
//     touch_reference_by_params (app/models/application_model/
//     can_touch_references.rb), i.e. ticket.touch: the ticket's updated_at
//     moves, so ticket searches by updated_at and overviews see it. Time
//     accounting rows are not touched, so a scan of
//     /api/v1/time_accountings?sort_by=updated_at does not see tagging.
//     Tag records dispatch transactions of their own (Tag includes
//     HasTransactionDispatcher); whether a trigger on "ticket updated"
//     fires for a tag change alone was not verified.
//   - GET /api/v1/tickets/{id} carries no tags, plain or with expand=true
//     (TicketsController#show renders the record's attributes); only
//     all=true (without expand, which wins) answers the ticket_all bundle
//     {ticket_id, ticket_article_ids, assets, links, tags, mentions,
//     form_meta}, whose tags are the ticket's tag_list.
//   - List order: tag_list orders by tags.id, i.e. the order tags were
//     added.
//
// Versions differ: before 2024 the controller had no tag_allowed? check
// and removal answered 201; before 2026 listing was open to any
// authenticated user. A 2026 migration (TagUniqueIndex) adds a unique
// index on LOWER(tag_items.name); the 2026 Tag::Item code was not
// available, so the simulator keeps the 2025 item model above.

// Permissions for tags.
const (
	PermAdminTag       = "admin.tag"
	PermTicketCustomer = "ticket.customer"
)

// SetTagNew switches the tag_new setting ("New tags", Settings › Ticket;
// on by default as in Zammad). Off, only users with admin.tag may add tag
// names that do not exist yet.
func (s *Server) SetTagNew(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tagNewOff = !on
}

// AddTagItem creates a tag name, as an admin does in Admin › Tags; it
// reports false when an item of exactly that name exists.
func (s *Server) AddTagItem(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.TrimSpace(name)
	if name == "" || slices.Contains(s.tagItems, name) {
		return false
	}
	s.tagItems = append(s.tagItems, name)
	return true
}

// TagItems returns every tag name, in creation order.
func (s *Server) TagItems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tagItems)
}

// TicketTags returns ticket id's tags in the order they were added.
func (s *Server) TicketTags(id int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tickets[id]; t != nil {
		return slices.Clone(t.tags)
	}
	return nil
}

// SetTicketTags replaces a ticket's tags without touching it (seeding);
// names are created as items. It panics for a missing ticket.
func (s *Server) SetTicketTags(id int64, tags ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[id]
	if t == nil {
		panic(fmt.Sprintf("zammadsim: SetTicketTags: ticket %d does not exist", id))
	}
	t.tags = nil
	for _, name := range tags {
		name = strings.TrimSpace(name)
		if !slices.Contains(s.tagItems, name) {
			s.tagItems = append(s.tagItems, name)
		}
		t.tags = append(t.tags, name)
	}
}

// SetUserGroups sets a user's group access: group id → access levels
// ("read", "change", "full", …). Without it, users with the Agent role
// (role 2) have full access to every group and others none.
func (s *Server) SetUserGroups(userID int64, access map[int64][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u == nil {
		panic(fmt.Sprintf("zammadsim: SetUserGroups: user %d does not exist", userID))
	}
	u.GroupAccess = map[int64][]string{}
	for g, levels := range access {
		u.GroupAccess[g] = slices.Clone(levels)
	}
}

// groupAccess reports whether user u has access level want to group g
// ("full" grants every level), as User#group_access? does; s.mu held.
func (s *Server) groupAccess(u *User, g int64, want string) bool {
	if u.GroupAccess == nil {
		return slices.Contains(u.RoleIDs, 2) && s.groups[g] != nil
	}
	levels := u.GroupAccess[g]
	return slices.Contains(levels, "full") || slices.Contains(levels, want)
}

// userHasAdminTag is User#permissions?('admin.tag') on the user, not the
// token, as Tag.tag_allowed? asks it: the Admin role (1) has "admin", and
// the simulator assumes a user holds what its token holds.
func (c *session) userHasAdminTag() bool {
	return slices.Contains(c.user.RoleIDs, 1) || c.may(PermAdminTag)
}

var errNotAuthorized = apiError{http.StatusForbidden, "Not authorized", true}

// tagTicket runs the policy's lookup: Ticket.find(o_id) for object
// "Ticket"; nil.find (500) for any other object.
func (s *Server) tagTicket(q url.Values) (*ticketRec, *apiError) {
	if q.Get("object") != "Ticket" {
		return nil, &apiError{http.StatusInternalServerError, "undefined method `find' for nil:NilClass", false}
	}
	raw := q.Get("o_id")
	t := s.tickets[int64(rubyToI(raw))]
	if t == nil {
		x := errNotFound("Ticket", raw)
		return nil, &x
	}
	return t, nil
}

// ticketShow is TicketPolicy#show? (access?('read')).
func (s *Server) ticketShow(c *session, t *ticketRec) bool {
	if s.ticketAgentUpdate(c, t, "read") {
		return true
	}
	if !c.may(PermTicketCustomer) {
		return false
	}
	if t.CustomerID == c.user.ID {
		return true
	}
	// Shared organization: the simulator's organizations are all shared.
	return t.OrganizationID != 0 && c.user.OrganizationID == t.OrganizationID
}

// ticketAgentUpdate is TicketPolicy#agent_access?(level).
func (s *Server) ticketAgentUpdate(c *session, t *ticketRec, level string) bool {
	if !c.may(PermTicketAgent) {
		return false
	}
	u := s.users[c.user.ID]
	return u != nil && s.groupAccess(u, t.GroupID, level)
}

// validTagName is Tag::Item's validation (presence, no "," or "*").
func validTagName(name string) bool {
	return name != "" && !strings.ContainsAny(name, ",*")
}

func (s *Server) listTags(_ *http.Request, c *session, q url.Values, _ map[string]json.RawMessage) result {
	t, aerr := s.tagTicket(q)
	if aerr != nil {
		return failp(aerr)
	}
	if !s.ticketShow(c, t) {
		return fail(errNotAuthorized)
	}
	tags := slices.Clone(t.tags)
	if tags == nil {
		tags = []string{}
	}
	return ok(map[string]any{"tags": tags})
}

func (s *Server) addTag(_ *http.Request, c *session, q url.Values, body map[string]json.RawMessage) result {
	t, aerr := s.tagTicket(q)
	if aerr != nil {
		return failp(aerr)
	}
	if !s.ticketAgentUpdate(c, t, "change") {
		return fail(errNotAuthorized)
	}
	raw, present := tagParam(q, body)
	if s.tagNewOff && !c.userHasAdminTag() && !(present && slices.Contains(s.tagItems, raw)) {
		return fail(apiError{http.StatusForbidden, "Exceptions::Forbidden", true})
	}
	if !present {
		// nil.strip in Tag.tag_add.
		return fail(apiError{http.StatusInternalServerError, "undefined method `strip' for nil:NilClass", false})
	}
	name := strings.TrimSpace(raw)
	if slices.ContainsFunc(t.tags, func(have string) bool { return strings.EqualFold(have, name) }) {
		return result{status: http.StatusCreated, body: true}
	}
	if !validTagName(name) {
		return fail(apiError{http.StatusUnprocessableEntity, `PG::NotNullViolation: ERROR:  null value in column "tag_item_id" of relation "tags" violates not-null constraint`, false})
	}
	if !slices.Contains(s.tagItems, name) {
		s.tagItems = append(s.tagItems, name)
	}
	t.tags = append(t.tags, name)
	t.UpdatedAt = s.clock() // ticket.touch
	return result{status: http.StatusCreated, body: true}
}

func (s *Server) removeTag(_ *http.Request, c *session, q url.Values, body map[string]json.RawMessage) result {
	t, aerr := s.tagTicket(q)
	if aerr != nil {
		return failp(aerr)
	}
	if !s.ticketAgentUpdate(c, t, "change") {
		return fail(errNotAuthorized)
	}
	if raw, present := tagParam(q, body); present {
		name := strings.TrimSpace(raw)
		// Tag::Item.lookup_by_name_and_create: the item is created if
		// missing (an invalid name is not saved and matches nothing).
		if validTagName(name) && !slices.Contains(s.tagItems, name) {
			s.tagItems = append(s.tagItems, name)
		}
		t.tags = slices.DeleteFunc(t.tags, func(have string) bool { return have == name })
	}
	t.UpdatedAt = s.clock() // ticket.touch, whether or not a tag went
	return ok(true)
}

// tagParam reads params[:item]: a JSON string, or any JSON scalar as Rails
// renders it, or the query parameter.
func tagParam(q url.Values, body map[string]json.RawMessage) (string, bool) {
	if raw, ok := body["item"]; ok {
		if strings.TrimSpace(string(raw)) == "null" {
			return "", false
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			switch x := v.(type) {
			case string:
				return x, true
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64), true
			case bool:
				return strconv.FormatBool(x), true
			}
		}
		return string(raw), true
	}
	if q.Has("item") {
		return q.Get("item"), true
	}
	return "", false
}

// signshow is GET /api/v1/signshow (SessionsController#show) reduced to
// what clients read: the session's user and the frontend settings
// (config_frontend). Of the settings only tag_new (frontend: true) is
// rendered; a real Zammad sends every frontend setting.
func (s *Server) signshow(_ *http.Request, c *session, _ url.Values, _ map[string]json.RawMessage) result {
	u := s.users[c.user.ID]
	if u == nil {
		return notFound("User", strconv.FormatInt(c.user.ID, 10))
	}
	return ok(map[string]any{
		"session": s.userView(u, false),
		"config":  map[string]any{"tag_new": !s.tagNewOff},
	})
}

// tagRow is a tag item: its id (creation order) and name.
type tagRow struct {
	id   int64
	name string
}

// tagItemRows returns the tag items, ids in creation order.
func (s *Server) tagItemRows() []tagRow {
	rows := make([]tagRow, len(s.tagItems))
	for i, n := range s.tagItems {
		rows[i].id, rows[i].name = int64(i+1), n
	}
	return rows
}

// tagSearch is GET /api/v1/tag_search?term= (TagsController#search,
// Tag::Item.filter_or_recommended): a case-insensitive substring match
// ordered by name (byte order; a database collation may order case
// differently), default limit 10; a blank term gives the most used
// names first. 2026 policy: ticket.agent, admin.tag or
// knowledge_base.editor.
func (s *Server) tagSearch(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	limit := 10
	if q.Has("limit") {
		limit = rubyToI(q.Get("limit"))
	}
	term := strings.ToLower(strings.TrimSpace(q.Get("term")))
	rows := s.tagItemRows()
	if term == "" {
		uses := map[string]int{}
		for _, t := range s.tickets {
			for _, n := range t.tags {
				uses[n]++
			}
		}
		slices.SortStableFunc(rows, func(a, b tagRow) int {
			if d := uses[b.name] - uses[a.name]; d != 0 {
				return d
			}
			return strings.Compare(a.name, b.name)
		})
	} else {
		rows = slices.DeleteFunc(rows, func(r tagRow) bool {
			return !strings.Contains(strings.ToLower(r.name), term)
		})
		slices.SortStableFunc(rows, func(a, b tagRow) int {
			return strings.Compare(a.name, b.name)
		})
	}
	out := []map[string]any{}
	for i, r := range rows {
		if limit > 0 && i >= limit {
			break
		}
		out = append(out, map[string]any{"id": r.id, "value": r.name})
	}
	return ok(out)
}

// tagAdminList is GET /api/v1/tag_list (TagsController#admin_list,
// admin.tag): every item by name with its use count, default limit 5000.
func (s *Server) tagAdminList(_ *http.Request, _ *session, q url.Values, _ map[string]json.RawMessage) result {
	limit := 5000
	if q.Has("limit") {
		limit = rubyToI(q.Get("limit"))
	}
	rows := s.tagItemRows()
	slices.SortStableFunc(rows, func(a, b tagRow) int {
		return strings.Compare(a.name, b.name)
	})
	out := []map[string]any{}
	for i, r := range rows {
		if limit > 0 && i >= limit {
			break
		}
		n := 0
		for _, t := range s.tickets {
			if slices.Contains(t.tags, r.name) {
				n++
			}
		}
		out = append(out, map[string]any{"id": r.id, "name": r.name, "count": n})
	}
	return ok(out)
}
