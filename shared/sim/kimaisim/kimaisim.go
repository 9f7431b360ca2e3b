// Package kimaisim is an in-memory simulator of the Kimai 2 REST API, for
// tests, benchmarks and the demo stack. It reproduces the behaviour that
// Timebridge's Kimai client has to cope with — not just the happy path:
//
//   - Bearer-token authentication with Kimai's exact 401/403 bodies (a bad
//     token gets an empty body and a WWW-Authenticate header);
//   - role-dependent timesheet form fields and the "This form should not
//     contain extra fields." trap for any field the user may not set;
//   - datetimes read as wall-clock time in the API user's timezone (with
//     PHP's DST behaviour) and written as 2006-01-02T15:04:05-0700 in the
//     record's timezone. Symfony's input regex is not anchored at the end,
//     but the whole string then goes to PHP's DateTime, so a trailing "Z",
//     offset or zone name is honoured (not ignored) and other trailing text
//     is a validation error — the simulator does the same;
//   - rounding on every save (begin floored, end ceiled to the minute);
//   - tags as a comma-separated string with unknown names silently dropped;
//   - pagination headers, the 500 page-size cap and 404 past the last page;
//   - the list filters' quirks (end compares begin times, modified_after is
//     UTC, user silently ignored without view_other_timesheet, term is a
//     whitespace-tokenised LIKE where a name:value token searches meta
//     fields);
//   - 403 for exported records without edit_exported_timesheet, and the
//     export toggle (PATCH /api/timesheets/{id}/export) with its rules.
//
// Faults (latency, 500s, 429s with Retry-After, hangs, failures after a
// committed write, and a server of limited capacity that queues and then
// refuses requests) can be switched on while serving, targeted at routes,
// with seeded randomness, so that retry and exactly-once logic can be
// tested deterministically. Request counters keyed by route pattern show
// what a client actually sent.
//
// Behaviour that Kimai has but the simulator leaves out: teams (team leads
// see every user), lockdown periods, meta fields, break time, tracking
// modes other than "default", budgets, rounding rules other than the
// default, and the deprecated X-AUTH-* headers (always refused).
package kimaisim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/timebridge/timebridge/shared/sim/fault"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// Server is a simulated Kimai instance. All methods are safe for concurrent
// use, including while requests are being served.
type Server struct {
	mu         sync.Mutex // guards the data below
	now        func() time.Time
	version    string
	tsConfig   TimesheetConfig
	custDef    Customer // Country/Currency/Timezone defaults
	users      map[int64]*User
	tokens     map[string]int64
	customers  map[int64]*Customer
	projects   map[int64]*Project
	activities map[int64]*Activity
	tags       map[int64]*Tag
	sheets     map[int64]*Sheet
	lastID     map[string]int64 // per entity kind

	faults faultState
	gate   gate // the capacity model's worker pool

	countMu sync.Mutex
	counts  map[string]int

	mux     *http.ServeMux
	routes  []string // registered patterns, for 405 detection
	handler http.Handler

	srvMu     sync.Mutex
	ts        *httptest.Server
	closing   chan struct{} // closed by Close to release hanging requests
	closeOnce sync.Once

	// Slow commits: a counter, not a WaitGroup, because a handler may
	// start one while a test is already waiting.
	slowMu      sync.Mutex
	slowCond    *sync.Cond
	slowStarted int
	slowPending int
	inflight    int          // requests being handled
	slowCommits atomic.Int64 // slow commits applied
}

// Option configures a Server.
type Option func(*Server)

// WithClock replaces time.Now, e.g. to test modified_after or project date
// ranges deterministically.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithVersion sets the version reported by GET /api/version (default
// "2.66.0").
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// WithSeed seeds the fault-injection randomness (default 1).
func WithSeed(seed uint64) Option { return func(s *Server) { s.faults.inj.Seed(seed) } }

// WithTimesheetConfig replaces the answer of GET /api/config/timesheet. Only
// ActiveEntriesHardLimit changes behaviour (how many running timesheets a
// user may keep); other fields are reported only.
func WithTimesheetConfig(c TimesheetConfig) Option { return func(s *Server) { s.tsConfig = c } }

// WithCustomerDefaults sets the system defaults for a new customer's
// country, currency and timezone (Kimai's defaults: DE, EUR, the server
// timezone — here UTC).
func WithCustomerDefaults(country, currency, timezone string) Option {
	return func(s *Server) {
		s.custDef = Customer{Country: country, Currency: currency, Timezone: timezone}
	}
}

