package zammad

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/upstream"
)

const (
	adminTok = "s3cr3t-admin-token-value"
	agentTok = "s3cr3t-agent-token-value"
)

var t0 = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// fastPolicy keeps retries quick but real.
var fastPolicy = upstream.Policy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, AttemptTimeout: 5 * time.Second}

type env struct {
	sim    *zammadsim.Server
	url    string
	admin  zammadsim.User
	agent  zammadsim.User
	ticket zammadsim.Ticket
	other  zammadsim.Ticket
	typ    zammadsim.Type
	logs   *bytes.Buffer
}

// newEnv starts a simulator with an organization, a group, two types, an
// admin and an agent with tokens, two tickets and no entries.
func newEnv(t testing.TB, opts ...zammadsim.Option) *env {
	t.Helper()
	var mu sync.Mutex
	now := t0
	sim := zammadsim.New(append([]zammadsim.Option{zammadsim.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })}, opts...)...)
	e := &env{sim: sim, logs: &bytes.Buffer{}}
	org := sim.AddOrganization(zammadsim.Organization{Name: "Chrispresso Inc."})
	g := sim.AddGroup(zammadsim.Group{Name: "Sales"})
	e.typ = sim.AddType(zammadsim.Type{Name: "Support"})
	sim.AddType(zammadsim.Type{Name: "Travel", Inactive: true})
	e.admin = sim.AddUser(zammadsim.User{Login: "sync@example.com", Firstname: "Sync", Lastname: "Bot", Email: "sync@example.com", RoleIDs: []int64{1, 2}})
	e.agent = sim.AddUser(zammadsim.User{Login: "chris@example.com", Firstname: "Christopher", Lastname: "Miller", Email: "chris@example.com", OrganizationID: org.ID, RoleIDs: []int64{2}})
	sim.AddToken(adminTok, e.admin.ID, zammadsim.PermAdminTimeAccounting, zammadsim.PermTicketAgent, zammadsim.PermAdminUser, zammadsim.PermAdminOrganization)
	sim.AddToken(agentTok, e.agent.ID, zammadsim.PermTicketAgent)
	e.ticket = sim.AddTicket(zammadsim.Ticket{Number: "53003", Title: "Order 787556", OrganizationID: org.ID, GroupID: g.ID, CustomerID: e.agent.ID, OwnerID: e.agent.ID, State: "closed"})
	e.other = sim.AddTicket(zammadsim.Ticket{Title: "Other", GroupID: g.ID})
	e.url = sim.Start()
	t.Cleanup(sim.Close)
	return e
}

