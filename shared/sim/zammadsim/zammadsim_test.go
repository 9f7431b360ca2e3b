package zammadsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

const (
	adminTok = "admin-token"
	agentTok = "agent-token"
	noneTok  = "powerless-token"
)

var t0 = time.Date(2025, 3, 1, 9, 30, 0, 123_456_789, time.UTC)

// fixture is a small Zammad: one org, a group, two types, an admin, an
// agent, two tickets and three entries (one negative, one untyped).
type fixture struct {
	s                *Server
	url              string
	admin, agent     User
	typeA, typeB     Type
	ticket1, ticket2 Ticket
	e1, e2, e3       Entry
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	now := t0
	var mu sync.Mutex
	s := New(append([]Option{WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })}, opts...)...)
	f := &fixture{s: s}
	org := s.AddOrganization(Organization{Name: "Chrispresso Inc."})
	g := s.AddGroup(Group{Name: "Sales"})
	f.typeA = s.AddType(Type{Name: "Support"})
	f.typeB = s.AddType(Type{Name: "Travel", Note: "on site"})
	f.admin = s.AddUser(User{Login: "admin@example.com", Firstname: "Ada", Lastname: "Admin", RoleIDs: []int64{1, 2}})
	f.agent = s.AddUser(User{Login: "agent@example.com", Firstname: "Al", Lastname: "Agent", OrganizationID: org.ID, RoleIDs: []int64{2}})
	s.AddToken(adminTok, f.admin.ID, PermAdminTimeAccounting, PermTicketAgent, PermAdminUser, PermAdminOrganization)
	s.AddToken(agentTok, f.agent.ID, PermTicketAgent)
	s.AddToken(noneTok, f.agent.ID, "user_preferences.access_token")
	f.ticket1 = s.AddTicket(Ticket{Title: "Order 787556", OrganizationID: org.ID, GroupID: g.ID, CustomerID: f.agent.ID, OwnerID: f.agent.ID})
	f.ticket2 = s.AddTicket(Ticket{Title: "No org", GroupID: g.ID, CustomerID: f.agent.ID})
	f.e1 = s.AddEntry(Entry{TicketID: f.ticket1.ID, TicketArticleID: 88, TimeUnit: decimal.MustParse("15"), TypeID: f.typeA.ID, CreatedByID: f.agent.ID})
	f.e2 = s.AddEntry(Entry{TicketID: f.ticket1.ID, TimeUnit: decimal.MustParse("-100"), TypeID: f.typeB.ID, CreatedByID: f.agent.ID})
	f.e3 = s.AddEntry(Entry{TicketID: f.ticket2.ID, TimeUnit: decimal.MustParse("0.25"), CreatedByID: f.admin.ID})
	f.url = s.Start()
	t.Cleanup(s.Close)
	return f
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// call sends a request; auth is a full Authorization header value, or a
// bare token that is sent as "Token token=…".
func call(t *testing.T, method, url, auth, body string, header ...string) resp {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rdr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		if !strings.Contains(auth, " ") {
			auth = "Token token=" + auth
		}
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

func TestAuthErrors(t *testing.T) {
	f := newFixture(t)
	f.s.AddToken("expired", f.admin.ID, PermAdminTimeAccounting)
	f.s.ExpireToken("expired")
	inactive := f.s.AddUser(User{Login: "gone@example.com", Inactive: true})
	f.s.AddToken("inactive", inactive.ID, PermAdminTimeAccounting)
	list := f.url + "/api/v1/time_accountings"
	tests := []struct {
		name     string
		url      string
		auth     string
		header   []string
		status   int
		body     string // exact JSON body, or a substring for HTML
		html     bool
		xFailure string
	}{
		{"no credentials", list, "", nil, 403,
			`{"error":"Authentication required","error_human":"Authentication required"}`, false, "Authentication required"},
		{"unknown token", list, "nope", nil, 401,
			`{"error":"Can't find User for Token","error_human":"Can't find User for Token"}`, false, "Can't find User for Token"},
		{"unknown bearer", list, "Bearer nope", nil, 401,
			`{"error":"The provided token is invalid.","error_human":"The provided token is invalid."}`, false, "The provided token is invalid."},
		{"expired token", list, "expired", nil, 401,
			`{"error":"Not authorized (token expired)!","error_human":"Not authorized (token expired)!"}`, false, "Not authorized (token expired)!"},
		{"inactive user", list, "inactive", nil, 401, "", false, "Login failed. Have you double-checked your credentials and completed the email verification step?"},
		{"basic auth", list, "Basic dTpw", nil, 401, "", false, "Invalid BasicAuth credentials"},
		{"agent on global list", list, agentTok, nil, 403,
			`{"error":"Token authorization failed.","error_human":"Token authorization failed."}`, false, "Token authorization failed."},
		{"token without permission", f.url + "/api/v1/tickets/1", noneTok, nil, 403, "", false, "Token authorization failed."},
		{"types need admin", f.url + "/api/v1/time_accounting/types", agentTok, nil, 403, "", false, "Token authorization failed."},
		{"html without Accept", list, "", []string{"Accept", ""}, 403, "Authentication required", true, "Authentication required"},
		{"html for browsers", list, "nope", []string{"Accept", "text/html,application/xhtml+xml"}, 401, "401: Unauthorized", true, "Can't find User for Token"},
		{"bearer personal token works", list, "Bearer " + adminTok, nil, 200, "", false, ""},
		{"quoted token works", list, `Token token="` + adminTok + `"`, nil, 200, "", false, ""},
		{"me needs no permission", f.url + "/api/v1/users/me", noneTok, nil, 200, "", false, ""},
		{"agent may read ticket entries", f.url + "/api/v1/tickets/1/time_accountings", agentTok, nil, 200, "", false, ""},
		{"agent may filter by ticket", list + "?ticket_id=1", agentTok, nil, 200, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "GET", tt.url, tt.auth, "", tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if got := r.header.Get("X-Failure"); got != tt.xFailure {
				t.Errorf("X-Failure %q, want %q", got, tt.xFailure)
			}
			ct := r.header.Get("Content-Type")
			switch {
			case tt.html:
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(r.body, tt.body) {
					t.Errorf("want HTML containing %q, got %s %q", tt.body, ct, r.body)
				}
			case !strings.HasPrefix(ct, "application/json"):
				t.Errorf("Content-Type %q, want JSON", ct)
			case tt.body != "" && r.body != tt.body:
				t.Errorf("body %s, want %s", r.body, tt.body)
			}
		})
	}
}

