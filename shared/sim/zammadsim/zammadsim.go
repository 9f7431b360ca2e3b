// Package zammadsim is an in-memory Zammad (≥ 6.1) that speaks the REST API
// Timebridge uses, with the behaviour documented in
// shared/reference/zammad-api.md: token authentication and its exact error
// statuses and bodies (403 without credentials, 401 for an unknown token, 403
// "Token authorization failed." for a missing permission, HTML errors when
// the client does not ask for JSON), offset paging with silent caps and `[]`
// past the end, sorting by any real column (HTTP 500 otherwise), decimal
// time units serialised as strings ("15.0", "-100.0"), millisecond UTC
// timestamps, hard deletes without a trace, merged tickets that keep their
// time, and ticket updated_at moving only when the ticket's time total moves.
// Ticket tags follow Zammad's tag controller, policy and model (tags.go:
// who may list, add and remove, the tag_new setting, case and whitespace,
// and the ticket touch on every change).
//
// It serves the Zammad client's tests, benchmarks (SeedDemo builds a
// deterministic realistic dataset) and the demo stack. Faults (latency, 5xx,
// 429 with Retry-After, hangs, malformed bodies) can be switched on while it
// serves, for one endpoint or all, with seeded deterministic randomness, and
// every request is counted by route so tests can assert how a client paged
// and retried.
//
// Seeding helpers write straight into the "database": they skip the HTTP
// layer's validation (for example the decimal(6,2) range of time_unit) so
// that tests can create data a client must defend against. They panic on
// references to records that do not exist, like a failed foreign key would,
// because that is always a bug in the test or seed code.
package zammadsim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/sim/fault"
)

// Option configures a Server.
type Option func(*Server)

// WithSeed seeds the randomness of faults, unstable tie ordering and
// webhook delivery ids, so that a test run is reproducible. Default 1.
func WithSeed(seed uint64) Option {
	return func(s *Server) {
		s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		s.inj.Seed(seed)
	}
}

// WithClock sets the clock used for created_at/updated_at (see SetNow).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.setNow(now) }
}

// WithoutGlobalTimeAccounting simulates a Zammad 6.1 that predates the global
// /api/v1/time_accountings endpoints (zammad/zammad#4791): they answer with
// a routing 404, while the per-ticket endpoints work.
func WithoutGlobalTimeAccounting() Option {
	return func(s *Server) { s.noGlobal = true }
}

// WithUnstableTies makes rows whose sort keys are equal come back in a
// different (seeded random) order on every request, as PostgreSQL may do.
// Offset paging over such rows can then repeat or skip rows between pages,
// which is what a client's de-duplication and watermark overlap are for.
// By default ties are ordered by id, which keeps paging tests exact.
func WithUnstableTies() Option {
	return func(s *Server) { s.unstableTies = true }
}

// WithHangLimit bounds how long a hang fault blocks before the simulator
// answers 504 as a gateway would. Default 30s.
func WithHangLimit(d time.Duration) Option {
	return func(s *Server) { s.hangLimit = d }
}

// Server is the simulated Zammad. All methods are safe for concurrent use,
// also while requests are being served.
type Server struct {
	mu  sync.Mutex
	now func() time.Time
	rng *rand.Rand

	tokens  map[string]*token
	users   map[int64]*User
	orgs    map[int64]*Organization
	groups  map[int64]*Group
	types   map[int64]*Type
	tickets map[int64]*ticketRec
	entries map[int64]*Entry
	// articles indexes entries by article (an article books one entry).
	articles map[int64]int64
	nextID   map[string]int64
	// tagItems are the tag names (Tag::Item) in creation order; tagNewOff
	// is the tag_new setting switched off (see tags.go).
	tagItems  []string
	tagNewOff bool

	noGlobal     bool
	unstableTies bool
	hangLimit    time.Duration

	faults   Faults
	inj      *fault.Injector
	counters map[string]int

	mux       *http.ServeMux
	hs        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once
}

