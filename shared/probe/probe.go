// Package probe tests a connector and reads what its upstream offers, for
// the API's connector forms and mapping pickers: Test checks that a Zammad
// or Kimai base URL answers as that application, that the token is
// accepted, that it has the permissions Timebridge needs and that the
// version is recent enough, each as a check whose message names the fix;
// Catalog reads the sections a mapping can point at (Zammad's types,
// organizations, agents and groups; Kimai's customers, projects, activities
// and users).
//
// A person waits for each answer, so the clients (built by shared/connect)
// use an interactive retry policy: two attempts, Retry-After hints of at
// most 5 s, each attempt bounded by Options.AttemptTimeout and the whole
// test or catalog read by Options.Timeout (inside API Gateway's 30 s).
// Outside local mode the dialer refuses internal addresses
// (shared/netguard), so a connector cannot point a token at the metadata
// service even after the API's URL check (DNS rebinding).
package probe

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/kimai"
	"github.com/timebridge/timebridge/shared/netguard"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
	"github.com/timebridge/timebridge/shared/zammad"
)

// Check names of a connector test, in the order they are reported.
const (
	CheckConnection  = "connection"  // the base URL answers as the expected application
	CheckAuth        = "auth"        // the token is accepted
	CheckPermissions = "permissions" // the token may do what Timebridge needs
	CheckVersion     = "version"     // the application is recent enough
	// CheckTagging: the Zammad token may write the billed status as ticket
	// tags. Reported only when Options.ZammadTags names the tags.
	CheckTagging = "tagging"
)

// ZammadPermissions are the permissions a Zammad token needs for
// Timebridge: admin.time_accounting for the global time accounting list and
// the activity types, ticket.agent for tickets, organizations, users and
// groups. The permissions check names them; the console's token hint
// (web/src/sections/Connectors.tsx, zammadPermissions) names the same list
// and its test reads this line.
var ZammadPermissions = []string{"admin.time_accounting", "ticket.agent"}

// Check statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusWarning = "warning" // works, but some settings will not
	StatusSkipped = "skipped" // not tried because an earlier check failed
)

// Check is one line of a connector test.
type Check struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Class   string `json:"class,omitempty"` // apperr kind of a failure
	Message string `json:"message"`
}

// TestUser is the upstream user the token belongs to.
type TestUser struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// TestResult is the outcome of a connector test. OK is false when any
// check failed; warnings do not fail it.
type TestResult struct {
	OK      bool      `json:"ok"`
	Checks  []Check   `json:"checks"`
	Version string    `json:"version,omitempty"`
	User    *TestUser `json:"user,omitempty"`
}

// FailedBefore is the result of a test whose check `name` failed before
// anything was called (a token or address refused by the caller); the
// checks before it count as not tried.
func FailedBefore(name, class, msg string) TestResult {
	res := TestResult{}
	failed := false
	for _, n := range []string{CheckConnection, CheckAuth, CheckPermissions, CheckVersion} {
		switch {
		case n == name:
			res.Checks = append(res.Checks, Check{Name: n, Status: StatusFailed, Class: class, Message: msg})
			failed = true
		case failed:
			res.Checks = append(res.Checks, Check{Name: n, Status: StatusSkipped, Message: "Not checked: fix the failed check first."})
		default:
			res.Checks = append(res.Checks, Check{Name: n, Status: StatusSkipped, Message: "Not checked."})
		}
	}
	return res
}

// CatalogItem is one entry of an upstream catalog.
type CatalogItem struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Active bool   `json:"active"`
	Number string `json:"number,omitempty"` // Kimai's external number
	Email  string `json:"email,omitempty"`  // agents and users
	// CustomerID is a Kimai project's customer, ProjectID a Kimai
	// activity's project (0: a global activity).
	CustomerID int64 `json:"customer_id,omitempty"`
	ProjectID  int64 `json:"project_id,omitempty"`
}

