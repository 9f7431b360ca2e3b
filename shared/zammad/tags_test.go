package zammad

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
)

// TestTicketTags: add, list and remove against the simulator are
// idempotent from the caller's view, whatever the case and spacing the
// ticket has; a remove of an absent tag writes nothing (Zammad would touch
// the ticket).
func TestTicketTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t, agentTok)
	tid := e.ticket.ID
	tags := func() []string {
		t.Helper()
		got, err := c.TicketTags(ctx, tid)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := tags(); got == nil || len(got) != 0 {
		t.Fatalf("untagged ticket: %#v, want []", got)
	}
	for range 2 {
		if err := c.AddTicketTag(ctx, tid, " billed "); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddTicketTag(ctx, tid, "BILLED"); err != nil {
		t.Fatal(err)
	}
	if got := tags(); !slices.Equal(got, []string{"billed"}) {
		t.Fatalf("after adds: %v", got)
	}

	// A human wrote the tag in another case: removal still removes it.
	e.sim.SetTicketTags(tid, "Billed", "keep")
	if err := c.RemoveTicketTag(ctx, tid, "billed"); err != nil {
		t.Fatal(err)
	}
	if got := tags(); !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("after remove: %v", got)
	}
	// Removing what is not there succeeds and writes nothing.
	tk, _ := e.sim.Ticket(tid)
	e.sim.ResetCounters()
	e.sim.SetNow(func() time.Time { return t0.Add(time.Hour) })
	if err := c.RemoveTicketTag(ctx, tid, "billed"); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.Requests()["DELETE /api/v1/tags/remove"]; n != 0 {
		t.Fatalf("absent tag: %d remove requests", n)
	}
	if after, _ := e.sim.Ticket(tid); !after.UpdatedAt.Equal(tk.UpdatedAt) {
		t.Fatal("removing an absent tag touched the ticket")
	}
	// Adding moves the ticket's updated_at, as Zammad's touch does.
	if err := c.AddTicketTag(ctx, tid, "billed"); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.sim.Ticket(tid); !after.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("add did not touch the ticket: %v", after.UpdatedAt)
	}

	for _, bad := range []string{"", "   ", "a,b", "x*"} {
		err := c.AddTicketTag(ctx, tid, bad)
		checkErr(t, err, apperr.Validation, 0, "Cannot tag Zammad ticket", "zammad: add tag to ticket 1")
		err = c.RemoveTicketTag(ctx, tid, bad)
		checkErr(t, err, apperr.Validation, 0, "Cannot untag Zammad ticket", "zammad: remove tag from ticket 1")
	}
}