// Permissions Zammad knows that the simulator checks.
const (
	PermAdminTimeAccounting = "admin.time_accounting"
	PermAdminUser           = "admin.user"
	PermAdminOrganization   = "admin.organization"
	PermAdminGroup          = "admin.group"
	PermTicketAgent         = "ticket.agent"
)

type token struct {
	userID  int64
	perms   []string
	expired bool
}

// User is a Zammad user (agent, customer or the system user 1 "-").
type User struct {
	ID             int64
	Login          string
	Firstname      string
	Lastname       string
	Email          string
	Inactive       bool  // the zero value is an active user, Zammad's default
	OrganizationID int64 // 0 = null
	RoleIDs        []int64
	// GroupAccess maps group ids to access levels ("read", "change",
	// "full", …). nil: the Agent role (2) has full access to every group.
	GroupAccess map[int64][]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Organization is a Zammad organization (a customer company).
type Organization struct {
	ID        int64
	Name      string
	Note      string
	Inactive  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Group is a Zammad group (a queue of tickets).
type Group struct {
	ID        int64
	Name      string
	Note      string
	Inactive  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Type is a time accounting activity type (Zammad ≥ 6.1). Types are
// deactivated, never deleted.
type Type struct {
	ID        int64
	Name      string
	Note      string // "" is serialised as null
	Inactive  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Ticket is a Zammad ticket.
type Ticket struct {
	ID             int64
	Number         string // a string in Zammad, e.g. "53003"; default 31000+ID
	Title          string
	OrganizationID int64 // 0 = null
	GroupID        int64
	CustomerID     int64
	OwnerID        int64 // 0 becomes 1, Zammad's "nobody"
	// State is a default Zammad state: "new", "open" (the default),
	// "pending reminder", "closed", "merged", "removed" or "pending close".
	State      string
	PriorityID int64 // default 2 ("2 normal")
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// TimeUnit is the ticket's accounted total, maintained by the server
	// (read-only: ignored by AddTicket). HasTime is false while the ticket
	// has no entries, when Zammad serialises time_unit as null.
	TimeUnit decimal.Dec
	HasTime  bool
}

// Entry is one time accounting row (ticket_time_accountings).
type Entry struct {
	ID              int64
	TicketID        int64
	TicketArticleID int64       // 0 = null (booked without an article)
	TimeUnit        decimal.Dec // decimal(6,2); may be negative (a correction)
	TypeID          int64       // 0 = null
	CreatedByID     int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

type ticketRec struct {
	Ticket
	entryCount int
	tags       []string // in the order they were added (tags.id)
}

// states are Zammad's default ticket states and their ids.
var states = map[string]int64{
	"new": 1, "open": 2, "pending reminder": 3, "closed": 4,
	"merged": 5, "removed": 6, "pending close": 7,
}

var priorities = map[int64]string{1: "1 low", 2: "2 normal", 3: "3 high"}

// New returns an empty simulator holding only Zammad's system user (id 1,
// login "-", the owner of unassigned tickets). Call Start to serve it on
// 127.0.0.1, or mount Handler yourself.
func New(opts ...Option) *Server {
	s := &Server{
		tokens:    map[string]*token{},
		users:     map[int64]*User{},
		orgs:      map[int64]*Organization{},
		groups:    map[int64]*Group{},
		types:     map[int64]*Type{},
		tickets:   map[int64]*ticketRec{},
		entries:   map[int64]*Entry{},
		articles:  map[int64]int64{},
		nextID:    map[string]int64{},
		counters:  map[string]int{},
		hangLimit: 30 * time.Second,
		closing:   make(chan struct{}),
		inj:       fault.NewInjector(1),
	}
	s.setNow(nil)
	WithSeed(1)(s)
	for _, o := range opts {
		o(s)
	}
	s.AddUser(User{ID: 1, Login: "-", Firstname: "-"})
	s.routes()
	return s
}

// SetNow replaces the clock used for new timestamps; nil restores
// time.Now. Timestamps are stored in UTC at millisecond precision, as the
// API shows them.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNow(now)
}

func (s *Server) setNow(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// clock returns the current simulated time; s.mu must be held.
func (s *Server) clock() time.Time { return ms(s.now()) }

func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Handler returns the simulator's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Start serves the simulator on a random port of 127.0.0.1 and returns its
// base URL (without /api/v1). Calling Start again returns the same URL.
func (s *Server) Start() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return s.hs.URL
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("zammadsim: listen on 127.0.0.1: %v", err))
	}
	hs := httptest.NewUnstartedServer(s.mux)
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	s.hs = hs
	return hs.URL
}

// URL returns the base URL after Start, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs == nil {
		return ""
	}
	return s.hs.URL
}