// CatalogWarning says that one section could not be read and why.
type CatalogWarning struct {
	Section string `json:"section"`
	Class   string `json:"class"`
	Message string `json:"message"`
}

// Catalog is what a connector's upstream offers for mappings: for Zammad
// the sections types, organizations, agents and groups; for Kimai
// customers, projects, activities and users. A section the token may not
// read is empty with a warning; other failures fail the whole read.
type Catalog struct {
	Sections map[string][]CatalogItem
	Warnings []CatalogWarning
}

// Options tune a Prober; zero fields take defaults.
type Options struct {
	// LocalMode allows loopback and other internal addresses (the local
	// stack's simulators); otherwise the dialer refuses them.
	LocalMode bool
	Logger    *slog.Logger // retries and paging; default: discard
	// AttemptTimeout bounds one HTTP attempt (default 8s); Timeout bounds
	// a whole test or catalog read (default 25s, inside API Gateway's 30s).
	AttemptTimeout time.Duration
	Timeout        time.Duration
	// ZammadTags are the tags Timebridge writes to Zammad tickets (the
	// billed status). When set, a Zammad test adds the tagging check: may
	// the token tag tickets, and may it use these names.
	ZammadTags []string
}

// Prober tests connectors and reads their catalogs with the real Zammad
// and Kimai clients. It is safe for concurrent use.
type Prober struct {
	timeout    time.Duration
	clients    connect.Options
	zammadTags []string
}

// New returns a Prober.
func New(o Options) *Prober {
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 8 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 25 * time.Second
	}
	return &Prober{timeout: o.Timeout, zammadTags: slices.Clone(o.ZammadTags), clients: connect.Options{
		HTTPClient: netguard.HTTPClient(o.LocalMode),
		// Interactive: a person is waiting, so fewer retries than a sync run.
		Policy: upstream.Policy{MaxAttempts: 2, AttemptTimeout: o.AttemptTimeout, MaxRetryAfter: 5 * time.Second},
		Logger: o.Logger,
	}}
}

// checker accumulates checks in a fixed order.
type checker struct {
	res    TestResult
	failed bool
	// extra are checks after the four every test has (CheckTagging).
	extra []string
}

// names are the checks this test reports, in order.
func (c *checker) names() []string {
	return append([]string{CheckConnection, CheckAuth, CheckPermissions, CheckVersion}, c.extra...)
}

func (c *checker) ok(name, msg string) {
	c.res.Checks = append(c.res.Checks, Check{Name: name, Status: StatusOK, Message: msg})
}

func (c *checker) warn(name string, err error, msg string) {
	if msg == "" {
		msg = apperr.MessageOf(err)
	}
	c.res.Checks = append(c.res.Checks, Check{Name: name, Status: StatusWarning, Class: string(apperr.KindOf(err)), Message: msg})
}

func (c *checker) fail(name string, err error) {
	c.res.Checks = append(c.res.Checks, Check{Name: name, Status: StatusFailed, Class: string(apperr.KindOf(err)), Message: apperr.MessageOf(err)})
	c.failed = true
}

// skipRest marks the checks not yet reported as skipped.
func (c *checker) skipRest() {
	for _, n := range c.names() {
		if !slices.ContainsFunc(c.res.Checks, func(x Check) bool { return x.Name == n }) {
			c.res.Checks = append(c.res.Checks, Check{Name: n, Status: StatusSkipped, Message: "Not checked: fix the failed check first."})
		}
	}
}

func (c *checker) done() TestResult {
	c.skipRest()
	names := c.names()
	slices.SortStableFunc(c.res.Checks, func(a, b Check) int { return slices.Index(names, a.Name) - slices.Index(names, b.Name) })
	c.res.OK = !slices.ContainsFunc(c.res.Checks, func(x Check) bool { return x.Status == StatusFailed })
	return c.res
}

