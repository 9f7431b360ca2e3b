package zammad

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Paging caps of Zammad's list endpoints. Asking for more is silently
// capped by Zammad, which would make a full page look like the last one, so
// the client never asks for more than these.
const (
	maxPerPage       = 1000 // time accountings, organizations, users, groups, types
	maxTicketPerPage = 100  // GET /api/v1/tickets
	maxSearchPerPage = 200  // POST /api/v1/tickets/search
)

// entryColumns are the columns of ticket_time_accountings; Zammad answers
// HTTP 500 when asked to sort by anything else.
var entryColumns = []string{"id", "ticket_id", "ticket_article_id", "time_unit", "type_id", "created_by_id", "created_at", "updated_at"}

// ListEntriesOptions shape a global entry listing.
type ListEntriesOptions struct {
	// SortBy is a column of ticket_time_accountings; default "id". Use
	// "updated_at" with OrderBy "desc" for watermark scans.
	SortBy string
	// OrderBy is "asc" (default) or "desc".
	OrderBy string
	// PerPage is the page size, 1…1000; default (and capped at) 1000.
	PerPage int
}

// ListEntries reads every entry of every ticket (needs admin.time_accounting)
// page by page and hands each page to fn, until a page comes back shorter
// than PerPage or fn returns more=false. Rows already handed over are
// dropped from later pages: the order of rows with equal sort keys is
// unspecified, so offset pages may overlap. (They may equally skip a row;
// callers that need every row overlap their watermark or reconcile.)
func (c *Client) ListEntries(ctx context.Context, opts ListEntriesOptions, fn func(page []Entry) (more bool, err error)) error {
	k, perPage, err := entriesCall(opts)
	if err != nil {
		return err
	}
	return pageAll(ctx, c, k, perPage, func(e Entry) int64 { return e.ID }, fn)
}

// EntriesPage reads one page (from 1) of the listing ListEntries walks:
// for callers that read pages side by side, which is only sound where a
// row missed (offset pages shift when rows are deleted) costs nothing but
// a second look.
func (c *Client) EntriesPage(ctx context.Context, opts ListEntriesOptions, page int) ([]Entry, error) {
	k, perPage, err := entriesCall(opts)
	if err != nil {
		return nil, err
	}
	k.query.Set("page", strconv.Itoa(max(1, page)))
	k.query.Set("per_page", strconv.Itoa(perPage))
	var rows []Entry
	if err := c.do(ctx, http.MethodGet, k, &rows); err != nil {
		return nil, err
	}
	return rows, nil
}

func entriesCall(opts ListEntriesOptions) (call, int, error) {
	const op = "zammad: list entries"
	sortBy := strings.TrimSpace(opts.SortBy)
	if sortBy == "" {
		sortBy = "id"
	}
	if !slices.Contains(entryColumns, sortBy) {
		return call{}, 0, apperr.New(apperr.Validation, op, fmt.Sprintf("Cannot sort Zammad time accounting by %q: use one of %s.", sortBy, strings.Join(entryColumns, ", ")))
	}
	orderBy := strings.ToLower(strings.TrimSpace(opts.OrderBy))
	if orderBy == "" {
		orderBy = "asc"
	}
	if orderBy != "asc" && orderBy != "desc" {
		return call{}, 0, apperr.New(apperr.Validation, op, fmt.Sprintf("Cannot order Zammad time accounting %q: use asc or desc.", opts.OrderBy))
	}
	perPage := opts.PerPage
	if perPage <= 0 || perPage > maxPerPage {
		perPage = maxPerPage
	}
	q := url.Values{"sort_by": {sortBy}, "order_by": {orderBy}}
	return call{op: op, path: "/api/v1/time_accountings", query: q, perm: "admin.time_accounting", notFound: msgOldZammad}, perPage, nil
}