// Close releases hung requests and stops the server started by Start.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	if hs != nil {
		hs.Close()
	}
}

// id returns the id to use for a new row of table: want if given (and
// then the sequence moves past it), else the next in sequence.
func (s *Server) id(table string, want int64) int64 {
	if want > 0 {
		if want >= s.nextID[table] {
			s.nextID[table] = want + 1
		}
		return want
	}
	if s.nextID[table] == 0 {
		s.nextID[table] = 1
	}
	n := s.nextID[table]
	s.nextID[table]++
	return n
}

// namedRow points at the columns every named table has.
type namedRow struct {
	id               *int64
	name             *string
	created, updated *time.Time
}

// addNamed stores a new row of a named table: its id (see id), timestamps
// (see stamp) and, when it has no name, "<label> <id>".
func addNamed[T any](s *Server, m map[int64]*T, table, label string, row T, cols func(*T) namedRow) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := cols(&row)
	*c.id = s.id(table, *c.id)
	stamp(c.created, c.updated, s.clock())
	if *c.name == "" {
		*c.name = fmt.Sprintf("%s %d", label, *c.id)
	}
	m[*c.id] = &row
	return row
}

func stamp(created, updated *time.Time, now time.Time) {
	if created.IsZero() {
		*created = now
	}
	*created = ms(*created)
	if updated.IsZero() {
		*updated = *created
	}
	*updated = ms(*updated)
}

// AddToken registers a personal access token for userID. Its effective
// permissions are exactly perms (the token's list; the simulator assumes the
// user holds them too). A permission grants its sub-permissions: "admin"
// grants "admin.time_accounting".
func (s *Server) AddToken(tok string, userID int64, perms ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		panic(fmt.Sprintf("zammadsim: AddToken: user %d does not exist", userID))
	}
	s.tokens[tok] = &token{userID: userID, perms: slices.Clone(perms)}
}

// ExpireToken makes tok answer 401 "Not authorized (token expired)!".
func (s *Server) ExpireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tok]; ok {
		t.expired = true
	}
}

// AddUser stores u, assigning an id (unless set) and timestamps.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.OrganizationID != 0 && s.orgs[u.OrganizationID] == nil {
		panic(fmt.Sprintf("zammadsim: AddUser: organization %d does not exist", u.OrganizationID))
	}
	u.ID = s.id("users", u.ID)
	stamp(&u.CreatedAt, &u.UpdatedAt, s.clock())
	if u.Login == "" {
		u.Login = u.Email
	}
	if u.Login == "" {
		u.Login = fmt.Sprintf("user%d", u.ID)
	}
	u.RoleIDs = slices.Clone(u.RoleIDs)
	if u.GroupAccess != nil {
		ga := make(map[int64][]string, len(u.GroupAccess))
		for g, levels := range u.GroupAccess {
			ga[g] = slices.Clone(levels)
		}
		u.GroupAccess = ga
	}
	s.users[u.ID] = &u
	return u
}

// SetUserActive activates or deactivates a user (an inactive user's token
// answers 401).
func (s *Server) SetUserActive(id int64, active bool) bool {
	return setActive(s, s.users, id, active, func(u *User) (*bool, *time.Time) { return &u.Inactive, &u.UpdatedAt })
}