// reachFailure reports whether err means the base URL did not answer as
// the application (as opposed to refusing the token).
func reachFailure(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.Connection, apperr.Timeout, apperr.Upstream, apperr.RateLimited, apperr.Internal, apperr.NotFound:
		return true
	}
	return false
}

// refused is the result of a client that refused the base URL or the
// token before calling (the client constructors refuse only malformed ones
// and name the field): an auth failure for the token, else a connection
// failure.
func refused(err error) TestResult {
	name := CheckConnection
	if _, bad := apperr.FieldsOf(err)["token"]; bad {
		name = CheckAuth
	}
	return FailedBefore(name, string(apperr.KindOf(err)), apperr.MessageOf(err))
}

// firstCallFailed ends a test whose first call failed: the base URL did not
// answer as the application (connection), or it did and refused the token
// (auth).
func (c *checker) firstCallFailed(app string, err error) TestResult {
	if reachFailure(err) {
		c.fail(CheckConnection, err)
	} else {
		c.ok(CheckConnection, app+" answered.")
		c.fail(CheckAuth, err)
	}
	return c.done()
}

// Test checks a connector: reachability, the token, the permissions
// Timebridge needs and the version. It never returns an error: each
// failure is a failed check whose message names the fix.
func (p *Prober) Test(ctx context.Context, kind tb.ConnectorKind, baseURL, token string) TestResult {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	switch kind {
	case tb.KindZammad:
		return p.testZammad(ctx, baseURL, token)
	case tb.KindKimai:
		return p.testKimai(ctx, baseURL, token)
	}
	return FailedBefore(CheckConnection, string(apperr.Validation), fmt.Sprintf("Unknown connector kind %q.", kind))
}

func (p *Prober) testZammad(ctx context.Context, baseURL, token string) TestResult {
	var c checker
	if len(p.zammadTags) > 0 {
		c.extra = []string{CheckTagging}
	}
	z, err := connect.Zammad(baseURL, token, p.clients)
	if err != nil {
		return refused(err)
	}
	caps, err := z.Probe(ctx)
	if caps.User.ID == 0 && err != nil { // GET /users/me failed
		return c.firstCallFailed("Zammad", err)
	}
	c.ok(CheckConnection, "Zammad answered.")
	c.ok(CheckAuth, fmt.Sprintf("The token belongs to %s.", caps.User.FullName()))
	c.res.User = &TestUser{ID: caps.User.ID, Name: caps.User.FullName(), Email: caps.User.Email}
	switch {
	case err != nil && apperr.Is(err, apperr.Validation): // too old for the global time accounting API
		c.fail(CheckVersion, err)
		return c.done()
	case err != nil && !caps.GlobalEntries && apperr.Is(err, apperr.Permission):
		c.fail(CheckPermissions, err)
		return c.done()
	case err != nil && !caps.ActivityTypes && apperr.Is(err, apperr.NotFound):
		c.fail(CheckVersion, err)
		return c.done()
	case err != nil:
		c.fail(CheckPermissions, err)
		return c.done()
	}
	// The engine reads tickets, organizations, users and groups too.
	groups, err := z.Groups(ctx)
	if err != nil {
		c.fail(CheckPermissions, err)
	} else {
		c.ok(CheckPermissions, fmt.Sprintf("The token may read time accounting, activity types and groups (Timebridge needs the %s permissions).",
			strings.Join(ZammadPermissions, " and ")))
	}
	c.res.Version = "6.1 or newer"
	c.ok(CheckVersion, fmt.Sprintf("Zammad has the global time accounting API and %d activity types (Zammad 6.1 or newer).", caps.TypeCount))
	if len(p.zammadTags) > 0 {
		p.checkZammadTagging(ctx, &c, z, groups)
	}
	return c.done()
}