// New returns a Server with no data. Add users with AddUser before calling
// the API: every endpoint requires a token.
func New(opts ...Option) *Server {
	s := &Server{
		now:        time.Now,
		version:    "2.66.0",
		tsConfig:   DefaultTimesheetConfig,
		custDef:    Customer{Country: "DE", Currency: "EUR", Timezone: "UTC"},
		users:      map[int64]*User{},
		tokens:     map[string]int64{},
		customers:  map[int64]*Customer{},
		projects:   map[int64]*Project{},
		activities: map[int64]*Activity{},
		tags:       map[int64]*Tag{},
		sheets:     map[int64]*Sheet{},
		lastID:     map[string]int64{},
		counts:     map[string]int{},
		closing:    make(chan struct{}),
	}
	s.slowCond = sync.NewCond(&s.slowMu)
	s.faults.inj = fault.NewInjector(1)
	for _, o := range opts {
		o(s)
	}
	s.routesInit()
	s.handler = http.HandlerFunc(s.serve)
	return s
}

// Handler returns the simulator as an http.Handler (for use in a custom
// server). Fault injection that drops connections needs a server whose
// ResponseWriter supports http.Hijacker (HTTP/1.x).
func (s *Server) Handler() http.Handler { return s.handler }

// Start serves the simulator on an httptest.Server bound to 127.0.0.1 and
// returns its base URL (without trailing slash). Calling Start again
// returns the same URL.
func (s *Server) Start() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ts == nil {
		// httptest.NewServer listens on 127.0.0.1 (or [::1] when IPv4 is
		// unavailable).
		s.ts = httptest.NewServer(s.handler)
	}
	return s.ts.URL
}

// URL returns the base URL of a started server, "" before Start.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Close releases hanging requests and stops the server started by Start.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srvMu.Lock()
	ts := s.ts
	s.srvMu.Unlock()
	if ts != nil {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// nowUTC returns the current time in UTC without monotonic reading.
func (s *Server) nowUTC() time.Time { return s.now().UTC().Round(0) }

func (s *Server) nextID(kind string) int64 {
	s.lastID[kind]++
	return s.lastID[kind]
}

// assignID gives *id the next id when it is 0, and makes sure an explicitly
// chosen id is never reused by nextID.
func (s *Server) assignID(kind string, id *int64) {
	if *id == 0 {
		*id = s.nextID(kind)
	}
	if *id > s.lastID[kind] {
		s.lastID[kind] = *id
	}
}

// ---------------------------------------------------------------------
// Seeding and inspection

// AddUser adds (or replaces) a user and registers token for it (an empty
// token registers none; a user may have several tokens, so calling AddUser
// again with another token adds it). ID 0 assigns the next free id; an empty
// Timezone becomes "UTC"; nil Permissions are derived from Roles. It returns
// the stored user.
func (s *Server) AddUser(u User, token string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignID("user", &u.ID)
	if u.Timezone == "" {
		u.Timezone = "UTC"
	}
	if u.Language == "" {
		u.Language = "en"
	}
	if len(u.Roles) == 0 {
		u.Roles = []string{RoleUser}
	}
	if u.Permissions == nil {
		u.Permissions = PermissionsFor(u.Roles...)
	}
	u.Roles = append([]string(nil), u.Roles...)
	u.Permissions = append([]string(nil), u.Permissions...)
	s.users[u.ID] = &u
	if token != "" {
		s.tokens[token] = u.ID
	}
	return u
}

// RevokeToken makes token invalid (as when it expires or is deleted).
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// AddCustomer stores c (ID 0 assigns one; empty Number/Country/Currency/
// Timezone get defaults) without validation, and returns it.
func (s *Server) AddCustomer(c Customer) Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Country == "" {
		c.Country = s.custDef.Country
	}
	if c.Currency == "" {
		c.Currency = s.custDef.Currency
	}
	if c.Timezone == "" {
		c.Timezone = s.custDef.Timezone
	}
	customers.put(s, &c)
	return c
}

// AddProject stores p without validation (ID 0 assigns one, empty Number is
// generated) and returns it. The customer should exist.
func (s *Server) AddProject(p Project) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	projects.put(s, &p)
	return p
}