func (e *env) client(t testing.TB, token string, opts ...Option) *Client {
	t.Helper()
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(e.url, token, append([]Option{WithRetryPolicy(fastPolicy), WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) addEntries(ticketID int64, n int) {
	for i := 0; i < n; i++ {
		e.sim.AddEntry(zammadsim.Entry{TicketID: ticketID, TimeUnit: decimal.FromInt(int64(i%9 + 1)), CreatedByID: e.agent.ID})
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name, url, token string
	}{
		{"empty url", "", "tok"},
		{"no scheme", "zammad.example.com", "tok"},
		{"ftp", "ftp://zammad.example.com", "tok"},
		{"credentials in url", "https://user:pw@zammad.example.com", "tok"},
		{"empty token", "https://zammad.example.com", "  "},
		{"token with space", "https://zammad.example.com", "abc def"},
		{"token with newline", "https://zammad.example.com", "abc\ndef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.url, tt.token)
			if !apperr.Is(err, apperr.Validation) || apperr.MessageOf(err) == "" {
				t.Fatalf("err %v, want a validation error with a message", err)
			}
			if strings.Contains(err.Error(), "def") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestInstance(t *testing.T) {
	sum := sha256.Sum256([]byte("https://zammad.example.com"))
	want := hex.EncodeToString(sum[:])[:8]
	same := []string{
		"https://zammad.example.com",
		"https://zammad.example.com/",
		"https://Zammad.Example.COM",
		"HTTPS://zammad.example.com:443/",
		"https://zammad.example.com/api/v1",
		"https://zammad.example.com/api/v1/",
		" https://zammad.example.com?x=1#frag ",
	}
	for _, u := range same {
		c, err := New(u, "tok")
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if c.Instance() != want {
			t.Errorf("Instance(%q) = %s, want %s", u, c.Instance(), want)
		}
		if id, _ := InstanceID(u); id != want {
			t.Errorf("InstanceID(%q) = %s", u, id)
		}
	}
	different := []string{
		"http://zammad.example.com",
		"https://zammad.example.com:8443",
		"https://zammad.example.com/helpdesk",
		"https://other.example.com",
	}
	seen := map[string]string{want: same[0]}
	for _, u := range different {
		id, err := InstanceID(u)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[id]; dup {
			t.Errorf("%s and %s share instance %s", u, prev, id)
		}
		seen[id] = u
		if len(id) != 8 {
			t.Errorf("instance %q is not 8 hex characters", id)
		}
	}
	c, _ := New("https://Zammad.example.com:443/helpdesk/api/v1/", "tok")
	if c.BaseURL() != "https://zammad.example.com/helpdesk" {
		t.Errorf("BaseURL %s", c.BaseURL())
	}
}

func readSample(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestSamplesDecode(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Run("time_accounting_list", func(t *testing.T) {
		var got []Entry
		readSample(t, "time_accounting_list.json", &got)
		want := []Entry{
			{ID: 6, TicketID: 50, TicketArticleID: 87, TimeUnit: decimal.MustParse("15"), TypeID: 3, CreatedByID: 3, CreatedAt: ts("2023-08-16T08:11:49.315Z"), UpdatedAt: ts("2023-08-16T08:11:49.315Z")},
			{ID: 7, TicketID: 50, TicketArticleID: 88, TimeUnit: decimal.MustParse("30"), TypeID: 2, CreatedByID: 3, CreatedAt: ts("2023-08-16T08:12:02.249Z"), UpdatedAt: ts("2023-08-16T08:12:02.249Z")},
			{ID: 8, TicketID: 50, TicketArticleID: 89, TimeUnit: decimal.MustParse("35"), TypeID: 4, CreatedByID: 3, CreatedAt: ts("2023-08-16T08:12:29.910Z"), UpdatedAt: ts("2023-08-16T08:12:29.910Z")},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("time_accounting_show", func(t *testing.T) {
		var got Entry
		readSample(t, "time_accounting_show.json", &got)
		if got.ID != 7 || got.TimeUnit.String() != "30" || got.CreatedAt.Nanosecond() != 249_000_000 {
			t.Errorf("%+v", got)
		}
	})
	t.Run("ticket_expand_true", func(t *testing.T) {
		var got Ticket
		readSample(t, "ticket_expand_true.json", &got)
		want := Ticket{ID: 3, Number: "53003", Title: "Order 787556", OrganizationID: 3, GroupID: 1, CustomerID: 7, OwnerID: 3, StateID: 4, State: "closed",
			CreatedAt: ts("2025-01-22T10:46:58.255Z"), UpdatedAt: ts("2025-06-24T10:46:58.554Z")}
		if got != want {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
	t.Run("ticket_expand_false", func(t *testing.T) {
		var got Ticket
		readSample(t, "ticket_expand_false.json", &got)
		if got.ID != 3 || got.Number != "53003" || got.StateID != 4 || got.State != "" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("organization_show", func(t *testing.T) {
		var got Organization
		readSample(t, "organization_show.json", &got)
		if got != (Organization{ID: 2, Name: "Chrispresso Inc.", Active: true}) {
			t.Errorf("%+v", got)
		}
	})
	t.Run("users", func(t *testing.T) {
		var show, exp, plain User
		readSample(t, "user_show.json", &show)
		readSample(t, "user_expand_true.json", &exp)
		readSample(t, "user_expand_false.json", &plain)
		if show != (User{ID: 11, Login: "olivia@example.com", Firstname: "Olivia", Lastname: "Ross", Email: "olivia@example.com", Active: true}) {
			t.Errorf("user_show %+v", show)
		}
		if exp != plain || exp.OrganizationID != 2 || exp.FullName() != "Christopher Miller" {
			t.Errorf("expand %+v / plain %+v", exp, plain)
		}
	})
}

func TestFullName(t *testing.T) {
	for _, tt := range []struct {
		u    User
		want string
	}{
		{User{Firstname: "Olivia", Lastname: "Ross", Email: "o@x"}, "Olivia Ross"},
		{User{Firstname: " Olivia ", Email: "o@x"}, "Olivia"},
		{User{Lastname: "Ross"}, "Ross"},
		{User{Email: "o@x", Login: "olivia"}, "o@x"},
		{User{Login: "olivia"}, "olivia"},
	} {
		if got := tt.u.FullName(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.u, got, tt.want)
		}
	}
}

func TestReadMethods(t *testing.T) {
	e := newEnv(t)
	neg := e.sim.AddEntry(zammadsim.Entry{TicketID: e.ticket.ID, TicketArticleID: 88, TimeUnit: decimal.MustParse("120"), TypeID: e.typ.ID, CreatedByID: e.agent.ID})
	e.sim.AddEntry(zammadsim.Entry{TicketID: e.ticket.ID, TimeUnit: decimal.MustParse("-100"), TypeID: e.typ.ID, CreatedByID: e.agent.ID})
	e.sim.AddEntry(zammadsim.Entry{TicketID: e.other.ID, TimeUnit: decimal.MustParse("0.25"), CreatedByID: e.admin.ID})
	c := e.client(t, adminTok)
	ctx := context.Background()

	me, err := c.Me(ctx)
	if err != nil || me.ID != e.admin.ID || me.FullName() != "Sync Bot" {
		t.Errorf("Me = %+v, %v", me, err)
	}
	tk, err := c.Ticket(ctx, e.ticket.ID)
	if err != nil || tk.Number != "53003" || tk.State != "closed" || tk.OrganizationID == 0 || tk.OwnerID != e.agent.ID {
		t.Errorf("Ticket = %+v, %v", tk, err)
	}
	other, err := c.Ticket(ctx, e.other.ID)
	if err != nil || other.OrganizationID != 0 || other.OwnerID != 1 || other.State != "open" {
		t.Errorf("Ticket(other) = %+v, %v", other, err)
	}
	entries, err := c.TicketEntries(ctx, e.ticket.ID)
	if err != nil || len(entries) != 2 {
		t.Fatalf("TicketEntries = %+v, %v", entries, err)
	}
	if entries[0].ID != neg.ID || entries[0].TicketArticleID != 88 || entries[1].TimeUnit.String() != "-100" || entries[1].TicketArticleID != 0 || !entries[0].CreatedAt.Equal(t0) {
		t.Errorf("entries %+v", entries)
	}
	org, err := c.Organization(ctx, tk.OrganizationID)
	if err != nil || org.Name != "Chrispresso Inc." || !org.Active {
		t.Errorf("Organization = %+v, %v", org, err)
	}
	orgs, err := c.Organizations(ctx)
	if err != nil || len(orgs) != 1 {
		t.Errorf("Organizations = %+v, %v", orgs, err)
	}
	u, err := c.User(ctx, e.agent.ID)
	if err != nil || u.Email != "chris@example.com" || u.OrganizationID != org.ID {
		t.Errorf("User = %+v, %v", u, err)
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != 3 || users[0].Login != "-" {
		t.Errorf("Users = %+v, %v", users, err)
	}
	groups, err := c.Groups(ctx)
	if err != nil || len(groups) != 1 || groups[0].Name != "Sales" {
		t.Errorf("Groups = %+v, %v", groups, err)
	}
	types, err := c.Types(ctx)
	if err != nil || len(types) != 2 || types[1].Active || types[1].Name != "Travel" {
		t.Errorf("Types = %+v, %v", types, err)
	}
	caps, err := c.Probe(ctx)
	if err != nil || !caps.GlobalEntries || !caps.ActivityTypes || caps.TypeCount != 2 || caps.User.ID != e.admin.ID || caps.Instance != c.Instance() {
		t.Errorf("Probe = %+v, %v", caps, err)
	}
	var all []Entry
	err = c.ListEntries(ctx, ListEntriesOptions{}, func(p []Entry) (bool, error) { all = append(all, p...); return true, nil })
	if err != nil || len(all) != 3 || all[2].TypeID != 0 || all[2].TimeUnit.String() != "0.25" {
		t.Errorf("ListEntries = %+v, %v", all, err)
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	// 2500 entries: 1200 on one ticket, the rest on the other.
	e.addEntries(e.ticket.ID, 1200)
	e.addEntries(e.other.ID, 1300)
	c := e.client(t, adminTok)
	ctx := context.Background()
	const list = "GET /api/v1/time_accountings"

	collectIDs := func(opts ListEntriesOptions, stopAfter int) ([]int64, int, error) {
		e.sim.ResetCounters()
		var ids []int64
		pages := 0
		err := c.ListEntries(ctx, opts, func(p []Entry) (bool, error) {
			pages++
			for _, x := range p {
				ids = append(ids, x.ID)
			}
			return stopAfter == 0 || pages < stopAfter, nil
		})
		return ids, e.sim.Requests()[list], err
	}
	tests := []struct {
		name     string
		opts     ListEntriesOptions
		stop     int
		rows     int
		requests int
		first    int64
	}{
		{"default pages of 1000", ListEntriesOptions{}, 0, 2500, 3, 1},
		{"over-large page is clamped", ListEntriesOptions{PerPage: 5000}, 0, 2500, 3, 1},
		{"small pages", ListEntriesOptions{PerPage: 400}, 0, 2500, 7, 1},
		{"desc", ListEntriesOptions{SortBy: "id", OrderBy: "DESC"}, 0, 2500, 3, 2500},
		{"stop early", ListEntriesOptions{PerPage: 100}, 2, 200, 2, 1},
		{"by updated_at", ListEntriesOptions{SortBy: "updated_at", OrderBy: "desc", PerPage: 1000}, 0, 2500, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, reqs, err := collectIDs(tt.opts, tt.stop)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != tt.rows || reqs != tt.requests || ids[0] != tt.first {
				t.Errorf("%d rows in %d requests starting at %d; want %d in %d starting at %d", len(ids), reqs, ids[0], tt.rows, tt.requests, tt.first)
			}
			uniq := map[int64]bool{}
			for _, id := range ids {
				uniq[id] = true
			}
			if len(uniq) != len(ids) {
				t.Errorf("%d duplicates", len(ids)-len(uniq))
			}
		})
	}

	t.Run("one page", func(t *testing.T) {
		for _, tc := range []struct {
			page, rows int
			first      int64
		}{{1, 400, 1}, {3, 400, 801}, {7, 100, 2401}, {8, 0, 0}} {
			rows, err := c.EntriesPage(ctx, ListEntriesOptions{PerPage: 400}, tc.page)
			if err != nil || len(rows) != tc.rows || (tc.rows > 0 && rows[0].ID != tc.first) {
				t.Errorf("page %d: %d rows, %v; want %d from %d", tc.page, len(rows), err, tc.rows, tc.first)
			}
		}
		if _, err := c.EntriesPage(ctx, ListEntriesOptions{SortBy: "nope"}, 1); !apperr.Is(err, apperr.Validation) {
			t.Errorf("bad sort column: %v", err)
		}
	})
	t.Run("exact multiple ends on an empty page", func(t *testing.T) {
		ids, reqs, err := collectIDs(ListEntriesOptions{PerPage: 500}, 0)
		if err != nil || len(ids) != 2500 || reqs != 6 {
			t.Errorf("%d rows in %d requests, %v", len(ids), reqs, err)
		}
	})
	t.Run("ticket entries beyond 1000", func(t *testing.T) {
		e.sim.ResetCounters()
		got, err := c.TicketEntries(ctx, e.ticket.ID)
		if err != nil || len(got) != 1200 || got[1199].ID != 1200 {
			t.Fatalf("%d entries, %v", len(got), err)
		}
		if n := e.sim.Requests()["GET /api/v1/tickets/{ticket_id}/time_accountings"]; n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
	t.Run("tickets beyond 100", func(t *testing.T) {
		for i := 0; i < 248; i++ {
			e.sim.AddTicket(zammadsim.Ticket{GroupID: 1, Title: fmt.Sprint("bulk ", i)})
		}
		e.sim.ResetCounters()
		var got []Ticket
		err := c.Tickets(ctx, func(p []Ticket) (bool, error) { got = append(got, p...); return true, nil })
		if err != nil || len(got) != 250 || got[249].ID != 250 || got[100].State != "open" {
			t.Fatalf("%d tickets, %v", len(got), err)
		}
		if n := e.sim.Requests()["GET /api/v1/tickets"]; n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("users and organizations beyond 1000", func(t *testing.T) {
		for i := 0; i < 1100; i++ {
			o := e.sim.AddOrganization(zammadsim.Organization{})
			e.sim.AddUser(zammadsim.User{OrganizationID: o.ID})
		}
		users, err := c.Users(ctx)
		if err != nil || len(users) != 1103 {
			t.Errorf("%d users, %v", len(users), err)
		}
		orgs, err := c.Organizations(ctx)
		if err != nil || len(orgs) != 1101 {
			t.Errorf("%d organizations, %v", len(orgs), err)
		}
	})
	t.Run("invalid sort is refused locally", func(t *testing.T) {
		e.sim.ResetCounters()
		for _, o := range []ListEntriesOptions{{SortBy: "nope"}, {OrderBy: "sideways"}} {
			err := c.ListEntries(ctx, o, func([]Entry) (bool, error) { return true, nil })
			if !apperr.Is(err, apperr.Validation) {
				t.Errorf("%+v: %v", o, err)
			}
		}
		if n := len(e.sim.Requests()); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
	t.Run("callback error stops", func(t *testing.T) {
		boom := apperr.New(apperr.Internal, "test", "boom")
		err := c.ListEntries(ctx, ListEntriesOptions{}, func([]Entry) (bool, error) { return true, boom })
		if err != boom {
			t.Errorf("err %v", err)
		}
	})
}

func TestUpdatedTickets(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 450; i++ {
		e.sim.AddTicket(zammadsim.Ticket{GroupID: 1, CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	c := e.client(t, adminTok)
	e.sim.ResetCounters()
	var got []Ticket
	err := c.UpdatedTickets(context.Background(), t0.Add(100*time.Minute), func(p []Ticket) (bool, error) { got = append(got, p...); return true, nil })
	if err != nil || len(got) != 350 {
		t.Fatalf("%d tickets, %v", len(got), err)
	}
	if !got[0].UpdatedAt.Equal(t0.Add(100*time.Minute)) || got[0].ID != 103 || got[349].ID != 452 {
		t.Errorf("first %+v last %+v", got[0], got[349])
	}
	if n := e.sim.Requests()["POST /api/v1/tickets/search"]; n != 2 {
		t.Errorf("%d search requests, want 2", n)
	}
}

func TestTicketsByID(t *testing.T) {
	e := newEnv(t)
	var ids []int64
	for i := 0; i < 450; i++ {
		ids = append(ids, e.sim.AddTicket(zammadsim.Ticket{GroupID: 1, Title: fmt.Sprint("bulk ", i)}).ID)
	}
	secret := e.sim.AddGroup(zammadsim.Group{Name: "Secret"})
	hidden := e.sim.AddTicket(zammadsim.Ticket{GroupID: secret.ID, Title: "hidden"})
	e.sim.SetUserGroups(e.agent.ID, map[int64][]string{1: {"full"}})
	const search = "POST /api/v1/tickets/search"
	ctx := context.Background()
	// Unordered, with duplicates, a missing id and ids ≤ 0.
	ask := append([]int64{999999, hidden.ID, 0, -3, e.ticket.ID, e.ticket.ID}, ids...)
	slices.Reverse(ask)

	t.Run("admin reads all it asked for", func(t *testing.T) {
		e.sim.ResetCounters()
		got, err := e.client(t, adminTok).TicketsByID(ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 452 {
			t.Fatalf("%d tickets, want 452", len(got))
		}
		seen := map[int64]bool{}
		for _, tk := range got {
			if seen[tk.ID] {
				t.Fatalf("ticket %d twice", tk.ID)
			}
			seen[tk.ID] = true
		}
		want, _ := e.sim.Ticket(e.ticket.ID)
		for _, tk := range got {
			if tk.ID == want.ID && (tk.Number != want.Number || tk.Title != want.Title || tk.OrganizationID != want.OrganizationID ||
				tk.GroupID != want.GroupID || tk.State != "closed" || !tk.UpdatedAt.Equal(want.UpdatedAt)) {
				t.Errorf("ticket %+v, want %+v", tk, want)
			}
		}
		// 453 distinct positive ids: 3 requests of at most 200.
		if n := e.sim.Requests()[search]; n != 3 {
			t.Errorf("%d search requests, want 3", n)
		}
	})
	t.Run("agent: tickets it may not read are left out", func(t *testing.T) {
		got, err := e.client(t, agentTok).TicketsByID(ctx, []int64{hidden.ID, e.ticket.ID})
		if err != nil || len(got) != 1 || got[0].ID != e.ticket.ID {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("no ids, no request", func(t *testing.T) {
		e.sim.ResetCounters()
		got, err := e.client(t, adminTok).TicketsByID(ctx, []int64{0, -1})
		if err != nil || len(got) != 0 || e.sim.Requests()[search] != 0 {
			t.Fatalf("%+v %v %v", got, err, e.sim.Requests())
		}
	})
	t.Run("an ignored condition returns only requested tickets", func(t *testing.T) {
		// A Zammad that drops the condition searches all tickets.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `[{"id":1,"number":"1","group_id":1},{"id":%d,"number":"x","group_id":1},{"id":3,"number":"3","group_id":1}]`, e.ticket.ID)
		}))
		defer srv.Close()
		c, err := New(srv.URL, adminTok, WithRetryPolicy(fastPolicy))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.TicketsByID(ctx, []int64{e.ticket.ID, 3})
		if err != nil || len(got) != 2 || got[0].ID != e.ticket.ID || got[1].ID != 3 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	errs := []struct {
		name   string
		tok    string
		faults zammadsim.Faults
		kind   apperr.Kind
		status int
		msg    string
	}{
		{"no ticket.agent", "", zammadsim.Faults{}, apperr.Permission, 403, "ticket.agent"},
		{"server error", adminTok, zammadsim.Faults{ErrorRate: 1, Method: "POST"}, apperr.Upstream, 500, "server error"},
		{"malformed", adminTok, zammadsim.Faults{MalformedRate: 1, Method: "POST"}, apperr.Upstream, 200, "Zammad"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.tok
			if tok == "" {
				tok = "s3cr3t-powerless"
				e.sim.AddToken(tok, e.agent.ID, "user_preferences.access_token")
			}
			e.sim.SetFaults(tt.faults)
			defer e.sim.SetFaults(zammadsim.Faults{})
			_, err := e.client(t, tok).TicketsByID(ctx, []int64{e.ticket.ID})
			checkErr(t, err, tt.kind, tt.status, tt.msg, "zammad: search 1 tickets by id")
		})
	}
}

// TestDeduplication: rows that move between pages (an edit while paging by
// updated_at, or ties in unspecified order) are handed over once.
func TestDeduplication(t *testing.T) {
	t.Run("edit shifts the pages", func(t *testing.T) {
		e := newEnv(t)
		e.addEntries(e.ticket.ID, 25)
		// Distinct updated_at values, ascending with id.
		for id := int64(1); id <= 25; id++ {
			at := t0.Add(time.Duration(id) * time.Minute)
			e.sim.SetNow(func() time.Time { return at })
			e.sim.UpdateEntry(id, func(*simEntry) {})
		}
		c := e.client(t, adminTok)
		var ids []int64
		page := 0
		err := c.ListEntries(context.Background(), ListEntriesOptions{SortBy: "updated_at", OrderBy: "desc", PerPage: 10}, func(p []Entry) (bool, error) {
			page++
			for _, x := range p {
				ids = append(ids, x.ID)
			}
			if page == 1 {
				// Entry 3 (on page 3) is edited and jumps to the top, so
				// everything shifts down one row: page 2 starts with the
				// last row of page 1 again.
				later := t0.Add(time.Hour)
				e.sim.SetNow(func() time.Time { return later })
				e.sim.UpdateEntry(3, func(*simEntry) {})
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int64]int{}
		for _, id := range ids {
			seen[id]++
			if seen[id] > 1 {
				t.Errorf("entry %d handed over twice", id)
			}
		}
		// Offset paging cannot see entry 3 this pass; the engine's watermark
		// overlap picks it up next time.
		if len(ids) != 24 || seen[3] != 0 {
			t.Errorf("got %d ids: %v", len(ids), ids)
		}
	})
	t.Run("unstable ties", func(t *testing.T) {
		e := newEnv(t, zammadsim.WithUnstableTies(), zammadsim.WithSeed(99))
		e.addEntries(e.ticket.ID, 300) // all with the same updated_at
		c := e.client(t, adminTok)
		seen := map[int64]bool{}
		err := c.ListEntries(context.Background(), ListEntriesOptions{SortBy: "updated_at", PerPage: 50}, func(p []Entry) (bool, error) {
			for _, x := range p {
				if seen[x.ID] {
					t.Errorf("entry %d handed over twice", x.ID)
				}
				seen[x.ID] = true
			}
			return true, nil
		})
		if err != nil || len(seen) == 0 || len(seen) > 300 {
			t.Errorf("%d unique entries, %v", len(seen), err)
		}
	})
	t.Run("server ignoring page is detected", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `[{"id":1,"ticket_id":1,"time_unit":"1.0","created_by_id":1,"created_at":"2025-01-01T00:00:00.000Z","updated_at":"2025-01-01T00:00:00.000Z"}]`)
		}))
		defer srv.Close()
		c, _ := New(srv.URL, "tok", WithRetryPolicy(fastPolicy))
		n := 0
		err := c.ListEntries(context.Background(), ListEntriesOptions{PerPage: 1}, func([]Entry) (bool, error) { n++; return true, nil })
		if !apperr.Is(err, apperr.Upstream) || n != 1 {
			t.Errorf("err %v after %d pages", err, n)
		}
	})
}

// simEntry is the simulator's entry type.
type simEntry = zammadsim.Entry

func TestErrors(t *testing.T) {
	e := newEnv(t)
	e.addEntries(e.ticket.ID, 3)
	oldZammad := newEnv(t, zammadsim.WithoutGlobalTimeAccounting())
	ctx := context.Background()
	admin := e.client(t, adminTok)
	listAll := func(c *Client) error {
		return c.ListEntries(ctx, ListEntriesOptions{}, func([]Entry) (bool, error) { return true, nil })
	}
	probe := func(c *Client) error { _, err := c.Probe(ctx); return err }

	// A closed port on 127.0.0.1.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()
	htmlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body>Not Found</body></html>")
	}))
	defer htmlSrv.Close()

	tests := []struct {
		name    string
		client  *Client
		run     func(*Client) error
		kind    apperr.Kind
		status  int
		message string // substring of the user message
		op      string // substring of Error()
	}{
		{"wrong token", e.client(t, "not-a-valid-token"), listAll, apperr.Auth, 401, "Profile › Token Access", "zammad: list entries"},
		{"wrong token probe", e.client(t, "not-a-valid-token"), probe, apperr.Auth, 401, "invalid or expired", "zammad: current user"},
		{"missing permission", e.client(t, agentTok), listAll, apperr.Permission, 403, "lacks admin.time_accounting", "zammad: list entries"},
		{"missing permission probe", e.client(t, agentTok), probe, apperr.Permission, 403, "lacks admin.time_accounting", "zammad: probe time accounting"},
		{"missing permission types", e.client(t, agentTok), func(c *Client) error { _, err := c.Types(ctx); return err }, apperr.Permission, 403, "admin.time_accounting", "zammad: list activity types"},
		{"old zammad probe", oldZammad.client(t, adminTok), probe, apperr.Validation, 404, "needs ≥ 6.1", "zammad: probe time accounting"},
		{"old zammad list", oldZammad.client(t, adminTok), listAll, apperr.NotFound, 404, "needs ≥ 6.1", "zammad: list entries"},
		{"ticket not found", admin, func(c *Client) error { _, err := c.Ticket(ctx, 999); return err }, apperr.NotFound, 404, "no ticket 999", "zammad: ticket 999"},
		{"ticket entries not found", admin, func(c *Client) error { _, err := c.TicketEntries(ctx, 999); return err }, apperr.NotFound, 404, "no ticket 999", "zammad: ticket 999 entries"},
		{"user not found", admin, func(c *Client) error { _, err := c.User(ctx, 999); return err }, apperr.NotFound, 404, "no user 999", "zammad: user 999"},
		{"organization not found", admin, func(c *Client) error { _, err := c.Organization(ctx, 999); return err }, apperr.NotFound, 404, "no organization 999", "zammad: organization 999"},
		{"unreachable host", mustNew(t, closedURL, adminTok), func(c *Client) error { _, err := c.Me(ctx); return err }, apperr.Connection, 0, "Could not connect", "zammad: current user"},
		{"not zammad", mustNew(t, htmlSrv.URL, adminTok), func(c *Client) error { _, err := c.Me(ctx); return err }, apperr.Upstream, 404, "not its JSON API", "zammad: current user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(tt.client)
			checkErr(t, err, tt.kind, tt.status, tt.message, tt.op)
		})
	}
	if strings.Contains(e.logs.String()+oldZammad.logs.String(), "s3cr3t") {
		t.Error("a token appears in the logs")
	}
}

func mustNew(t *testing.T, url, tok string) *Client {
	t.Helper()
	c, err := New(url, tok, WithRetryPolicy(upstream.Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, AttemptTimeout: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkErr(t *testing.T, err error, kind apperr.Kind, status int, message, op string) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok {
		t.Fatalf("err %v (%T), want *apperr.Error", err, err)
	}
	if ae.Kind != kind || ae.Status != status {
		t.Errorf("kind %s status %d, want %s %d: %v", ae.Kind, ae.Status, kind, status, err)
	}
	if !strings.Contains(ae.Message, message) {
		t.Errorf("message %q lacks %q", ae.Message, message)
	}
	if !strings.Contains(err.Error(), op) {
		t.Errorf("error %q lacks op %q", err, op)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestFaultHandling(t *testing.T) {
	e := newEnv(t)
	e.addEntries(e.ticket.ID, 3)
	ctx := context.Background()
	const me = "GET /api/v1/users/me"

	t.Run("5xx retried for GETs", func(t *testing.T) {
		c := e.client(t, adminTok)
		e.sim.SetFaults(zammadsim.Faults{ErrorRate: 1, Max: 2})
		defer e.sim.SetFaults(zammadsim.Faults{})
		e.sim.ResetCounters()
		if _, err := c.Me(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.sim.Requests()[me]; n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("persistent 5xx gives up", func(t *testing.T) {
		c := e.client(t, adminTok)
		e.sim.SetFaults(zammadsim.Faults{ErrorRate: 1})
		defer e.sim.SetFaults(zammadsim.Faults{})
		e.sim.ResetCounters()
		_, err := c.Me(ctx)
		checkErr(t, err, apperr.Upstream, 500, "server error", "zammad: current user")
		if n := e.sim.Requests()[me]; n != fastPolicy.MaxAttempts {
			t.Errorf("%d requests, want %d", n, fastPolicy.MaxAttempts)
		}
	})
	t.Run("search POST is retried too", func(t *testing.T) {
		c := e.client(t, adminTok)
		e.sim.SetFaults(zammadsim.Faults{ErrorRate: 1, Max: 1, Method: "POST"})
		defer e.sim.SetFaults(zammadsim.Faults{})
		err := c.UpdatedTickets(ctx, t0.Add(-time.Hour), func([]Ticket) (bool, error) { return true, nil })
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("429 honours Retry-After", func(t *testing.T) {
		c := e.client(t, adminTok)
		e.sim.SetFaults(zammadsim.Faults{RateLimitRate: 1, RetryAfter: time.Second, Max: 1})
		defer e.sim.SetFaults(zammadsim.Faults{})
		e.sim.ResetCounters()
		start := time.Now()
		if _, err := c.Me(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < time.Second {
			t.Errorf("retried after %v, before Retry-After", took)
		}
		if n := e.sim.Requests()[me]; n != 2 {
			t.Errorf("%d requests, want 2", n)
		}
	})
	t.Run("429 beyond the deadline fails as rate limited", func(t *testing.T) {
		c := e.client(t, adminTok)
		e.sim.SetFaults(zammadsim.Faults{RateLimitRate: 1, RetryAfter: 30 * time.Second})
		defer e.sim.SetFaults(zammadsim.Faults{})
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Me(ctx)
		checkErr(t, err, apperr.RateLimited, 429, "rate limiting", "zammad: current user")
		if apperr.RetryAfterOf(err) != 30*time.Second || time.Since(start) > time.Second {
			t.Errorf("RetryAfter %v after %v", apperr.RetryAfterOf(err), time.Since(start))
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		c := e.client(t, adminTok)
		// The simulator alternates a truncated JSON body and an HTML page;
		// neither is retried (the same URL would answer the same).
		e.sim.SetFaults(zammadsim.Faults{MalformedRate: 1, Path: "/api/v1/time_accountings"})
		defer e.sim.SetFaults(zammadsim.Faults{})
		for i := 0; i < 2; i++ {
			err := c.ListEntries(ctx, ListEntriesOptions{}, func([]Entry) (bool, error) { return true, nil })
			checkErr(t, err, apperr.Upstream, 200, "not its JSON API", "zammad: list entries")
		}
		if n := e.sim.FaultsInjected(); n != 2 {
			t.Errorf("%d faults injected, want 2", n)
		}
	})
	t.Run("hang times out inside the caller's deadline", func(t *testing.T) {
		c := e.client(t, adminTok, WithTimeout(200*time.Millisecond))
		e.sim.SetFaults(zammadsim.Faults{HangRate: 1})
		defer e.sim.SetFaults(zammadsim.Faults{})
		ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Me(ctx)
		took := time.Since(start)
		if !apperr.Is(err, apperr.Timeout) {
			t.Errorf("err %v, want timeout", err)
		}
		if took > 1600*time.Millisecond {
			t.Errorf("returned after %v, past the caller's deadline", took)
		}
	})
	t.Run("latency within the timeout is fine", func(t *testing.T) {
		c := e.client(t, adminTok, WithTimeout(2*time.Second))
		e.sim.SetFaults(zammadsim.Faults{Latency: 100 * time.Millisecond})
		defer e.sim.SetFaults(zammadsim.Faults{})
		if _, err := c.TicketEntries(ctx, e.ticket.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClassify(t *testing.T) {
	js := func(msg string) []byte {
		b, _ := json.Marshal(map[string]string{"error": msg, "error_human": msg})
		return b
	}
	tests := []struct {
		status int
		header http.Header
		body   []byte
		kind   apperr.Kind
		msg    string
	}{
		{401, nil, js("Can't find User for Token"), apperr.Auth, "Can't find User for Token"},
		{401, nil, js("Not authorized (token expired)!"), apperr.Auth, "invalid or expired"},
		{403, nil, js("Authentication required"), apperr.Auth, "did not receive the token"},
		{403, nil, js("Token authorization failed."), apperr.Permission, "permission"},
		{403, nil, js("User authorization failed."), apperr.Permission, "permission"},
		{403, nil, js("Not authorized (token)!"), apperr.Permission, "permission"},
		{403, nil, js("API token access disabled!"), apperr.Permission, "Token Access"},
		{404, nil, js("Couldn't find Ticket with 'id'=9"), apperr.NotFound, "no such record"},
		{404, nil, []byte("<html>Not Found</html>"), apperr.Upstream, "not its JSON API"},
		{404, nil, nil, apperr.Upstream, "not its JSON API"},
		{422, nil, js("Time unit can't be blank"), apperr.Validation, "Time unit can't be blank"},
		{422, nil, []byte(`{"error":"PG::NumericValueOutOfRange"}`), apperr.Validation, "NumericValueOutOfRange"},
		{429, http.Header{"Retry-After": {"7"}}, []byte("Retry later\n"), apperr.RateLimited, "rate limiting"},
		{500, nil, js("Error ID x: Please contact your administrator."), apperr.Upstream, "server error"},
		{502, nil, []byte("<html>Bad Gateway</html>"), apperr.Upstream, "server error"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.body), func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := classify("zammad: x", tt.status, h, tt.body)
			if e == nil || e.Kind != tt.kind || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("classify = %+v, want %s containing %q", e, tt.kind, tt.msg)
			}
			if tt.status == 429 && e.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
		})
	}
	if e := classify("zammad: x", 302, http.Header{}, nil); e != nil {
		t.Errorf("redirect classified as %+v, want upstream's generic handling", e)
	}
}

func TestBadRecordIsAnError(t *testing.T) {
	e := newEnv(t)
	e.sim.AddEntry(zammadsim.Entry{TicketID: e.ticket.ID, TimeUnit: decimal.MustParse("12345")}) // beyond decimal(6,2)
	c := e.client(t, adminTok)
	_, err := c.TicketEntries(context.Background(), e.ticket.ID)
	checkErr(t, err, apperr.Upstream, 200, "cannot read", "zammad: ticket 1 entries")
	if !strings.Contains(apperr.MessageOf(err), "entry 1") {
		t.Errorf("message does not name the entry: %s", apperr.MessageOf(err))
	}
}

func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	e.addEntries(e.ticket.ID, 50)
	c := e.client(t, adminTok)
	e.sim.SetFaults(zammadsim.Faults{ErrorRate: 0.2})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.TicketEntries(context.Background(), e.ticket.ID); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// With four attempts at a 20% failure rate nearly all succeed; a
		// failure must still be a classified upstream error.
		if !apperr.Is(err, apperr.Upstream) {
			t.Errorf("unexpected error %v", err)
		}
	}
}

// BenchmarkListEntries reads the demo dataset's 10,000 entries on 500
// tickets, a full reconciliation pass.
func BenchmarkListEntries(b *testing.B) {
	sim := zammadsim.New()
	sim.SeedDemo(zammadsim.DemoConfig{Tickets: 500, Entries: 10_000, AdminToken: adminTok})
	url := sim.Start()
	defer sim.Close()
	c, err := New(url, adminTok)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		n := 0
		err := c.ListEntries(ctx, ListEntriesOptions{}, func(p []Entry) (bool, error) { n += len(p); return true, nil })
		if err != nil || n != 10_000 {
			b.Fatalf("%d entries, %v", n, err)
		}
	}
}