// AddOrganization stores o, assigning an id (unless set) and timestamps.
func (s *Server) AddOrganization(o Organization) Organization {
	return addNamed(s, s.orgs, "organizations", "Organization", o, func(o *Organization) namedRow {
		return namedRow{&o.ID, &o.Name, &o.CreatedAt, &o.UpdatedAt}
	})
}

// AddGroup stores g, assigning an id (unless set) and timestamps.
func (s *Server) AddGroup(g Group) Group {
	return addNamed(s, s.groups, "groups", "Group", g, func(g *Group) namedRow {
		return namedRow{&g.ID, &g.Name, &g.CreatedAt, &g.UpdatedAt}
	})
}

// AddType stores a time accounting type, assigning an id (unless set) and
// timestamps.
func (s *Server) AddType(t Type) Type {
	return addNamed(s, s.types, "types", "Type", t, func(t *Type) namedRow {
		return namedRow{&t.ID, &t.Name, &t.CreatedAt, &t.UpdatedAt}
	})
}

// SetTypeActive activates or deactivates a type; old entries keep it.
func (s *Server) SetTypeActive(id int64, active bool) bool {
	return setActive(s, s.types, id, active, func(t *Type) (*bool, *time.Time) { return &t.Inactive, &t.UpdatedAt })
}

// setActive activates or deactivates row id of m and touches it, as an
// admin's edit does; false when there is no such row. (The maps themselves
// are never replaced, so m may be read before the lock is taken.)
func setActive[T any](s *Server, m map[int64]*T, id int64, active bool, fields func(*T) (inactive *bool, updated *time.Time)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := m[id]
	if ok {
		inactive, updated := fields(row)
		*inactive, *updated = !active, s.clock()
	}
	return ok
}

// AddTicket stores t, assigning an id (unless set), a number (unless set)
// and timestamps. Its group, customer, owner and organization must exist.
func (s *Server) AddTicket(t Ticket) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.State == "" {
		t.State = "open"
	}
	if _, ok := states[t.State]; !ok {
		panic(fmt.Sprintf("zammadsim: AddTicket: unknown state %q", t.State))
	}
	if t.OwnerID == 0 {
		t.OwnerID = 1
	}
	if t.PriorityID == 0 {
		t.PriorityID = 2
	}
	if t.CustomerID == 0 {
		t.CustomerID = 1
	}
	switch {
	case s.groups[t.GroupID] == nil:
		panic(fmt.Sprintf("zammadsim: AddTicket: group %d does not exist", t.GroupID))
	case s.users[t.CustomerID] == nil:
		panic(fmt.Sprintf("zammadsim: AddTicket: customer %d does not exist", t.CustomerID))
	case s.users[t.OwnerID] == nil:
		panic(fmt.Sprintf("zammadsim: AddTicket: owner %d does not exist", t.OwnerID))
	case t.OrganizationID != 0 && s.orgs[t.OrganizationID] == nil:
		panic(fmt.Sprintf("zammadsim: AddTicket: organization %d does not exist", t.OrganizationID))
	case priorities[t.PriorityID] == "":
		panic(fmt.Sprintf("zammadsim: AddTicket: priority %d does not exist", t.PriorityID))
	}
	t.ID = s.id("tickets", t.ID)
	if t.Number == "" {
		t.Number = fmt.Sprint(31000 + t.ID)
	}
	stamp(&t.CreatedAt, &t.UpdatedAt, s.clock())
	t.TimeUnit, t.HasTime = decimal.Dec{}, false
	s.tickets[t.ID] = &ticketRec{Ticket: t}
	return t
}