// AddActivity stores a without validation (ID 0 assigns one, empty Number is
// generated) and returns it.
func (s *Server) AddActivity(a Activity) Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	activities.put(s, &a)
	return a
}

// AddTag stores t (ID 0 assigns one) and returns it.
func (s *Server) AddTag(t Tag) Tag {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignID("tag", &t.ID)
	s.tags[t.ID] = &t
	return t
}

// AddTimesheet stores a timesheet directly, as if it had been created in
// Kimai's UI: no validation, but rounding and duration are applied,
// ModifiedAt is set to now, and an empty Timezone becomes the owner's.
// Tags are stored as given (create them with AddTag for filters to see
// them). It returns the stored sheet.
func (s *Server) AddTimesheet(sh Sheet) Sheet {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignID("timesheet", &sh.ID)
	if sh.Timezone == "" {
		sh.Timezone = "UTC"
		if u := s.users[sh.UserID]; u != nil {
			sh.Timezone = u.Timezone
		}
	}
	sh.Tags = append([]string(nil), sh.Tags...)
	roundSheet(&sh)
	sh.ModifiedAt = s.nowUTC().Truncate(time.Second)
	s.sheets[sh.ID] = &sh
	return cloneSheet(sh)
}

// Users returns all users sorted by id.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := sortedValues(s.users, func(u User) int64 { return u.ID })
	for i := range out {
		out[i].Roles = append([]string(nil), out[i].Roles...)
		out[i].Permissions = append([]string(nil), out[i].Permissions...)
	}
	return out
}

// Customers returns all customers sorted by id.
func (s *Server) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedValues(s.customers, func(c Customer) int64 { return c.ID })
}

// Projects returns all projects sorted by id.
func (s *Server) Projects() []Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedValues(s.projects, func(p Project) int64 { return p.ID })
}

// Activities returns all activities sorted by id.
func (s *Server) Activities() []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedValues(s.activities, func(a Activity) int64 { return a.ID })
}

// Tags returns all tags sorted by id.
func (s *Server) Tags() []Tag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedValues(s.tags, func(t Tag) int64 { return t.ID })
}

// Timesheets returns every timesheet, sorted by id, as domain values with
// Begin/End in the record's timezone (End is zero while running).
func (s *Server) Timesheets() []timebridge.Timesheet {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]timebridge.Timesheet, 0, len(s.sheets))
	for _, sh := range sortedValues(s.sheets, func(sh Sheet) int64 { return sh.ID }) {
		out = append(out, sh.Domain())
	}
	return out
}

// Sheets returns every stored timesheet with all fields, sorted by id.
func (s *Server) Sheets() []Sheet {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := sortedValues(s.sheets, func(sh Sheet) int64 { return sh.ID })
	for i := range out {
		out[i] = cloneSheet(out[i])
	}
	return out
}

// Timesheet returns one timesheet as a domain value.
func (s *Server) Timesheet(id int64) (timebridge.Timesheet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.sheets[id]
	if !ok {
		return timebridge.Timesheet{}, false
	}
	return sh.Domain(), true
}

// Sheet returns one stored timesheet with all fields.
func (s *Server) Sheet(id int64) (Sheet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.sheets[id]
	if !ok {
		return Sheet{}, false
	}
	return cloneSheet(*sh), true
}

// EditTimesheet simulates a person editing timesheet id in Kimai's UI: fn
// changes a copy, which is then rounded, gets a fresh duration and
// ModifiedAt, and is stored (the ID cannot change). It reports whether the
// timesheet exists. fn runs with the server locked and must not call the
// Server.
func (s *Server) EditTimesheet(id int64, fn func(*Sheet)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.sheets[id]
	if !ok {
		return false
	}
	c := cloneSheet(*sh)
	fn(&c)
	c.ID = id
	roundSheet(&c)
	c.ModifiedAt = s.nowUTC().Truncate(time.Second)
	s.sheets[id] = &c
	return true
}

// DeleteTimesheet removes a timesheet as a person in Kimai would, and
// reports whether it existed.
func (s *Server) DeleteTimesheet(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sheets[id]; !ok {
		return false
	}
	delete(s.sheets, id)
	return true
}

// SetExported marks a timesheet as exported (or not), as Kimai's invoice or
// export run would; it bumps ModifiedAt. It reports whether it exists.
func (s *Server) SetExported(id int64, exported bool) bool {
	return s.EditTimesheet(id, func(sh *Sheet) { sh.Exported = exported })
}