func TestEntryWireFormat(t *testing.T) {
	f := newFixture(t)
	r := call(t, "GET", f.url+"/api/v1/time_accountings", adminTok, "")
	want := `[{"id":1,"ticket_id":1,"ticket_article_id":88,"time_unit":"15.0","type_id":1,"created_by_id":3,"created_at":"2025-03-01T09:30:00.123Z","updated_at":"2025-03-01T09:30:00.123Z"},` +
		`{"id":2,"ticket_id":1,"ticket_article_id":null,"time_unit":"-100.0","type_id":2,"created_by_id":3,"created_at":"2025-03-01T09:30:00.123Z","updated_at":"2025-03-01T09:30:00.123Z"},` +
		`{"id":3,"ticket_id":2,"ticket_article_id":null,"time_unit":"0.25","type_id":null,"created_by_id":2,"created_at":"2025-03-01T09:30:00.123Z","updated_at":"2025-03-01T09:30:00.123Z"}]`
	if r.status != 200 || r.body != want {
		t.Fatalf("got %d %s\nwant %s", r.status, r.body, want)
	}
	r = call(t, "GET", f.url+"/api/v1/time_accountings?expand=true&sort_by=id&order_by=desc", adminTok, "")
	var exp []map[string]any
	r.json(t, &exp)
	if exp[0]["type"] != nil || exp[0]["created_by"] != "admin@example.com" || exp[2]["type"] != "Support" {
		t.Errorf("expand: %s", r.body)
	}
	r = call(t, "GET", f.url+"/api/v1/time_accountings/2", adminTok, "")
	if !strings.Contains(r.body, `"time_unit":"-100.0"`) {
		t.Errorf("show: %s", r.body)
	}
	r = call(t, "GET", f.url+"/api/v1/tickets/1?expand=true", adminTok, "")
	var tk map[string]any
	r.json(t, &tk)
	for k, v := range map[string]any{"number": "31001", "time_unit": "-85.0", "state": "open", "organization": "Chrispresso Inc.", "group": "Sales", "owner": "agent@example.com"} {
		if tk[k] != v {
			t.Errorf("ticket %s = %v, want %v", k, tk[k], v)
		}
	}
	r = call(t, "GET", f.url+"/api/v1/tickets/2", adminTok, "")
	tk = nil
	r.json(t, &tk)
	if tk["organization_id"] != nil || tk["time_unit"] != "0.25" {
		t.Errorf("ticket 2: %s", r.body)
	}
	if _, ok := tk["group"]; ok {
		t.Error("names appear without expand")
	}
}

func seedEntries(s *Server, ticketID, userID int64, n int) {
	for i := 0; i < n; i++ {
		s.AddEntry(Entry{TicketID: ticketID, TimeUnit: decimal.FromInt(int64(i%7 + 1)), CreatedByID: userID})
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t)
	seedEntries(f.s, f.ticket2.ID, f.agent.ID, 2497) // 2500 entries in all
	base := f.url + "/api/v1/time_accountings"
	tests := []struct {
		query   string
		status  int
		rows    int
		firstID int64
	}{
		{"", 200, 500, 1},
		{"?per_page=5000", 200, 1000, 1},
		{"?limit=5000&page=3", 200, 500, 2001},
		{"?per_page=1000&page=3", 200, 500, 2001},
		{"?per_page=7&page=2", 200, 7, 8},
		{"?per_page=1000&page=4", 200, 0, 0},
		{"?per_page=10&page=9999", 200, 0, 0},
		{"?per_page=0", 200, 0, 0},
		{"?per_page=abc", 200, 0, 0},
		{"?per_page=12abc", 200, 12, 1},
		{"?page=0", 422, 0, 0},
		{"?per_page=-1", 422, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, "GET", base+tt.query, adminTok, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if r.status != 200 {
				return
			}
			var rows []struct{ ID int64 }
			r.json(t, &rows)
			if len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
			if tt.rows == 0 && r.body != "[]" {
				t.Errorf("empty page body %q, want []", r.body)
			}
			if tt.rows > 0 && rows[0].ID != tt.firstID {
				t.Errorf("first id %d, want %d", rows[0].ID, tt.firstID)
			}
		})
	}

	t.Run("tickets capped at 100", func(t *testing.T) {
		for i := 0; i < 248; i++ {
			f.s.AddTicket(Ticket{GroupID: 1, Title: fmt.Sprint("T", i)})
		}
		var rows []struct{ ID int64 }
		call(t, "GET", f.url+"/api/v1/tickets?per_page=500&sort_by=title&order_by=desc", adminTok, "").json(t, &rows)
		if len(rows) != 100 || rows[0].ID != 1 || rows[99].ID != 100 {
			t.Fatalf("got %d rows starting %v", len(rows), rows[0])
		}
		call(t, "GET", f.url+"/api/v1/tickets?per_page=100&page=3", adminTok, "").json(t, &rows)
		if len(rows) != 50 || rows[49].ID != 250 {
			t.Fatalf("page 3: %d rows", len(rows))
		}
	})
	t.Run("users default 100 max 1000", func(t *testing.T) {
		for i := 0; i < 1200; i++ {
			f.s.AddUser(User{Login: fmt.Sprintf("c%d@example.com", i)})
		}
		var rows []struct{ ID int64 }
		call(t, "GET", f.url+"/api/v1/users", adminTok, "").json(t, &rows)
		if len(rows) != 100 {
			t.Errorf("default: %d", len(rows))
		}
		call(t, "GET", f.url+"/api/v1/users?per_page=5000", adminTok, "").json(t, &rows)
		if len(rows) != 1000 {
			t.Errorf("capped: %d", len(rows))
		}
	})
}

