package zammadsim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// tagBody is the JSON body of tags/add and tags/remove.
func tagBody(ticket int64, item string) string {
	return fmt.Sprintf(`{"object":"Ticket","o_id":%d,"item":%q}`, ticket, item)
}

// TestTagLifecycle: add answers 201 true, remove 200 true; duplicates are
// found case-insensitively on add but removal is exact; every change but
// the duplicate add touches the ticket; entries are never touched; the
// ticket JSON has no tags.
func TestTagLifecycle(t *testing.T) {
	f := newFixture(t)
	tid := f.ticket1.ID
	step := 0
	tick := func() time.Time {
		step++
		now := t0.Add(time.Duration(step) * time.Hour)
		f.s.SetNow(func() time.Time { return now })
		return ms(now)
	}
	ticketAt := func() time.Time { tk, _ := f.s.Ticket(tid); return tk.UpdatedAt }
	list := func() []string {
		t.Helper()
		r := call(t, "GET", fmt.Sprintf("%s/api/v1/tags?object=Ticket&o_id=%d", f.url, tid), agentTok, "")
		var v struct{ Tags []string }
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.json(t, &v)
		return v.Tags
	}
	if got := list(); got == nil || len(got) != 0 {
		t.Fatalf("fresh ticket tags %v, want []", got)
	}
	entryBefore, _ := f.s.Entry(f.e1.ID)

	steps := []struct {
		name, method, path, item string
		status                   int
		tags                     []string
		touched                  bool
	}{
		{"add", "POST", "/api/v1/tags/add", "billed", 201, []string{"billed"}, true},
		{"add second", "POST", "/api/v1/tags/add", "  invoice 2025-06 ", 201, []string{"billed", "invoice 2025-06"}, true},
		{"add again other case", "POST", "/api/v1/tags/add", " BILLED ", 201, []string{"billed", "invoice 2025-06"}, false},
		{"remove other case", "DELETE", "/api/v1/tags/remove", "BILLED", 200, []string{"billed", "invoice 2025-06"}, true},
		{"remove", "DELETE", "/api/v1/tags/remove", " billed ", 200, []string{"invoice 2025-06"}, true},
		{"remove absent", "DELETE", "/api/v1/tags/remove", "billed", 200, []string{"invoice 2025-06"}, true},
	}
	for _, st := range steps {
		now := tick()
		before := ticketAt()
		r := call(t, st.method, f.url+st.path, agentTok, tagBody(tid, st.item))
		if r.status != st.status || r.body != "true" {
			t.Fatalf("%s: %d %s, want %d true", st.name, r.status, r.body, st.status)
		}
		if got := list(); !slices.Equal(got, st.tags) {
			t.Fatalf("%s: tags %v, want %v", st.name, got, st.tags)
		}
		if after := ticketAt(); st.touched != after.Equal(now) || (!st.touched && !after.Equal(before)) {
			t.Fatalf("%s: ticket updated_at %v (before %v, now %v), touched want %v", st.name, after, before, now, st.touched)
		}
	}
	// "BILLED" was created as an item by the removal, as Zammad does.
	if items := f.s.TagItems(); !slices.Equal(items, []string{"billed", "invoice 2025-06", "BILLED"}) {
		t.Fatalf("tag items %v", items)
	}
	if e, _ := f.s.Entry(f.e1.ID); !e.UpdatedAt.Equal(entryBefore.UpdatedAt) {
		t.Fatal("tagging touched a time accounting entry")
	}
	for _, q := range []string{"", "?expand=true", "?expand=true&all=true"} {
		r := call(t, "GET", fmt.Sprintf("%s/api/v1/tickets/%d%s", f.url, tid, q), agentTok, "")
		if r.status != 200 || strings.Contains(r.body, `"tags"`) {
			t.Fatalf("ticket JSON %s carries tags: %s", q, r.body)
		}
	}
	var all struct {
		TicketID int64    `json:"ticket_id"`
		Tags     []string `json:"tags"`
		Assets   map[string]map[string]map[string]any
	}
	call(t, "GET", fmt.Sprintf("%s/api/v1/tickets/%d?all=true", f.url, tid), agentTok, "").json(t, &all)
	if all.TicketID != tid || !slices.Equal(all.Tags, []string{"invoice 2025-06"}) || all.Assets["Ticket"]["1"]["title"] != f.ticket1.Title {
		t.Fatalf("all=true bundle %+v", all)
	}
	// Query parameters work as well as a body (Rails merges both).
	r := call(t, "POST", fmt.Sprintf("%s/api/v1/tags/add?object=Ticket&o_id=%d&item=q", f.url, tid), agentTok, "")
	if r.status != 201 || !slices.Contains(f.s.TicketTags(tid), "q") {
		t.Fatalf("add by query: %d %s", r.status, r.body)
	}
}