// Domain converts the stored sheet to Timebridge's domain type.
func (sh Sheet) Domain() timebridge.Timesheet {
	loc := loadLocation(sh.Timezone)
	t := timebridge.Timesheet{
		ID:          sh.ID,
		Begin:       sh.Begin.In(loc),
		Duration:    sh.Duration,
		ProjectID:   sh.ProjectID,
		ActivityID:  sh.ActivityID,
		UserID:      sh.UserID,
		Description: sh.Description,
		Tags:        append([]string(nil), sh.Tags...),
		Exported:    sh.Exported,
	}
	if !sh.End.IsZero() {
		t.End = sh.End.In(loc)
	}
	return t
}

func cloneSheet(sh Sheet) Sheet {
	sh.Tags = append([]string(nil), sh.Tags...)
	if sh.FixedRate != nil {
		v := *sh.FixedRate
		sh.FixedRate = &v
	}
	if sh.HourlyRate != nil {
		v := *sh.HourlyRate
		sh.HourlyRate = &v
	}
	return sh
}

func sortedValues[T any](m map[int64]*T, id func(T) int64) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return id(out[i]) < id(out[j]) })
	return out
}

// ---------------------------------------------------------------------
// Counters

// Requests returns how many requests each route received, keyed by
// "METHOD /api/route-pattern", e.g. "POST /api/timesheets" or
// "GET /api/timesheets/{id}". Requests that match no route are keyed by
// method and raw path. Requests answered by fault injection are counted too.
func (s *Server) Requests() map[string]int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// ResetCounters sets all request counters, and the capacity model's
// (CapacityStats), to zero.
func (s *Server) ResetCounters() {
	s.resetCapacityStats()
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.counts = map[string]int{}
}

func (s *Server) count(key string) {
	s.countMu.Lock()
	s.counts[key]++
	s.countMu.Unlock()
}

// ---------------------------------------------------------------------
// HTTP plumbing

// handlerFunc is an authenticated endpoint.
type handlerFunc func(w http.ResponseWriter, r *http.Request, me *User)

func (s *Server) routesInit() {
	s.mux = http.NewServeMux()
	add := func(pattern string, h handlerFunc) {
		s.routes = append(s.routes, pattern)
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			me := s.authenticate(w, r)
			if me == nil {
				return
			}
			h(w, r, me)
		})
	}
	add("GET /api/ping", s.handlePing)
	add("GET /api/version", s.handleVersion)
	add("GET /api/config/timesheet", s.handleTimesheetConfig)
	add("GET /api/users/me", s.handleMe)
	add("GET /api/users", s.handleUsers)
	add("GET /api/users/{id}", s.handleUser)
	add("GET /api/customers", s.handleCustomers)
	add("GET /api/customers/{id}", s.handleCustomer)
	add("POST /api/customers", s.handleCreateCustomer)
	add("GET /api/projects", s.handleProjects)
	add("GET /api/projects/{id}", s.handleProject)
	add("POST /api/projects", s.handleCreateProject)
	add("GET /api/activities", s.handleActivities)
	add("GET /api/activities/{id}", s.handleActivity)
	add("POST /api/activities", s.handleCreateActivity)
	add("GET /api/tags/find", s.handleFindTags)
	add("POST /api/tags", s.handleCreateTag)
	add("GET /api/timesheets", s.handleListTimesheets)
	add("GET /api/timesheets/{id}", s.handleGetTimesheet)
	add("POST /api/timesheets", s.handleCreateTimesheet)
	add("PATCH /api/timesheets/{id}", s.handlePatchTimesheet)
	add("DELETE /api/timesheets/{id}", s.handleDeleteTimesheet)
	add("PATCH /api/timesheets/{id}/export", s.handleExportTimesheet)
}

// serve counts the request, applies faults, routes, and handles it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	key := pattern
	if key == "" {
		key = r.Method + " " + r.URL.Path
	}
	s.slowMu.Lock()
	s.inflight++
	s.slowMu.Unlock()
	defer func() {
		s.slowMu.Lock()
		s.inflight--
		s.slowMu.Unlock()
		s.slowCond.Broadcast()
	}()
	s.count(key)
	release, handled := s.admit(w, r)
	if handled {
		return
	}
	defer release()
	if s.injectFaults(w, r, pattern) {
		return
	}
	s.route(w, r, pattern)
}