func TestSortAndOrder(t *testing.T) {
	f := newFixture(t)
	later := t0.Add(time.Hour)
	f.s.SetNow(func() time.Time { return later })
	f.s.UpdateEntry(f.e1.ID, func(e *Entry) { e.TypeID = f.typeB.ID })
	base := f.url + "/api/v1/time_accountings"
	tests := []struct {
		query  string
		status int
		ids    []int64
		errMsg string
	}{
		{"?sort_by=updated_at&order_by=desc", 200, []int64{1, 2, 3}, ""},
		{"?sort_by=updated_at", 200, []int64{2, 3, 1}, ""},
		{"?order_by=desc", 200, []int64{3, 2, 1}, ""},
		{"?order_by=DESC", 200, []int64{3, 2, 1}, ""},
		{"?sort_by=time_unit", 200, []int64{2, 3, 1}, ""},
		{"?sort_by=time_unit&order_by=desc", 200, []int64{1, 3, 2}, ""},
		{"?sort_by=type_id", 200, []int64{1, 2, 3}, ""},               // nulls last
		{"?sort_by=type_id&order_by=desc", 200, []int64{3, 1, 2}, ""}, // nulls first
		{"?sort_by=ticket_id,id&order_by=desc,desc", 200, []int64{3, 2, 1}, ""},
		{"?sort_by=ticket_id,time_unit&order_by=asc", 200, []int64{1, 2, 3}, ""}, // second column dropped: no order
		{"?sort_by=ticket_article_id&order_by=asc", 200, []int64{1, 2, 3}, ""},
		{"?sort_by=nope", 500, nil, "Found invalid column 'nope' for sorting."},
		{"?sort_by=id%3Bdrop", 500, nil, "Found invalid column 'id;drop' for sorting."},
		{"?order_by=sideways", 500, nil, "Found invalid order by value sideways. Please use 'asc' or 'desc'."},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := call(t, "GET", base+tt.query, adminTok, "")
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 200 {
				var e map[string]string
				r.json(t, &e)
				if e["error"] != tt.errMsg {
					t.Errorf("error %q, want %q", e["error"], tt.errMsg)
				}
				return
			}
			var rows []struct{ ID int64 }
			r.json(t, &rows)
			var ids []int64
			for _, x := range rows {
				ids = append(ids, x.ID)
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("ids %v, want %v", ids, tt.ids)
			}
		})
	}
	t.Run("non-admins get an opaque 500", func(t *testing.T) {
		r := call(t, "GET", f.url+"/api/v1/tickets/1/time_accountings?sort_by=nope", agentTok, "")
		if r.status != 500 || !strings.Contains(r.body, "Please contact your administrator") || strings.Contains(r.body, "nope") {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

func TestUnstableTies(t *testing.T) {
	s := New(WithClock(func() time.Time { return t0 }), WithUnstableTies(), WithSeed(7))
	defer s.Close()
	s.AddGroup(Group{})
	tk := s.AddTicket(Ticket{GroupID: 1})
	seedEntries(s, tk.ID, 1, 50)
	s.AddToken(adminTok, 1, PermAdminTimeAccounting)
	url := s.Start() + "/api/v1/time_accountings?sort_by=updated_at&order_by=desc&per_page=50"
	first := call(t, "GET", url, adminTok, "").body
	differs := false
	for i := 0; i < 5 && !differs; i++ {
		differs = call(t, "GET", url, adminTok, "").body != first
	}
	if !differs {
		t.Error("equal updated_at values came back in the same order every time")
	}
}

func TestTicketScopedEntries(t *testing.T) {
	f := newFixture(t)
	u := f.url + "/api/v1/tickets/"
	tests := []struct {
		name, method, path, tok, body string
		status                        int
		contains                      string
	}{
		{"list own", "GET", "1/time_accountings", agentTok, "", 200, `"id":2`},
		{"list missing ticket", "GET", "99/time_accountings", adminTok, "", 404, `Couldn't find Ticket with 'id'=99`},
		{"show own", "GET", "1/time_accountings/1", agentTok, "", 200, `"time_unit":"15.0"`},
		{"show other ticket's", "GET", "2/time_accountings/1", adminTok, "", 404, `Couldn't find Ticket::TimeAccounting with 'id'=1`},
		{"show non-numeric", "GET", "1/time_accountings/abc", adminTok, "", 404, `'id'=abc`},
		{"create as agent", "POST", "2/time_accountings", agentTok, `{"time_unit":"60.0","type_id":1}`, 201, `"ticket_article_id":null,"time_unit":"60.0","type_id":1,"created_by_id":3`},
		{"create numeric unit", "POST", "2/time_accountings", adminTok, `{"time_unit":12.345}`, 201, `"time_unit":"12.35"`},
		{"create negative", "POST", "2/time_accountings", adminTok, `{"time_unit":"-20"}`, 201, `"time_unit":"-20.0"`},
		{"create blank", "POST", "2/time_accountings", adminTok, `{"type_id":1}`, 422, `Time unit can't be blank`},
		{"create garbage", "POST", "2/time_accountings", adminTok, `{"time_unit":"lots"}`, 422, `not a number`},
		{"create out of range", "POST", "2/time_accountings", adminTok, `{"time_unit":"10000"}`, 422, `numeric field overflow`},
		{"create unknown type", "POST", "2/time_accountings", adminTok, `{"time_unit":"1","type_id":99}`, 422, `foreign key`},
		{"create duplicate article", "POST", "2/time_accountings", adminTok, `{"time_unit":"1","ticket_article_id":88}`, 422, `already exists`},
		{"create bad json", "POST", "2/time_accountings", adminTok, `{"time_unit":`, 400, `parsing`},
		{"update as agent", "PUT", "1/time_accountings/1", agentTok, `{"time_unit":"1"}`, 403, `Token authorization failed.`},
		{"update other ticket's", "PUT", "2/time_accountings/1", adminTok, `{"time_unit":"1"}`, 404, `Couldn't find`},
		{"update", "PUT", "1/time_accountings/1", adminTok, `{"time_unit":"22","type_id":null}`, 200, `"time_unit":"22.0","type_id":null`},
		{"delete as agent", "DELETE", "1/time_accountings/1", agentTok, "", 403, `Token authorization failed.`},
		{"delete other ticket's", "DELETE", "2/time_accountings/1", adminTok, "", 404, `Couldn't find`},
		{"delete", "DELETE", "1/time_accountings/1", adminTok, "", 200, `{}`},
		{"deleted is gone", "GET", "1/time_accountings/1", adminTok, "", 404, `Couldn't find`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, u+tt.path, tt.tok, tt.body)
			if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
				t.Errorf("%d %s, want %d containing %s", r.status, r.body, tt.status, tt.contains)
			}
		})
	}
	t.Run("global create needs a ticket", func(t *testing.T) {
		r := call(t, "POST", f.url+"/api/v1/time_accountings", adminTok, `{"time_unit":"5"}`)
		if r.status != 422 {
			t.Errorf("%d %s", r.status, r.body)
		}
		r = call(t, "POST", f.url+"/api/v1/time_accountings", adminTok, `{"time_unit":"5","ticket_id":1}`)
		if r.status != 201 || !strings.Contains(r.body, `"ticket_id":1`) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

func TestTicketUpdatedAtFollowsTotal(t *testing.T) {
	f := newFixture(t)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	ticketAt := func() time.Time { tk, _ := f.s.Ticket(f.ticket1.ID); return tk.UpdatedAt }
	steps := []struct {
		name  string
		do    func()
		moved bool
	}{
		{"type only", func() { f.s.UpdateEntry(f.e1.ID, func(e *Entry) { e.TypeID = f.typeB.ID }) }, false},
		{"same unit", func() { f.s.UpdateEntry(f.e1.ID, func(e *Entry) { e.TimeUnit = decimal.MustParse("15.00") }) }, false},
		{"unit changed", func() { f.s.UpdateEntry(f.e1.ID, func(e *Entry) { e.TimeUnit = decimal.MustParse("16") }) }, true},
		{"zero entry added", func() { f.s.AddEntry(Entry{TicketID: f.ticket1.ID, TimeUnit: decimal.Dec{}, CreatedAt: at(4)}) }, false},
		{"deleted", func() { f.s.DeleteEntry(f.e2.ID) }, true},
		{"api type only", func() {
			call(t, "PUT", f.url+"/api/v1/time_accountings/1", adminTok, `{"type_id":1}`)
		}, false},
		{"api unit", func() {
			call(t, "PUT", f.url+"/api/v1/time_accountings/1", adminTok, `{"time_unit":"17.0"}`)
		}, true},
	}
	for i, st := range steps {
		now := at(i + 1)
		f.s.SetNow(func() time.Time { return now })
		before := ticketAt()
		st.do()
		moved := !ticketAt().Equal(before)
		if moved != st.moved {
			t.Errorf("%s: ticket updated_at moved=%v, want %v", st.name, moved, st.moved)
		}
	}
	e, _ := f.s.Entry(f.e1.ID)
	if !e.UpdatedAt.Equal(ms(at(7))) {
		t.Errorf("entry updated_at %v, want %v", e.UpdatedAt, at(7))
	}
}

func TestDeleteAndMerge(t *testing.T) {
	f := newFixture(t)
	if !f.s.DeleteTicket(f.ticket1.ID) {
		t.Fatal("delete failed")
	}
	if got := len(f.s.Entries()); got != 1 {
		t.Errorf("%d entries after cascade, want 1", got)
	}
	r := call(t, "GET", f.url+"/api/v1/time_accountings/1", adminTok, "")
	if r.status != 404 {
		t.Errorf("deleted entry: %d", r.status)
	}
	r = call(t, "GET", f.url+"/api/v1/tickets/1/time_accountings", adminTok, "")
	if r.status != 404 {
		t.Errorf("deleted ticket: %d", r.status)
	}
	if f.s.DeleteEntry(1) || f.s.DeleteTicket(1) {
		t.Error("second delete reported success")
	}

	dst := f.s.AddTicket(Ticket{GroupID: 1})
	if err := f.s.MergeTicket(f.ticket2.ID, dst.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.s.MergeTicket(f.ticket2.ID, f.ticket2.ID); err == nil {
		t.Error("self merge allowed")
	}
	var rows []struct {
		TicketID int64 `json:"ticket_id"`
	}
	call(t, "GET", f.url+"/api/v1/tickets/2/time_accountings", adminTok, "").json(t, &rows)
	if len(rows) != 1 || rows[0].TicketID != f.ticket2.ID {
		t.Errorf("entries moved on merge: %+v", rows)
	}
	var tk map[string]any
	call(t, "GET", f.url+"/api/v1/tickets/2?expand=true", adminTok, "").json(t, &tk)
	if tk["state"] != "merged" || tk["state_id"] != 5.0 {
		t.Errorf("merged ticket: state %v/%v", tk["state"], tk["state_id"])
	}
}

func TestTicketSearch(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 300; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		f.s.AddTicket(Ticket{GroupID: 1, Title: fmt.Sprint("bulk ", i), CreatedAt: ts})
	}
	body := func(after string, extra string) string {
		return `{"condition":{"ticket.updated_at":{"operator":"after (absolute)","value":"` + after + `"}}` + extra + `}`
	}
	tests := []struct {
		name  string
		url   string
		body  string
		rows  int
		first int64
	}{
		{"default 50, newest first", "/api/v1/tickets/search?expand=true", body("2025-03-01T11:00:00Z", ""), 50, 302},
		{"capped at 200", "/api/v1/tickets/search", body("2025-03-01T11:00:00Z", `,"per_page":500,"expand":true,"sort_by":"updated_at","order_by":"asc"`), 200, 93},
		{"inclusive bound", "/api/v1/tickets/search", body("2025-03-01T14:29:00.123Z", `,"expand":true`), 1, 302},
		{"page 2", "/api/v1/tickets/search", body("2025-03-01T09:00:00Z", `,"expand":true,"per_page":200,"page":2,"sort_by":"id","order_by":"asc"`), 102, 201},
		{"expert form", "/api/v1/tickets/search", `{"expand":true,"condition":{"operator":"AND","conditions":[{"name":"ticket.id","operator":"is","value":["1","2"]}]}}`, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", f.url+tt.url, adminTok, tt.body)
			var rows []struct{ ID int64 }
			r.json(t, &rows)
			if len(rows) != tt.rows || rows[0].ID != tt.first {
				t.Errorf("%d rows first %v, want %d first %d", len(rows), rows[0].ID, tt.rows, tt.first)
			}
		})
	}
	t.Run("bundle without expand", func(t *testing.T) {
		var b struct {
			Tickets      []int64
			TicketsCount int `json:"tickets_count"`
			Assets       struct{ Ticket map[string]map[string]any }
		}
		call(t, "POST", f.url+"/api/v1/tickets/search", adminTok, body("2025-03-01T14:00:00Z", `,"per_page":3`)).json(t, &b)
		if len(b.Tickets) != 3 || b.TicketsCount != 3 || len(b.Assets.Ticket) != 3 || b.Tickets[0] != 302 {
			t.Errorf("%+v", b)
		}
	})
	t.Run("unsupported condition", func(t *testing.T) {
		r := call(t, "POST", f.url+"/api/v1/tickets/search", adminTok, `{"condition":{"ticket.title":{"operator":"contains","value":"x"}}}`)
		if r.status != 422 {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
}

// TestTicketSearchByID: the id condition Timebridge reads tickets in bulk
// with, the read scope that limits every search, and Selector::Sql's ways
// of refusing a condition.
func TestTicketSearchByID(t *testing.T) {
	f := newFixture(t)
	other := f.s.AddGroup(Group{Name: "Secret"})
	hidden := f.s.AddTicket(Ticket{Title: "Hidden", GroupID: other.ID})
	f.s.SetUserGroups(f.agent.ID, map[int64][]string{1: {"read"}})
	byID := func(ids string) string {
		return `{"condition":{"ticket.id":{"operator":"is","value":` + ids + `}},"sort_by":"id","order_by":"asc","per_page":200,"page":1,"expand":true}`
	}
	ids := func(t *testing.T, r resp) []int64 {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var rows []struct {
			ID     int64
			Number string
			Title  string
			Group  string
		}
		r.json(t, &rows)
		out := []int64{}
		for _, x := range rows {
			if x.Number == "" || x.Group == "" {
				t.Errorf("ticket %d not expanded: %+v", x.ID, x)
			}
			out = append(out, x.ID)
		}
		return out
	}
	tests := []struct {
		name, tok, body string
		want            []int64
		status          int
	}{
		{"admin: strings", adminTok, byID(fmt.Sprintf(`["%d","%d","%d","999"]`, hidden.ID, f.ticket2.ID, f.ticket1.ID)), []int64{f.ticket1.ID, f.ticket2.ID, hidden.ID}, 200},
		{"admin: numbers", adminTok, byID(fmt.Sprintf(`[%d]`, f.ticket2.ID)), []int64{f.ticket2.ID}, 200},
		{"agent: read scope", agentTok, byID(fmt.Sprintf(`["%d","%d"]`, f.ticket1.ID, hidden.ID)), []int64{f.ticket1.ID}, 200},
		{"empty list drops the condition", agentTok, byID(`[]`), []int64{f.ticket1.ID, f.ticket2.ID}, 200},
		{"no value drops the condition", adminTok, `{"condition":{"ticket.id":{"operator":"is"}},"sort_by":"id","order_by":"asc","expand":true}`, []int64{f.ticket1.ID, f.ticket2.ID, hidden.ID}, 200},
		{"invalid operator", adminTok, `{"condition":{"ticket.id":{"operator":"equals","value":["1"]}},"expand":true}`, nil, 500},
		{"invalid sort column", adminTok, `{"condition":{"ticket.id":{"operator":"is","value":["1"]}},"sort_by":"nope","expand":true}`, nil, 500},
		{"no ticket.agent", noneTok, byID(`["1"]`), nil, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", f.url+"/api/v1/tickets/search", tt.tok, tt.body)
			if tt.status != 200 {
				if r.status != tt.status {
					t.Errorf("%d %s, want %d", r.status, r.body, tt.status)
				}
				return
			}
			if got := ids(t, r); !slices.Equal(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("edits move updated_at and show", func(t *testing.T) {
		before, _ := f.s.Ticket(f.ticket1.ID)
		f.s.SetNow(func() time.Time { return t0.Add(time.Hour) })
		after, ok := f.s.UpdateTicket(f.ticket1.ID, func(t *Ticket) { t.Title, t.OrganizationID, t.ID = "Renamed", 0, 99 })
		if !ok || after.ID != f.ticket1.ID || !after.UpdatedAt.After(before.UpdatedAt) || after.Title != "Renamed" || after.TimeUnit != before.TimeUnit {
			t.Fatalf("updated %+v (before %+v)", after, before)
		}
		var rows []struct {
			Title          string
			OrganizationID *int64 `json:"organization_id"`
		}
		call(t, "POST", f.url+"/api/v1/tickets/search", adminTok, byID(fmt.Sprintf(`["%d"]`, f.ticket1.ID))).json(t, &rows)
		if len(rows) != 1 || rows[0].Title != "Renamed" || rows[0].OrganizationID != nil {
			t.Errorf("search shows %+v", rows)
		}
		if _, ok := f.s.UpdateTicket(12345, func(*Ticket) {}); ok {
			t.Error("updated a missing ticket")
		}
	})
}

func TestOtherEndpoints(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path, contains string
		status         int
	}{
		{"/api/v1/organizations", `"name":"Chrispresso Inc."`, 200},
		{"/api/v1/organizations/1", `"member_ids":[3]`, 200},
		{"/api/v1/organizations/9", `Couldn't find Organization with 'id'=9`, 404},
		{"/api/v1/users/me", `"login":"admin@example.com"`, 200},
		{"/api/v1/users/3?expand=true", `"organization":"Chrispresso Inc."`, 200},
		{"/api/v1/users/1", `"login":"-"`, 200},
		{"/api/v1/users/99", `Couldn't find User`, 404},
		{"/api/v1/groups", `"name":"Sales"`, 200},
		{"/api/v1/groups/1", `"active":true`, 200},
		{"/api/v1/time_accounting/types", `{"id":2,"name":"Travel","note":"on site","active":true`, 200},
		{"/api/v1/time_accounting/types?sort_by=name&order_by=desc", `[{"id":2,`, 200},
		{"/api/v1/ticket_states", `"name":"merged"`, 200},
		{"/api/v1/signshow", `"config":{"tag_new":true}`, 200},
		{"/api/v1/macros", `No route matches [GET] /api/v1/macros`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := call(t, "GET", f.url+tt.path, adminTok, "")
			if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
				t.Errorf("%d %s, want %d containing %s", r.status, r.body, tt.status, tt.contains)
			}
		})
	}
	t.Run("without global API", func(t *testing.T) {
		old := newFixture(t, WithoutGlobalTimeAccounting())
		r := call(t, "GET", old.url+"/api/v1/time_accountings?per_page=1", adminTok, "")
		if r.status != 404 || !strings.Contains(r.body, "No route matches") {
			t.Errorf("%d %s", r.status, r.body)
		}
		if r := call(t, "GET", old.url+"/api/v1/tickets/1/time_accountings", adminTok, ""); r.status != 200 {
			t.Errorf("per-ticket: %d", r.status)
		}
	})
}

func TestCounters(t *testing.T) {
	f := newFixture(t)
	call(t, "GET", f.url+"/api/v1/tickets/1/time_accountings", adminTok, "")
	call(t, "GET", f.url+"/api/v1/tickets/2/time_accountings", "", "")
	call(t, "GET", f.url+"/api/v1/tickets/2", adminTok, "")
	call(t, "GET", f.url+"/api/v1/nothing", adminTok, "")
	want := map[string]int{
		"GET /api/v1/tickets/{ticket_id}/time_accountings": 2,
		"GET /api/v1/tickets/{id}":                         1,
		"GET (no route)":                                   1,
	}
	if got := f.s.Requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
	f.s.ResetCounters()
	if got := f.s.Requests(); len(got) != 0 {
		t.Errorf("after reset: %v", got)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		path   string
		check  func(t *testing.T, r resp, err error, took time.Duration)
	}{
		{"error", Faults{ErrorRate: 1}, "/api/v1/users/me", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 500 || !strings.Contains(r.body, "Please contact your administrator") {
				t.Errorf("%d %s", r.status, r.body)
			}
		}},
		{"rate limit", Faults{RateLimitRate: 1, RetryAfter: 1500 * time.Millisecond}, "/api/v1/users/me", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 429 || r.header.Get("Retry-After") != "2" {
				t.Errorf("%d Retry-After=%q", r.status, r.header.Get("Retry-After"))
			}
		}},
		{"malformed", Faults{MalformedRate: 1}, "/api/v1/users/me", func(t *testing.T, r resp, err error, _ time.Duration) {
			var v any
			if r.status != 200 || json.Unmarshal([]byte(r.body), &v) == nil {
				t.Errorf("%d %q is valid JSON", r.status, r.body)
			}
		}},
		{"latency", Faults{Latency: 150 * time.Millisecond}, "/api/v1/users/me", func(t *testing.T, r resp, err error, took time.Duration) {
			if r.status != 200 || took < 150*time.Millisecond {
				t.Errorf("%d after %v", r.status, took)
			}
		}},
		{"hang until client gives up", Faults{HangRate: 1}, "/api/v1/users/me", func(t *testing.T, r resp, err error, took time.Duration) {
			if !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
				t.Errorf("err %v after %v", err, took)
			}
		}},
		{"filter by route pattern", Faults{ErrorRate: 1, Method: "GET", Path: "/api/v1/tickets/{id}"}, "/api/v1/users/me", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 200 {
				t.Errorf("unfiltered endpoint failed: %d", r.status)
			}
		}},
		{"filter hits its route", Faults{ErrorRate: 1, Method: "GET", Path: "/api/v1/tickets/{id}"}, "/api/v1/tickets/1", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 500 {
				t.Errorf("filtered endpoint: %d", r.status)
			}
		}},
		{"filter by concrete path", Faults{ErrorRate: 1, Path: "/api/v1/tickets/2"}, "/api/v1/tickets/1", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 200 {
				t.Errorf("other ticket failed: %d", r.status)
			}
		}},
		{"method filter", Faults{ErrorRate: 1, Method: "POST"}, "/api/v1/tickets/1", func(t *testing.T, r resp, err error, _ time.Duration) {
			if r.status != 200 {
				t.Errorf("GET failed: %d", r.status)
			}
		}},
	}
	f := newFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.s.SetFaults(tt.faults)
			defer f.s.SetFaults(Faults{})
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.url+tt.path, nil)
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Token token="+adminTok)
			start := time.Now()
			res, err := http.DefaultClient.Do(req)
			var r resp
			if err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				r = resp{res.StatusCode, res.Header, string(b)}
			}
			tt.check(t, r, err, time.Since(start))
		})
	}

	t.Run("max bounds the faults", func(t *testing.T) {
		f.s.SetFaults(Faults{ErrorRate: 1, Max: 2})
		defer f.s.SetFaults(Faults{})
		var got []int
		for i := 0; i < 4; i++ {
			got = append(got, call(t, "GET", f.url+"/api/v1/users/me", adminTok, "").status)
		}
		if !reflect.DeepEqual(got, []int{500, 500, 200, 200}) || f.s.FaultsInjected() != 2 {
			t.Errorf("statuses %v, injected %d", got, f.s.FaultsInjected())
		}
	})
	t.Run("rates are seeded and deterministic", func(t *testing.T) {
		run := func() []int {
			s := New(WithSeed(42))
			defer s.Close()
			s.AddToken(adminTok, 1, PermTicketAgent)
			u := s.Start()
			s.SetFaults(Faults{ErrorRate: 0.3, RateLimitRate: 0.2})
			var out []int
			for i := 0; i < 40; i++ {
				out = append(out, call(t, "GET", u+"/api/v1/users/me", adminTok, "").status)
			}
			return out
		}
		a, b := run(), run()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("runs differ:\n%v\n%v", a, b)
		}
		n := map[int]int{}
		for _, s := range a {
			n[s]++
		}
		if n[500] == 0 || n[429] == 0 || n[200] == 0 {
			t.Errorf("distribution %v", n)
		}
	})
	t.Run("hang is bounded and released by Close", func(t *testing.T) {
		s := New(WithHangLimit(100 * time.Millisecond))
		s.AddToken(adminTok, 1, PermTicketAgent)
		u := s.Start()
		s.SetFaults(Faults{HangRate: 1})
		r := call(t, "GET", u+"/api/v1/users/me", adminTok, "")
		if r.status != 504 {
			t.Errorf("bounded hang: %d", r.status)
		}
		s2 := New()
		s2.AddToken(adminTok, 1, PermTicketAgent)
		u2 := s2.Start()
		s2.SetFaults(Faults{HangRate: 1})
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequest("GET", u2+"/api/v1/users/me", nil)
			req.Header.Set("Authorization", "Token token="+adminTok)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		s2.Close()
		<-done
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Close took %v", took)
		}
		s.Close()
	})
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				switch i % 5 {
				case 0:
					f.s.SetFaults(Faults{ErrorRate: 0.1})
				case 1:
					f.s.AddEntry(Entry{TicketID: f.ticket2.ID, TimeUnit: decimal.FromInt(1)})
				case 2:
					call(t, "POST", f.url+"/api/v1/tickets/1/time_accountings", adminTok, `{"time_unit":"2"}`)
				default:
					call(t, "GET", f.url+"/api/v1/time_accountings?per_page=1000", adminTok, "")
				}
				_ = f.s.Requests()
			}
		}()
	}
	wg.Wait()
}