// UpdateTicket applies fn to a copy of ticket id and stores it as an agent's
// edit in Zammad would: its updated_at moves (any saved attribute change
// does). The id, the total (TimeUnit, HasTime) and the timestamps cannot
// be changed through fn; the new group, customer, owner, organization,
// priority and state must exist. It reports whether the ticket exists.
func (s *Server) UpdateTicket(id int64, fn func(*Ticket)) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	t := rec.Ticket
	fn(&t)
	t.ID, t.TimeUnit, t.HasTime, t.CreatedAt = rec.ID, rec.TimeUnit, rec.HasTime, rec.CreatedAt
	_, knownState := states[t.State]
	switch {
	case s.groups[t.GroupID] == nil:
		panic(fmt.Sprintf("zammadsim: UpdateTicket: group %d does not exist", t.GroupID))
	case s.users[t.CustomerID] == nil:
		panic(fmt.Sprintf("zammadsim: UpdateTicket: customer %d does not exist", t.CustomerID))
	case s.users[t.OwnerID] == nil:
		panic(fmt.Sprintf("zammadsim: UpdateTicket: owner %d does not exist", t.OwnerID))
	case t.OrganizationID != 0 && s.orgs[t.OrganizationID] == nil:
		panic(fmt.Sprintf("zammadsim: UpdateTicket: organization %d does not exist", t.OrganizationID))
	case priorities[t.PriorityID] == "":
		panic(fmt.Sprintf("zammadsim: UpdateTicket: priority %d does not exist", t.PriorityID))
	case !knownState:
		panic(fmt.Sprintf("zammadsim: UpdateTicket: unknown state %q", t.State))
	}
	t.UpdatedAt = s.clock()
	rec.Ticket = t
	return t, true
}

// SetTicketState changes a ticket's state (bumping its updated_at).
func (s *Server) SetTicketState(id int64, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if _, known := states[state]; !ok || !known {
		return false
	}
	t.State = state
	t.UpdatedAt = s.clock()
	return true
}

// AddEntry stores a time accounting entry, assigning an id and timestamps:
// CreatedAt defaults to now (set it to backfill history) and UpdatedAt to
// CreatedAt. TimeUnit is rounded to the column's two decimals but not
// range-checked (see the package doc). As in Zammad, the ticket's total is
// recomputed and its updated_at moves when the total changed.
func (s *Server) AddEntry(e Entry) Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[e.TicketID]
	if t == nil {
		panic(fmt.Sprintf("zammadsim: AddEntry: ticket %d does not exist", e.TicketID))
	}
	if e.TypeID != 0 && s.types[e.TypeID] == nil {
		panic(fmt.Sprintf("zammadsim: AddEntry: type %d does not exist", e.TypeID))
	}
	if e.CreatedByID == 0 {
		e.CreatedByID = 1
	}
	if s.users[e.CreatedByID] == nil {
		panic(fmt.Sprintf("zammadsim: AddEntry: user %d does not exist", e.CreatedByID))
	}
	if e.TicketArticleID != 0 && s.articleTaken(e.TicketArticleID, 0) {
		panic(fmt.Sprintf("zammadsim: AddEntry: article %d already has an entry", e.TicketArticleID))
	}
	e.ID = s.id("entries", e.ID)
	e.TimeUnit = round2(e.TimeUnit)
	stamp(&e.CreatedAt, &e.UpdatedAt, s.clock())
	s.entries[e.ID] = &e
	s.indexArticle(0, &e)
	t.entryCount++
	s.ticketTotalChanged(t, e.TimeUnit, e.UpdatedAt)
	return e
}

// articleTaken reports whether another entry than except books article.
func (s *Server) articleTaken(article, except int64) bool {
	id, ok := s.articles[article]
	return ok && id != except
}

// indexArticle moves e's entry in the article index from oldArticle to its
// current article.
func (s *Server) indexArticle(oldArticle int64, e *Entry) {
	if oldArticle != 0 && s.articles[oldArticle] == e.ID {
		delete(s.articles, oldArticle)
	}
	if e.TicketArticleID != 0 {
		s.articles[e.TicketArticleID] = e.ID
	}
}

// ticketTotalChanged applies delta to the ticket's total and, like
// Ticket::TimeAccounting.update_ticket, saves the ticket (moving its
// updated_at) only when the total changed.
func (s *Server) ticketTotalChanged(t *ticketRec, delta decimal.Dec, at time.Time) {
	hadTime := t.HasTime
	t.TimeUnit = t.TimeUnit.Add(delta)
	t.HasTime = t.entryCount > 0
	if !delta.IsZero() || hadTime != t.HasTime {
		if at.After(t.UpdatedAt) {
			t.UpdatedAt = at
		}
	}
}