// TestTicketTagErrors: refusals are classified like the rest of the client
// and name the ticket and the fix.
func TestTicketTagErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tid := e.ticket.ID
	reader := e.sim.AddUser(zammadsim.User{Login: "reader@example.com", RoleIDs: []int64{2}})
	e.sim.SetUserGroups(reader.ID, map[int64][]string{e.ticket.GroupID: {"read"}})
	e.sim.AddToken("s3cr3t-reader-token", reader.ID, zammadsim.PermTicketAgent)
	e.sim.AddToken("s3cr3t-time-only-token", e.admin.ID, zammadsim.PermAdminTimeAccounting)
	e.sim.SetTicketTags(tid, "billed")

	r := mustNew(t, e.url, "s3cr3t-reader-token")
	if got, err := r.TicketTags(ctx, tid); err != nil || !slices.Equal(got, []string{"billed"}) {
		t.Fatalf("read-only agent lists: %v %v", got, err)
	}
	err := r.AddTicketTag(ctx, tid, "paid")
	checkErr(t, err, apperr.Permission, 403, "change access to the ticket's group", "zammad: add tag to ticket 1")
	err = r.RemoveTicketTag(ctx, tid, "billed")
	checkErr(t, err, apperr.Permission, 403, "change access to the ticket's group", "zammad: remove tag from ticket 1")

	noAgent := mustNew(t, e.url, "s3cr3t-time-only-token")
	_, err = noAgent.TicketTags(ctx, tid)
	checkErr(t, err, apperr.Permission, 403, "ticket.agent", "zammad: tags of ticket 1")
	err = noAgent.AddTicketTag(ctx, tid, "paid")
	checkErr(t, err, apperr.Permission, 403, "ticket.agent", "zammad: add tag to ticket 1")

	// tag_new off: an agent may only use existing names.
	e.sim.SetTagNew(false)
	a := mustNew(t, e.url, agentTok)
	err = a.AddTicketTag(ctx, tid, "brand-new")
	checkErr(t, err, apperr.Permission, 403, "New Tags", "zammad: add tag to ticket 1")
	if err := a.AddTicketTag(ctx, e.other.ID, "billed"); err != nil {
		t.Fatalf("existing name with tag_new off: %v", err)
	}

	_, err = a.TicketTags(ctx, 999)
	checkErr(t, err, apperr.NotFound, 404, "Zammad has no ticket 999", "zammad: tags of ticket 999")
	err = a.AddTicketTag(ctx, 999, "billed")
	checkErr(t, err, apperr.NotFound, 404, "Zammad has no ticket 999", "zammad: add tag to ticket 999")
	err = a.RemoveTicketTag(ctx, 999, "billed")
	checkErr(t, err, apperr.NotFound, 404, "Zammad has no ticket 999", "zammad: tags of ticket 999")

	// Transient failures are retried: tag writes are idempotent in Zammad.
	e.sim.SetFaults(zammadsim.Faults{Method: "POST", Path: "/api/v1/tags/add", ErrorRate: 1, Max: 1})
	if err := a.AddTicketTag(ctx, tid, "billed"); err != nil {
		t.Fatalf("add after one 500: %v", err)
	}
	// A 200 that is not Zammad's `true` (a proxy's page) is not success.
	e.sim.SetFaults(zammadsim.Faults{Path: "/api/v1/tags/add", MalformedRate: 1})
	err = a.AddTicketTag(ctx, tid, "billed")
	checkErr(t, err, apperr.Upstream, 200, "not its JSON API", "zammad: add tag to ticket 1")
	e.sim.SetFaults(zammadsim.Faults{Path: "/api/v1/tags/remove", ErrorRate: 1})
	err = a.RemoveTicketTag(ctx, tid, "billed")
	checkErr(t, err, apperr.Upstream, 500, "server error", "zammad: remove tag from ticket 1")
}

// TestTagAbilities: what the connector test reads — ticket.agent, group
// access, the tag_new setting, admin.tag — and whether a tag exists with
// exactly one spelling.
func TestTagAbilities(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ab, err := e.client(t, agentTok).TagAbilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ab.TicketAgent || !ab.TagNewKnown || !ab.TagNew || ab.AdminTag || !CanChange(ab.GroupAccess[e.ticket.GroupID]) {
		t.Fatalf("agent: %+v", ab)
	}
	e.sim.SetTagNew(false)
	reader := e.sim.AddUser(zammadsim.User{Login: "reader@example.com", RoleIDs: []int64{2}})
	e.sim.SetUserGroups(reader.ID, map[int64][]string{e.ticket.GroupID: {"read"}})
	e.sim.AddToken("s3cr3t-reader-token", reader.ID, zammadsim.PermAdminTimeAccounting)
	ab, err = mustNew(t, e.url, "s3cr3t-reader-token").TagAbilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ab.TicketAgent || !ab.TagNewKnown || ab.TagNew || ab.AdminTag || CanChange(ab.GroupAccess[e.ticket.GroupID]) {
		t.Fatalf("reader: %+v", ab)
	}
	e.sim.AddToken("s3cr3t-tag-admin", e.admin.ID, zammadsim.PermTicketAgent, zammadsim.PermAdminTag)
	if ab, err = mustNew(t, e.url, "s3cr3t-tag-admin").TagAbilities(ctx); err != nil || !ab.AdminTag {
		t.Fatalf("tag admin: %+v %v", ab, err)
	}
	// Other failures are errors, not answers.
	e.sim.SetFaults(zammadsim.Faults{Path: "/api/v1/signshow", ErrorRate: 1})
	_, err = mustNew(t, e.url, agentTok).TagAbilities(ctx)
	checkErr(t, err, apperr.Upstream, 500, "server error", "zammad: tag abilities: settings")
	e.sim.SetFaults(zammadsim.Faults{})

	e.sim.SetTicketTags(e.ticket.ID, "Billed")
	c := e.client(t, agentTok)
	for name, want := range map[string]bool{"Billed": true, " Billed ": true, "billed": false, "Bill": false} {
		if got, err := c.TagExists(ctx, name); err != nil || got != want {
			t.Errorf("TagExists(%q) = %v %v, want %v", name, got, err, want)
		}
	}
}