// TestTagPermissions: TagsControllerPolicy — listing needs read access to
// the ticket (agents of its group, its customer), adding and removing need
// ticket.agent with change access to its group; admin.tag alone is not
// enough; an unknown ticket is a 404 and an unknown object a 500.
func TestTagPermissions(t *testing.T) {
	f := newFixture(t)
	s := f.s
	g2 := s.AddGroup(Group{Name: "Billing"})
	reader := s.AddUser(User{Login: "reader@example.com", RoleIDs: []int64{2}})
	s.SetUserGroups(reader.ID, map[int64][]string{f.ticket1.GroupID: {"read"}, g2.ID: {"change"}})
	s.AddToken("reader-token", reader.ID, PermTicketAgent)
	changer := s.AddUser(User{Login: "changer@example.com"})
	s.SetUserGroups(changer.ID, map[int64][]string{f.ticket1.GroupID: {"read", "change"}})
	s.AddToken("changer-token", changer.ID, PermTicketAgent)
	s.AddToken("changer-no-agent", changer.ID, PermAdminTimeAccounting)
	tagAdmin := s.AddUser(User{Login: "tags@example.com"})
	s.AddToken("tagadmin-token", tagAdmin.ID, PermAdminTag)
	customer := s.AddUser(User{Login: "customer@example.com", RoleIDs: []int64{3}})
	s.AddToken("customer-token", customer.ID, PermTicketCustomer)
	own := s.AddTicket(Ticket{Title: "Mine", GroupID: f.ticket1.GroupID, CustomerID: customer.ID})
	s.SetTicketTags(own.ID, "vip")

	type want struct{ list, add, remove int }
	cases := []struct {
		name   string
		tok    string
		ticket int64
		want   want
	}{
		{"agent with full access", agentTok, f.ticket1.ID, want{200, 201, 200}},
		{"admin token", adminTok, f.ticket1.ID, want{200, 201, 200}},
		{"read-only group access", "reader-token", f.ticket1.ID, want{200, 403, 403}},
		{"change access", "changer-token", f.ticket1.ID, want{200, 201, 200}},
		{"user may, token lacks ticket.agent", "changer-no-agent", f.ticket1.ID, want{403, 403, 403}},
		{"admin.tag only", "tagadmin-token", f.ticket1.ID, want{403, 403, 403}},
		{"customer of the ticket", "customer-token", own.ID, want{200, 403, 403}},
		{"customer of another ticket", "customer-token", f.ticket2.ID, want{403, 403, 403}},
		{"token without permissions", noneTok, f.ticket1.ID, want{403, 403, 403}},
		{"unknown ticket", agentTok, 999, want{404, 404, 404}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := want{
				call(t, "GET", fmt.Sprintf("%s/api/v1/tags?object=Ticket&o_id=%d", f.url, c.ticket), c.tok, "").status,
				call(t, "POST", f.url+"/api/v1/tags/add", c.tok, tagBody(c.ticket, "billed")).status,
				call(t, "DELETE", f.url+"/api/v1/tags/remove", c.tok, tagBody(c.ticket, "billed")).status,
			}
			if got != c.want {
				t.Fatalf("list/add/remove = %v, want %v", got, c.want)
			}
		})
	}
	r := call(t, "POST", f.url+"/api/v1/tags/add", "reader-token", tagBody(f.ticket1.ID, "x"))
	if r.status != 403 || !strings.Contains(r.body, "Not authorized") {
		t.Fatalf("refusal body %d %s", r.status, r.body)
	}
	r = call(t, "GET", f.url+"/api/v1/tags?object=Ticket&o_id=999", agentTok, "")
	if !strings.Contains(r.body, "Couldn't find Ticket with 'id'=999") {
		t.Fatalf("404 body %s", r.body)
	}
	if r := call(t, "POST", f.url+"/api/v1/tags/add", agentTok, `{"object":"Organization","o_id":1,"item":"x"}`); r.status != 500 {
		t.Fatalf("unknown object: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", f.url+"/api/v1/tags?object=Ticket&o_id=1", "", ""); r.status != 403 || !strings.Contains(r.body, "Authentication required") {
		t.Fatalf("no credentials: %d %s", r.status, r.body)
	}
}