// checkZammadTagging reports whether the token may write the billed
// status as tags, as Zammad decides it (see shared/zammad/tags.go):
// ticket.agent with change access to each ticket's group, and for a tag
// name Zammad does not have yet, the "New Tags" setting or admin.tag. A
// problem is a warning: syncing works, only the write-back would fail.
func (p *Prober) checkZammadTagging(ctx context.Context, c *checker, z *zammad.Client, groups []zammad.Group) {
	ab, err := z.TagAbilities(ctx)
	if err != nil {
		c.warn(CheckTagging, err, "")
		return
	}
	var problems []string
	if !ab.TicketAgent {
		problems = append(problems, "the token lacks ticket.agent, which tagging a ticket needs: give the user a role with ticket.agent "+
			"and create a token that includes it (Profile › Token Access)")
	} else {
		var without []string
		for _, g := range groups {
			if g.Active && !zammad.CanChange(ab.GroupAccess[g.ID]) {
				without = append(without, strconv.Quote(g.Name))
			}
		}
		switch {
		case len(without) > 0 && len(without) == countActive(groups):
			problems = append(problems, "the user has change access to no group, so it cannot tag any ticket: give it Change (or Full) "+
				"access to the groups of the tickets Timebridge bills (Admin › Users › the user › Groups)")
		case len(without) > 0:
			problems = append(problems, fmt.Sprintf("the user lacks change access to the group(s) %s, so their tickets cannot be tagged: "+
				"give it Change (or Full) access there (Admin › Users › the user › Groups)", strings.Join(without, ", ")))
		}
	}
	if !ab.AdminTag && !(ab.TagNewKnown && ab.TagNew) {
		var missing []string
		for _, tag := range p.zammadTags {
			ok, err := z.TagExists(ctx, tag)
			if err != nil {
				c.warn(CheckTagging, err, "")
				return
			}
			if !ok {
				missing = append(missing, strconv.Quote(strings.TrimSpace(tag)))
			}
		}
		if len(missing) > 0 {
			why := "new tag names cannot be created (the \"New Tags\" setting is off and the token lacks admin.tag)"
			if !ab.TagNewKnown {
				why = "Zammad did not say whether new tag names may be created, and the token lacks admin.tag"
			}
			problems = append(problems, fmt.Sprintf("%s, and Zammad has no tag %s: create it in Zammad (Admin › Tags, exactly so spelt), "+
				"switch \"New Tags\" on (Settings › Ticket), or give the user and its token admin.tag", why, strings.Join(missing, ", ")))
		}
	}
	if len(problems) > 0 {
		perm := apperr.New(apperr.Permission, "zammad: tagging", "")
		c.warn(CheckTagging, perm, "Timebridge cannot write the billed status to Zammad tickets: "+strings.Join(problems, "; ")+".")
		return
	}
	c.ok(CheckTagging, fmt.Sprintf("The token may tag tickets in every group and may use the tag(s) %s.", quoteAll(p.zammadTags)))
}

func countActive(groups []zammad.Group) int {
	n := 0
	for _, g := range groups {
		if g.Active {
			n++
		}
	}
	return n
}

func quoteAll(tags []string) string {
	q := make([]string, len(tags))
	for i, t := range tags {
		q[i] = strconv.Quote(strings.TrimSpace(t))
	}
	return strings.Join(q, ", ")
}

// minKimaiVersionID is Kimai 2.14, the first release with Bearer API tokens.
const minKimaiVersionID = 21400

// kimaiVersionID computes Kimai's VERSION_ID ("2.14.0" → 21400) for
// answers that lack versionId.
func kimaiVersionID(v string) int {
	parts := strings.SplitN(v, ".", 3)
	n := 0
	for i, mul := range []int{10000, 100, 1} {
		if i >= len(parts) {
			break
		}
		d, _ := strconv.Atoi(strings.TrimFunc(parts[i], func(r rune) bool { return r < '0' || r > '9' }))
		n += d * mul
	}
	return n
}