func TestWebhook(t *testing.T) {
	f := newFixture(t)
	// RFC 2202-style known answer for HMAC-SHA1.
	if got := Sign("key", []byte("The quick brown fox jumps over the lazy dog")); got != "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9" {
		t.Errorf("Sign = %s", got)
	}
	body := f.s.WebhookPayload(f.ticket1.ID)
	if strings.Contains(string(body), "\n") {
		t.Error("payload is not compact")
	}
	var p struct {
		Ticket  map[string]any `json:"ticket"`
		Article map[string]any `json:"article"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	owner, _ := p.Ticket["owner"].(map[string]any)
	org, _ := p.Ticket["organization"].(map[string]any)
	if p.Ticket["number"] != "31001" || p.Ticket["state"] != "open" || owner["login"] != "agent@example.com" || org["name"] != "Chrispresso Inc." {
		t.Errorf("ticket part: %v", p.Ticket)
	}
	if _, leaked := owner["preferences"]; leaked {
		t.Error("nested user keeps preferences")
	}
	if ids, _ := p.Ticket["ticket_time_accounting_ids"].([]any); len(ids) != 2 {
		t.Errorf("entry ids %v", p.Ticket["ticket_time_accounting_ids"])
	}
	if !strings.Contains(string(body), `"accounted_time":15.0`) || p.Article["id"] != 88.0 {
		t.Errorf("article part: %v", p.Article)
	}
	if b := f.s.WebhookPayload(f.ticket2.ID); !strings.Contains(string(b), `"article":{}`) {
		t.Errorf("ticket without article: %s", b)
	}
	if f.s.WebhookPayload(404) != nil {
		t.Error("payload for a missing ticket")
	}

	req, err := f.s.WebhookRequest(context.Background(), "http://127.0.0.1:1/hook", "s3cret", "sync time", f.ticket1.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(req.Body)
	for k, v := range map[string]string{
		"X-Hub-Signature": Sign("s3cret", raw), "User-Agent": "Zammad User Agent",
		"X-Zammad-Trigger": "sync time", "Content-Type": "application/json; charset=utf-8",
	} {
		if got := req.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if id := req.Header.Get("X-Zammad-Delivery"); len(id) != 36 {
		t.Errorf("delivery id %q", id)
	}
	req2, _ := f.s.WebhookRequest(context.Background(), "http://127.0.0.1:1/hook", "", "t", f.ticket1.ID)
	if req2.Header.Get("X-Hub-Signature") != "" || req2.Header.Get("X-Zammad-Delivery") == req.Header.Get("X-Zammad-Delivery") {
		t.Error("unsigned request signed, or delivery ids repeat")
	}
}

func TestSeedDemo(t *testing.T) {
	cfg := DemoConfig{Seed: 3, Tickets: 30, Entries: 400, AdminToken: adminTok}
	a, b := New(), New()
	da, db := a.SeedDemo(cfg), b.SeedDemo(cfg)
	if !reflect.DeepEqual(da, db) || !reflect.DeepEqual(a.Entries(), b.Entries()) {
		t.Fatal("SeedDemo is not deterministic")
	}
	if da.Entries != 400 || da.Corrections == 0 || da.Untyped == 0 || len(da.TicketIDs) != 30 {
		t.Errorf("demo %+v", da)
	}
	neg, noOrg := 0, 0
	for _, e := range a.Entries() {
		if e.TimeUnit.Sign() < 0 {
			neg++
		}
	}
	for _, tk := range a.Tickets() {
		if tk.OrganizationID == 0 {
			noOrg++
		}
	}
	if neg != da.Corrections || noOrg == 0 {
		t.Errorf("negatives %d (want %d), tickets without org %d", neg, da.Corrections, noOrg)
	}
	u := a.Start()
	defer a.Close()
	var rows []json.RawMessage
	call(t, "GET", u+"/api/v1/time_accountings?per_page=1000", adminTok, "").json(t, &rows)
	if len(rows) != 400 {
		t.Errorf("listed %d", len(rows))
	}
}

func TestRound2(t *testing.T) {
	for in, want := range map[string]string{"1.234": "1.23", "1.235": "1.24", "-1.235": "-1.24", "0.005": "0.01", "7.5": "7.5", "-0.004": "0"} {
		if got := round2(decimal.MustParse(in)).String(); got != want {
			t.Errorf("round2(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{"15": "15.0", "-100": "-100.0", "0.25": "0.25", "0": "0.0"} {
		if got := FormatDecimal(decimal.MustParse(in)); got != want {
			t.Errorf("FormatDecimal(%s) = %s, want %s", in, got, want)
		}
	}
}

func BenchmarkSeedDemo(b *testing.B) {
	for b.Loop() {
		New().SeedDemo(DemoConfig{Tickets: 500, Entries: 10_000})
	}
}

func BenchmarkListEntriesPage(b *testing.B) {
	s := New()
	s.SeedDemo(DemoConfig{Tickets: 500, Entries: 10_000, AdminToken: adminTok})
	u := s.Start()
	defer s.Close()
	req, _ := http.NewRequest("GET", u+"/api/v1/time_accountings?per_page=1000&sort_by=updated_at&order_by=desc", nil)
	req.Header.Set("Authorization", "Token token="+adminTok)
	req.Header.Set("Accept", "application/json")
	for b.Loop() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// TestTicketShowNeedsReadAccess: GET /tickets/{id} is TicketPolicy#show?: a
// ticket in a group the agent may not read is 403 Not authorized (an id
// that does not exist stays 404).
func TestTicketShowNeedsReadAccess(t *testing.T) {
	f := newFixture(t)
	other := f.s.AddGroup(Group{Name: "Secret"})
	hidden := f.s.AddTicket(Ticket{Title: "Hidden", GroupID: other.ID})
	f.s.SetUserGroups(f.agent.ID, map[int64][]string{1: {"read"}})
	for _, tc := range []struct {
		tok    string
		id     int64
		status int
	}{{agentTok, f.ticket1.ID, 200}, {agentTok, hidden.ID, 403}, {adminTok, hidden.ID, 200}, {agentTok, 999, 404}} {
		r := call(t, "GET", fmt.Sprintf("%s/api/v1/tickets/%d", f.url, tc.id), tc.tok, "")
		if r.status != tc.status {
			t.Errorf("ticket %d with %s: %d %s, want %d", tc.id, tc.tok, r.status, r.body, tc.status)
		}
	}
}