// TicketEntries returns all entries of one ticket, ordered by id. It needs
// admin.time_accounting, or ticket.agent with change access to the ticket.
// A deleted ticket gives a NotFound error (its entries are gone with it).
func (c *Client) TicketEntries(ctx context.Context, ticketID int64) ([]Entry, error) {
	var out []Entry
	err := pageAll(ctx, c, call{
		op:       fmt.Sprintf("zammad: ticket %d entries", ticketID),
		path:     fmt.Sprintf("/api/v1/tickets/%d/time_accountings", ticketID),
		query:    url.Values{"sort_by": {"id"}, "order_by": {"asc"}},
		perm:     "admin.time_accounting",
		notFound: fmt.Sprintf("Zammad has no ticket %d (it was deleted, or the token's user cannot see it).", ticketID),
	}, maxPerPage, func(e Entry) int64 { return e.ID }, func(p []Entry) (bool, error) {
		out = append(out, p...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// pageAll walks an offset-paged list endpoint: page=1,2,… with per_page,
// until a short page or fn says stop, de-duplicating rows by id.
func pageAll[T any](ctx context.Context, c *Client, k call, perPage int, id func(T) int64, fn func([]T) (bool, error)) error {
	seen := map[int64]struct{}{}
	base := k.query
	for page := 1; ; page++ {
		q := url.Values{}
		for key, v := range base {
			q[key] = v
		}
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(perPage))
		k.query = q
		var rows []T
		if err := c.do(ctx, http.MethodGet, k, &rows); err != nil {
			return err
		}
		fresh := rows[:0:0]
		for _, r := range rows {
			if _, dup := seen[id(r)]; !dup {
				seen[id(r)] = struct{}{}
				fresh = append(fresh, r)
			}
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "zammad page", slog.String("op", k.op), slog.Int("page", page),
			slog.Int("rows", len(rows)), slog.Int("new", len(fresh)))
		if len(rows) == perPage && len(fresh) == 0 {
			// A full page of rows already seen: the server ignores the
			// page parameter (a proxy or cache in between), and going on
			// would loop forever.
			return &apperr.Error{Kind: apperr.Upstream, Op: k.op,
				Message: fmt.Sprintf("Zammad returned page %d with only rows it had already sent; a proxy or cache in front of Zammad may ignore the page parameter.", page)}
		}
		if len(fresh) > 0 {
			more, err := fn(fresh)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
		if len(rows) < perPage {
			return nil
		}
	}
}

// collect gathers all pages of a list into one slice.
func collect[T any](ctx context.Context, c *Client, k call, perPage int, id func(T) int64) ([]T, error) {
	var out []T
	err := pageAll(ctx, c, k, perPage, id, func(p []T) (bool, error) {
		out = append(out, p...)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Me returns the token's user.
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, call{op: "zammad: current user", path: "/api/v1/users/me"}, &u)
	return u, err
}

// Ticket returns one ticket with its state name.
func (c *Client) Ticket(ctx context.Context, id int64) (Ticket, error) {
	var t Ticket
	err := c.do(ctx, http.MethodGet, call{
		op: fmt.Sprintf("zammad: ticket %d", id), path: fmt.Sprintf("/api/v1/tickets/%d", id),
		query: url.Values{"expand": {"true"}}, perm: "ticket.agent",
		notFound: fmt.Sprintf("Zammad has no ticket %d (it was deleted, or the token's user cannot see it).", id),
	}, &t)
	return t, err
}

// Tickets reads all tickets the token's user can see, ordered by id, in
// pages of 100 (Zammad's cap for this endpoint), until fn returns false.
func (c *Client) Tickets(ctx context.Context, fn func(page []Ticket) (more bool, err error)) error {
	return pageAll(ctx, c, call{op: "zammad: list tickets", path: "/api/v1/tickets",
		query: url.Values{"expand": {"true"}}, perm: "ticket.agent"},
		maxTicketPerPage, func(t Ticket) int64 { return t.ID }, fn)
}

// UpdatedTickets reads the tickets whose updated_at is at or after since,
// oldest first, with Zammad's condition search (works without
// Elasticsearch), in pages of 200, until fn returns false. A ticket's
// updated_at moves when its time total changes, not when only an entry's
// type does, so this complements, not replaces, entry scans. Offset pages
// sorted by updated_at skip a ticket when a ticket of an earlier page is
// edited during the scan (it moves to the end), and the search only sees
// tickets the user may read: use it for hints, and TicketsByID where every
// ticket must be read.
func (c *Client) UpdatedTickets(ctx context.Context, since time.Time, fn func(page []Ticket) (more bool, err error)) error {
	op := "zammad: tickets updated since " + since.UTC().Format(time.RFC3339)
	seen := map[int64]struct{}{}
	for page := 1; ; page++ {
		body := map[string]any{
			"condition": map[string]any{"ticket.updated_at": map[string]string{
				"operator": "after (absolute)", "value": since.UTC().Format("2006-01-02T15:04:05.000Z")}},
			"sort_by": "updated_at", "order_by": "asc",
			"per_page": maxSearchPerPage, "page": page, "expand": true,
		}
		var rows []Ticket
		if err := c.do(ctx, http.MethodPost, call{op: op, path: "/api/v1/tickets/search", body: body, perm: "ticket.agent"}, &rows); err != nil {
			return err
		}
		fresh := rows[:0:0]
		for _, t := range rows {
			if _, dup := seen[t.ID]; !dup {
				seen[t.ID] = struct{}{}
				fresh = append(fresh, t)
			}
		}
		if len(fresh) > 0 {
			more, err := fn(fresh)
			if err != nil || !more {
				return err
			}
		}
		if len(rows) < maxSearchPerPage {
			return nil
		}
		if len(fresh) == 0 {
			return &apperr.Error{Kind: apperr.Upstream, Op: op,
				Message: fmt.Sprintf("Zammad returned search page %d with only tickets it had already sent; a proxy may ignore the page parameter.", page)}
		}
	}
}

// TicketsByID reads the tickets with the given ids through Zammad's
// condition search: POST /api/v1/tickets/search with the condition
// {"ticket.id": {"operator": "is", "value": [ids]}} and expand=true, up to
// 200 tickets a request (the search's cap). The answer is the same ticket
// data as GET /api/v1/tickets/{id}?expand=true (both render
// attributes_with_association_names), at a 200th of the requests.
//
// Source facts this relies on (zammad/zammad): TicketsController#search
// answers an array of tickets with expand=true (else {tickets: [ids],
// tickets_count, assets}); CanSearch#search asks Elasticsearch only when a
// query is given, so a condition-only search is SQL (Selector::Sql: "is"
// with a list is "tickets.id IN (?)") and sees every committed ticket, with
// no indexing lag; the search is limited to TicketPolicy::ReadScope, i.e.
// tickets in groups the user may read, and silently leaves out the rest.
//
// So the result holds no ticket twice and only requested ids, but may lack
// some: deleted tickets, tickets the token's user may not read, and (should
// a Zammad ignore the condition: Selector::Sql drops a condition it finds
// invalid and then searches all tickets) any ticket. Callers read missing
// ids one by one to learn why. Ids are read in ascending order; duplicates
// and ids ≤ 0 are ignored.
func (c *Client) TicketsByID(ctx context.Context, ids []int64) ([]Ticket, error) {
	want := make(map[int64]bool, len(ids))
	sorted := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id > 0 && !want[id] {
			want[id] = true
			sorted = append(sorted, id)
		}
	}
	slices.Sort(sorted)
	out := make([]Ticket, 0, len(sorted))
	for batch := range slices.Chunk(sorted, maxSearchPerPage) {
		// Strings, as Zammad's own UI sends ids in conditions; an empty
		// list is never sent (Selector::Sql would drop the condition).
		vals := make([]string, len(batch))
		for i, id := range batch {
			vals[i] = strconv.FormatInt(id, 10)
		}
		op := fmt.Sprintf("zammad: search %d tickets by id (%d…%d)", len(batch), batch[0], batch[len(batch)-1])
		body := map[string]any{
			"condition": map[string]any{"ticket.id": map[string]any{"operator": "is", "value": vals}},
			"sort_by":   "id", "order_by": "asc",
			"per_page": maxSearchPerPage, "page": 1, "expand": true,
		}
		var rows []Ticket
		if err := c.do(ctx, http.MethodPost, call{op: op, path: "/api/v1/tickets/search", body: body, perm: "ticket.agent",
			notFound: "This Zammad has no ticket search (POST /api/v1/tickets/search)."}, &rows); err != nil {
			return nil, err
		}
		for _, t := range rows {
			if want[t.ID] {
				delete(want, t.ID) // once
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// Organization returns one organization.
func (c *Client) Organization(ctx context.Context, id int64) (Organization, error) {
	var o Organization
	err := c.do(ctx, http.MethodGet, call{
		op: fmt.Sprintf("zammad: organization %d", id), path: fmt.Sprintf("/api/v1/organizations/%d", id),
		perm:     "admin.organization or ticket.agent",
		notFound: fmt.Sprintf("Zammad has no organization %d (it was deleted).", id),
	}, &o)
	return o, err
}

// Organizations returns all organizations, ordered by id.
func (c *Client) Organizations(ctx context.Context) ([]Organization, error) {
	return collect(ctx, c, call{op: "zammad: list organizations", path: "/api/v1/organizations",
		query: url.Values{"sort_by": {"id"}, "order_by": {"asc"}}, perm: "admin.organization or ticket.agent"},
		maxPerPage, func(o Organization) int64 { return o.ID })
}

// User returns one user.
func (c *Client) User(ctx context.Context, id int64) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, call{
		op: fmt.Sprintf("zammad: user %d", id), path: fmt.Sprintf("/api/v1/users/%d", id),
		perm:     "admin.user or ticket.agent",
		notFound: fmt.Sprintf("Zammad has no user %d (it was deleted).", id),
	}, &u)
	return u, err
}

// Users returns all users (agents and customers), ordered by id.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	return collect(ctx, c, call{op: "zammad: list users", path: "/api/v1/users", perm: "admin.user or ticket.agent"},
		maxPerPage, func(u User) int64 { return u.ID })
}

// Groups returns all groups, ordered by id.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	return collect(ctx, c, call{op: "zammad: list groups", path: "/api/v1/groups",
		query: url.Values{"sort_by": {"id"}, "order_by": {"asc"}}, perm: "admin.group or ticket.agent"},
		maxPerPage, func(g Group) int64 { return g.ID })
}

// Types returns all time accounting types, inactive ones included (old
// entries keep them). Needs admin.time_accounting.
func (c *Client) Types(ctx context.Context) ([]ActivityType, error) {
	return collect(ctx, c, call{op: "zammad: list activity types", path: "/api/v1/time_accounting/types",
		query: url.Values{"sort_by": {"id"}, "order_by": {"asc"}}, perm: "admin.time_accounting",
		notFound: "This Zammad has no time accounting types (they exist from Zammad 6.1 on): update Zammad."},
		maxPerPage, func(t ActivityType) int64 { return t.ID })
}

// Probe checks that the token works and that this Zammad and token can be
// synced: the global entry list must answer (404: the Zammad is too old;
// 403: the token lacks admin.time_accounting). It returns what it learned
// even when it fails, with the first blocking error.
func (c *Client) Probe(ctx context.Context) (Capabilities, error) {
	caps := Capabilities{Instance: c.instance}
	me, err := c.Me(ctx)
	if err != nil {
		return caps, err
	}
	caps.User = me
	var one []Entry
	err = c.do(ctx, http.MethodGet, call{op: "zammad: probe time accounting", path: "/api/v1/time_accountings",
		query: url.Values{"per_page": {"1"}}, perm: "admin.time_accounting"}, &one)
	if ae, ok := apperr.As(err); ok && ae.Kind == apperr.NotFound {
		// The route does not exist: a Zammad before the global API. This is
		// a configuration problem of the connector, not a missing record.
		ae.Kind, ae.Message = apperr.Validation, msgOldZammad
	}
	if err != nil {
		return caps, err
	}
	caps.GlobalEntries = true
	types, err := c.Types(ctx)
	if err != nil {
		return caps, err
	}
	caps.ActivityTypes, caps.TypeCount = true, len(types)
	return caps, nil
}