func (p *Prober) testKimai(ctx context.Context, baseURL, token string) TestResult {
	var c checker
	k, err := connect.Kimai(baseURL, token, p.clients)
	if err != nil {
		return refused(err)
	}
	ver, err := k.Version(ctx)
	if err != nil {
		return c.firstCallFailed("Kimai", err)
	}
	c.ok(CheckConnection, "Kimai answered.")
	c.res.Version = ver.Version
	id := ver.VersionID
	if id == 0 {
		id = kimaiVersionID(ver.Version)
	}
	if id < minKimaiVersionID {
		c.fail(CheckVersion, apperr.New(apperr.Validation, "kimai: version",
			fmt.Sprintf("Kimai %s is too old: Timebridge needs Kimai 2.14 or newer (API tokens); update Kimai.", ver.Version)))
	} else {
		c.ok(CheckVersion, fmt.Sprintf("Kimai %s.", ver.Version))
	}
	me, err := k.Me(ctx)
	if err != nil {
		c.fail(CheckAuth, err)
		return c.done()
	}
	c.ok(CheckAuth, fmt.Sprintf("The token belongs to %s.", me.Username))
	c.res.User = &TestUser{ID: me.ID, Name: me.Username, Email: me.Email}

	// Reading the catalog is required; everything else depends on the
	// profile's settings, so it is a warning.
	for _, read := range []func(context.Context) error{
		func(ctx context.Context) error { _, err := k.Customers(ctx); return err },
		func(ctx context.Context) error { _, err := k.Projects(ctx); return err },
		func(ctx context.Context) error { _, err := k.Activities(ctx); return err },
	} {
		if err := read(ctx); err != nil {
			c.fail(CheckPermissions, err)
			return c.done()
		}
	}
	roles := map[string]bool{}
	for _, r := range me.Roles {
		roles[strings.ToUpper(r)] = true
	}
	admin := roles["ROLE_ADMIN"] || roles["ROLE_SUPER_ADMIN"]
	lead := admin || roles["ROLE_TEAMLEAD"]
	_, usersErr := k.Users(ctx)
	var notes []string
	if !lead {
		notes = append(notes, "it may book time only for itself: keep the profile's user mode at \"token\", or give it the team lead role in Kimai to book for each agent")
	}
	if !admin {
		notes = append(notes, "it cannot create customers, projects or activities: turn auto-create off in the profile and map them, or give it the administrator role in Kimai")
	}
	if usersErr != nil {
		notes = append(notes, "it cannot list users (view_user), so user mode \"email\" cannot match agents: map agents explicitly, or give it the administrator role")
	}
	if len(notes) > 0 {
		perm := apperr.New(apperr.Permission, "kimai: permissions", "")
		c.warn(CheckPermissions, perm, fmt.Sprintf("The Kimai user %s works, but %s.", me.Username, strings.Join(notes, "; ")))
	} else {
		c.ok(CheckPermissions, fmt.Sprintf("The Kimai user %s may read the catalog, book for other users and create customers, projects and activities.", me.Username))
	}
	return c.done()
}