// UpdateEntry applies fn to a copy of entry id and stores it with a new
// updated_at. The id and ticket cannot change. It reports whether the entry
// exists.
func (s *Server) UpdateEntry(id int64, fn func(*Entry)) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.entries[id]
	if !ok {
		return Entry{}, false
	}
	e := *old
	fn(&e)
	e.ID, e.TicketID = old.ID, old.TicketID
	if e.TypeID != 0 && s.types[e.TypeID] == nil {
		panic(fmt.Sprintf("zammadsim: UpdateEntry: type %d does not exist", e.TypeID))
	}
	if e.TicketArticleID != 0 && s.articleTaken(e.TicketArticleID, e.ID) {
		panic(fmt.Sprintf("zammadsim: UpdateEntry: article %d already has an entry", e.TicketArticleID))
	}
	e.TimeUnit = round2(e.TimeUnit)
	e.CreatedAt = ms(e.CreatedAt)
	e.UpdatedAt = s.clock()
	delta := e.TimeUnit.Sub(old.TimeUnit)
	oldArticle := old.TicketArticleID
	*old = e
	s.indexArticle(oldArticle, old)
	s.ticketTotalChanged(s.tickets[e.TicketID], delta, e.UpdatedAt)
	return e, true
}

// DeleteEntry hard-deletes an entry, leaving no trace (as an admin DELETE or
// an article deletion does). It reports whether the entry existed.
func (s *Server) DeleteEntry(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteEntry(id)
}

func (s *Server) deleteEntry(id int64) bool {
	e, ok := s.entries[id]
	if !ok {
		return false
	}
	delete(s.entries, id)
	s.indexArticle(e.TicketArticleID, &Entry{ID: e.ID})
	if t := s.tickets[e.TicketID]; t != nil {
		t.entryCount--
		s.ticketTotalChanged(t, e.TimeUnit.Neg(), s.clock())
	}
	return true
}

// DeleteTicket hard-deletes a ticket and, like Zammad's dependent: :destroy,
// all its entries. It reports whether the ticket existed.
func (s *Server) DeleteTicket(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tickets[id]; !ok {
		return false
	}
	for eid, e := range s.entries {
		if e.TicketID == id {
			delete(s.entries, eid)
			s.indexArticle(e.TicketArticleID, &Entry{ID: e.ID})
		}
	}
	delete(s.tickets, id)
	return true
}

// MergeTicket merges src into dst as Ticket#merge_to does: src goes to state
// "merged", its entries stay on src (their articles would move to dst), and
// both tickets' updated_at move.
func (s *Server) MergeTicket(src, dst int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, b := s.tickets[src], s.tickets[dst]
	switch {
	case a == nil:
		return fmt.Errorf("zammadsim: merge: ticket %d does not exist", src)
	case b == nil:
		return fmt.Errorf("zammadsim: merge: ticket %d does not exist", dst)
	case src == dst:
		return fmt.Errorf("zammadsim: merge: cannot merge ticket %d into itself", src)
	case b.State == "merged":
		return fmt.Errorf("zammadsim: merge: target ticket %d is merged itself", dst)
	}
	now := s.clock()
	a.State, a.UpdatedAt = "merged", now
	b.UpdatedAt = now
	return nil
}

// Entries returns a copy of all entries, ordered by id.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmpInt(a.ID, b.ID) })
	return out
}

// Entry returns entry id.
func (s *Server) Entry(id int64) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Ticket returns ticket id with its current total.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	return t.Ticket, true
}

// Tickets returns a copy of all tickets, ordered by id.
func (s *Server) Tickets() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Ticket, 0, len(s.tickets))
	for _, t := range s.tickets {
		out = append(out, t.Ticket)
	}
	slices.SortFunc(out, func(a, b Ticket) int { return cmpInt(a.ID, b.ID) })
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