// route dispatches to the mux, turning its plain-text 404/405 into Kimai's
// JSON errors. Kimai's {id} routes require digits; others do not match.
func (s *Server) route(w http.ResponseWriter, r *http.Request, pattern string) {
	if pattern == "" {
		if allowed := s.allowedMethods(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed)
			return
		}
		writeError(w, http.StatusNotFound)
		return
	}
	if _, pat, _ := strings.Cut(pattern, " "); strings.Contains(pat, "{id}") {
		// Path values are only filled once the mux serves; check the raw
		// path's segment where the pattern has {id}.
		want := slices.Index(strings.Split(pat, "/"), "{id}")
		segs := strings.Split(r.URL.Path, "/")
		if want >= len(segs) || !isDigits(segs[want]) {
			writeError(w, http.StatusNotFound)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		c := r.Clone(r.Context())
		c.Method = m
		if _, p := s.mux.Handler(c); p != "" {
			out = append(out, m)
		}
	}
	return out
}

// authenticate implements Kimai's API firewall: Bearer tokens only (the
// scheme spelled exactly "Bearer"); no credentials → 401 JSON; a wrong,
// revoked or disabled user's token → 401 with an empty body and a
// WWW-Authenticate header; deprecated X-AUTH-* headers → 403 without code.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *User {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		if r.Header.Get("X-AUTH-USER") != "" || r.Header.Get("X-AUTH-TOKEN") != "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Invalid credentials"})
			return nil
		}
		writeError(w, http.StatusUnauthorized)
		return nil
	}
	token := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	s.mu.Lock()
	var me *User
	if id, ok := s.tokens[token]; ok {
		if u := s.users[id]; u != nil && u.Enabled {
			c := *u
			me = &c
		}
	}
	s.mu.Unlock()
	if me == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token",error_description="Invalid credentials."`)
		w.WriteHeader(http.StatusUnauthorized)
		return nil
	}
	if !me.Can(PermAPIAccess) {
		writeError(w, http.StatusForbidden)
		return nil
	}
	return me
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// statusMessages are the production messages: Kimai shows the HTTP status
// text in "message" when APP_DEBUG=0.
var statusMessages = map[int]string{
	http.StatusBadRequest:          "Bad Request",
	http.StatusUnauthorized:        "Unauthorized",
	http.StatusForbidden:           "Forbidden",
	http.StatusNotFound:            "Not Found",
	http.StatusMethodNotAllowed:    "Method Not Allowed",
	http.StatusTooManyRequests:     "Too Many Requests",
	http.StatusInternalServerError: "Internal Server Error",
	http.StatusServiceUnavailable:  "Service Unavailable",
}

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeError writes {"code":N,"message":"<status text>"}.
func writeError(w http.ResponseWriter, status int) {
	msg, ok := statusMessages[status]
	if !ok {
		msg = http.StatusText(status)
	}
	writeJSON(w, status, errorBody{Code: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		// Only simulator bugs get here.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// marshal encodes v without HTML escaping (Kimai does not hex-escape < > &).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// queryList reads a query parameter accepting both "name" and "name[]" keys for
// array parameters, as PHP does.
func queryList(q url.Values, name string) []string {
	out := append([]string(nil), q[name+"[]"]...)
	out = append(out, q[name]...)
	return out
}

// ---------------------------------------------------------------------
// Simple endpoints

func (s *Server) handlePing(w http.ResponseWriter, r *http.Request, me *User) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "pong"})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request, me *User) {
	writeJSON(w, http.StatusOK, map[string]any{
		"version":   s.version,
		"versionId": versionID(s.version),
		"copyright": "Kimai " + s.version + " by Kevin Papst.",
	})
}

// versionID turns "2.66.0" into 26600 like Kimai's Constants::VERSION_ID.
func versionID(v string) int {
	parts := strings.SplitN(v, ".", 3)
	n := [3]int{}
	for i := 0; i < len(parts) && i < 3; i++ {
		for _, c := range parts[i] {
			if c < '0' || c > '9' {
				break
			}
			n[i] = n[i]*10 + int(c-'0')
		}
	}
	return n[0]*10000 + n[1]*100 + n[2]
}

func (s *Server) handleTimesheetConfig(w http.ResponseWriter, r *http.Request, me *User) {
	writeJSON(w, http.StatusOK, s.tsConfig)
}