// TestTagNewSetting: with tag_new off, only users with admin.tag (their
// roles, whatever the token) may add a name that is not an item yet; an
// existing item must be named exactly (case and whitespace: the check
// looks up the raw parameter). Removal never checks.
func TestTagNewSetting(t *testing.T) {
	f := newFixture(t)
	s := f.s
	tid := f.ticket1.ID
	add := func(tok, item string) int {
		return call(t, "POST", f.url+"/api/v1/tags/add", tok, tagBody(tid, item)).status
	}
	if r := call(t, "GET", f.url+"/api/v1/signshow", agentTok, ""); !strings.Contains(r.body, `"tag_new":true`) {
		t.Fatalf("signshow default %s", r.body)
	}
	s.SetTagNew(false)
	if r := call(t, "GET", f.url+"/api/v1/signshow", agentTok, ""); !strings.Contains(r.body, `"tag_new":false`) {
		t.Fatalf("signshow off %s", r.body)
	}
	if got := add(agentTok, "billed"); got != 403 {
		t.Fatalf("agent adds a new name with tag_new off: %d", got)
	}
	if !s.AddTagItem("billed") || s.AddTagItem("billed") {
		t.Fatal("AddTagItem")
	}
	for item, want := range map[string]int{"Billed": 403, " billed": 403, "billed": 201} {
		if got := add(agentTok, item); got != want {
			t.Errorf("agent adds existing item as %q: %d, want %d", item, got, want)
		}
	}
	// The admin's user has the Admin role: new names are fine, although
	// its token does not carry admin.tag.
	if got := add(adminTok, "paid"); got != 201 {
		t.Fatalf("admin adds a new name: %d", got)
	}
	r := call(t, "DELETE", f.url+"/api/v1/tags/remove", agentTok, tagBody(tid, "never-seen"))
	if r.status != 200 || !slices.Contains(s.TagItems(), "never-seen") {
		t.Fatalf("remove with tag_new off: %d, items %v", r.status, s.TagItems())
	}
	if got := s.TicketTags(tid); !slices.Equal(got, []string{"billed", "paid"}) {
		t.Fatalf("tags %v", got)
	}
}

// TestTagInvalidNames: Tag::Item refuses blank names and "," or "*" (422);
// a missing item is nil.strip (500).
func TestTagInvalidNames(t *testing.T) {
	f := newFixture(t)
	tid := f.ticket1.ID
	for item, want := range map[string]int{"a,b": 422, "a*": 422, "   ": 422, "ok": 201} {
		if r := call(t, "POST", f.url+"/api/v1/tags/add", agentTok, tagBody(tid, item)); r.status != want {
			t.Errorf("add %q: %d %s, want %d", item, r.status, r.body, want)
		}
	}
	if r := call(t, "POST", f.url+"/api/v1/tags/add", agentTok, fmt.Sprintf(`{"object":"Ticket","o_id":%d}`, tid)); r.status != 500 {
		t.Errorf("add without item: %d", r.status)
	}
	if got := f.s.TicketTags(tid); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("tags %v", got)
	}
}

// TestTagSearchAndList: tag_search is a case-insensitive substring match
// for agents; tag_list needs admin.tag.
func TestTagSearchAndList(t *testing.T) {
	f := newFixture(t)
	f.s.SetTicketTags(f.ticket1.ID, "billed", "Billing-Q2")
	f.s.SetTicketTags(f.ticket2.ID, "billed")
	f.s.AddTagItem("unused")
	r := call(t, "GET", f.url+"/api/v1/tag_search?term=BILL", agentTok, "")
	if r.status != 200 || r.body != `[{"id":2,"value":"Billing-Q2"},{"id":1,"value":"billed"}]` {
		t.Fatalf("search: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", f.url+"/api/v1/tag_search?term=", agentTok, ""); !strings.HasPrefix(r.body, `[{"id":1,"value":"billed"}`) {
		t.Fatalf("blank term: most used first: %s", r.body)
	}
	if r := call(t, "GET", f.url+"/api/v1/tag_search?term=x", noneTok, ""); r.status != 403 {
		t.Fatalf("search without ticket.agent: %d", r.status)
	}
	if r := call(t, "GET", f.url+"/api/v1/tag_list", agentTok, ""); r.status != 403 || !strings.Contains(r.body, "Token authorization failed.") {
		t.Fatalf("tag_list without admin.tag: %d %s", r.status, r.body)
	}
	f.s.AddToken("tag-admin", f.admin.ID, PermAdminTag)
	r = call(t, "GET", f.url+"/api/v1/tag_list?limit=2", "tag-admin", "")
	if r.status != 200 || r.body != `[{"count":1,"id":2,"name":"Billing-Q2"},{"count":2,"id":1,"name":"billed"}]` {
		t.Fatalf("tag_list: %d %s", r.status, r.body)
	}
}