// Catalog reads the sections of a connector's catalog concurrently.
func (p *Prober) Catalog(ctx context.Context, kind tb.ConnectorKind, baseURL, token string) (Catalog, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var readers map[string]func(context.Context) ([]CatalogItem, error)
	switch kind {
	case tb.KindZammad:
		z, err := connect.Zammad(baseURL, token, p.clients)
		if err != nil {
			return Catalog{}, err
		}
		readers = map[string]func(context.Context) ([]CatalogItem, error){
			"types": func(ctx context.Context) ([]CatalogItem, error) {
				ts, err := z.Types(ctx)
				return mapItems(ts, func(t zammad.ActivityType) CatalogItem {
					return CatalogItem{ID: t.ID, Name: t.Name, Active: t.Active}
				}), err
			},
			"organizations": func(ctx context.Context) ([]CatalogItem, error) {
				os, err := z.Organizations(ctx)
				return mapItems(os, func(o zammad.Organization) CatalogItem {
					return CatalogItem{ID: o.ID, Name: o.Name, Active: o.Active}
				}), err
			},
			// Zammad's user list does not say who is an agent, so every
			// user is offered (customers included); id 1 is the system user.
			"agents": func(ctx context.Context) ([]CatalogItem, error) {
				us, err := z.Users(ctx)
				us = slices.DeleteFunc(us, func(u zammad.User) bool { return u.ID == 1 })
				return mapItems(us, func(u zammad.User) CatalogItem {
					return CatalogItem{ID: u.ID, Name: u.FullName(), Email: u.Email, Active: u.Active}
				}), err
			},
			"groups": func(ctx context.Context) ([]CatalogItem, error) {
				gs, err := z.Groups(ctx)
				return mapItems(gs, func(g zammad.Group) CatalogItem {
					return CatalogItem{ID: g.ID, Name: g.Name, Active: g.Active}
				}), err
			},
		}
	case tb.KindKimai:
		k, err := connect.Kimai(baseURL, token, p.clients)
		if err != nil {
			return Catalog{}, err
		}
		readers = map[string]func(context.Context) ([]CatalogItem, error){
			"customers": func(ctx context.Context) ([]CatalogItem, error) {
				cs, err := k.Customers(ctx)
				return mapItems(cs, func(c kimai.Customer) CatalogItem {
					return CatalogItem{ID: c.ID, Name: c.Name, Number: c.Number, Active: c.Visible}
				}), err
			},
			"projects": func(ctx context.Context) ([]CatalogItem, error) {
				ps, err := k.Projects(ctx)
				return mapItems(ps, func(p kimai.Project) CatalogItem {
					return CatalogItem{ID: p.ID, Name: p.Name, Number: p.Number, Active: p.Visible, CustomerID: p.CustomerID}
				}), err
			},
			"activities": func(ctx context.Context) ([]CatalogItem, error) {
				as, err := k.Activities(ctx)
				return mapItems(as, func(a kimai.Activity) CatalogItem {
					return CatalogItem{ID: a.ID, Name: a.Name, Number: a.Number, Active: a.Visible, ProjectID: a.ProjectID}
				}), err
			},
			"users": func(ctx context.Context) ([]CatalogItem, error) {
				us, err := k.Users(ctx)
				return mapItems(us, func(u kimai.User) CatalogItem {
					return CatalogItem{ID: u.ID, Name: u.Username, Email: u.Email, Active: u.Enabled}
				}), err
			},
		}
	default:
		return Catalog{}, apperr.New(apperr.Validation, "probe: catalog", fmt.Sprintf("Unknown connector kind %q.", kind))
	}

	type result struct {
		name  string
		items []CatalogItem
		err   error
	}
	results := make(chan result, len(readers))
	var wg sync.WaitGroup
	for name, read := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, err := read(ctx)
			results <- result{name, items, err}
		}()
	}
	wg.Wait()
	close(results)
	cat := Catalog{Sections: map[string][]CatalogItem{}}
	var fatal error
	for res := range results {
		switch {
		case res.err == nil:
			cat.Sections[res.name] = res.items
		case apperr.Is(res.err, apperr.Permission) || apperr.Is(res.err, apperr.NotFound):
			cat.Sections[res.name] = []CatalogItem{}
			cat.Warnings = append(cat.Warnings, CatalogWarning{Section: res.name,
				Class: string(apperr.KindOf(res.err)), Message: apperr.MessageOf(res.err)})
		case fatal == nil:
			fatal = res.err
		}
	}
	if fatal != nil {
		return Catalog{}, fatal
	}
	slices.SortFunc(cat.Warnings, func(a, b CatalogWarning) int { return strings.Compare(a.Section, b.Section) })
	return cat, nil
}

func mapItems[T any](in []T, f func(T) CatalogItem) []CatalogItem {
	out := make([]CatalogItem, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
