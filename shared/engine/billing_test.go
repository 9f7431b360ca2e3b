package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/report"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestBilledTagFollowsKimaiExports: with billing on, a ticket gets the
// billed tag in Zammad once Kimai marks every synced entry of it exported;
// an added entry or an un-export removes it; each change is audited and the
// report says which tickets are billed. With billing off nothing is tagged.
func TestBilledTagFollowsKimaiExports(t *testing.T) {
	h := newHarness(t, options{profile: func(p *tb.Profile) { p.Billing = tb.Billing{Enabled: true, Tag: "invoiced"} }})
	tid, agent, typ := h.seedBasics()
	h.zs.AddTicket(zammadsimTicket(60, "53010"))
	day := func(d int) time.Time { return time.Date(2026, 3, d, 9, 0, 0, 0, time.UTC) }
	e1 := h.addEntry(tid, agent, typ, "30", day(2))
	e2 := h.addEntry(tid, agent, typ, "45", day(3))
	other := h.addEntry(60, agent, typ, "15", day(3))
	h.run(tb.ModeIncremental)
	if tags := h.zs.TicketTags(tid); len(tags) != 0 {
		t.Fatalf("tagged before any export: %v", tags)
	}
	sheets := h.sheetsByEntry()
	export := func(entry int64, on bool) {
		h.Add(time.Minute)
		h.ks.SetExported(sheets[entry][0].ID, on)
	}
	billed := func(ticket int64) bool { return slices.Contains(h.zs.TicketTags(ticket), "invoiced") }

	export(e1.ID, true)
	h.Add(time.Minute)
	h.run(tb.ModeIncremental)
	if billed(tid) {
		t.Fatal("tagged with one of two entries exported")
	}
	export(e2.ID, true)
	h.Add(time.Minute)
	r := h.run(tb.ModeIncremental)
	if !billed(tid) || billed(60) {
		t.Fatalf("after both exports: ticket %d %v, ticket 60 %v (run %+v)", tid, h.zs.TicketTags(tid), h.zs.TicketTags(60), r)
	}
	rep := buildReport(t, h, report.ByTicket)
	for _, g := range rep.Groups {
		if g.IsBilled == nil || *g.IsBilled != (g.TicketID == tid) {
			t.Fatalf("report group %s billed %v", g.Name, g.IsBilled)
		}
	}
	// A run that changes nothing does not call the tag API again.
	before := h.zs.Requests()["POST /api/v1/tags/add"]
	h.Add(time.Minute)
	h.run(tb.ModeFull)
	if after := h.zs.Requests()["POST /api/v1/tags/add"]; after != before || !billed(tid) {
		t.Fatalf("an unchanged run tagged again (%d → %d) or lost the tag", before, after)
	}

	// A new entry on the ticket: not all exported any more.
	h.Add(time.Minute)
	e3 := h.addEntry(tid, agent, typ, "10", day(4))
	h.run(tb.ModeIncremental)
	if billed(tid) {
		t.Fatal("still billed after an entry was added")
	}
	sheets = h.sheetsByEntry()
	export(e3.ID, true)
	h.Add(time.Minute)
	h.run(tb.ModeIncremental)
	if !billed(tid) {
		t.Fatal("not billed again once the new entry was exported")
	}
	// An un-export takes it back.
	export(e1.ID, false)
	h.Add(time.Minute)
	h.run(tb.ModeIncremental)
	if billed(tid) {
		t.Fatal("still billed after an un-export")
	}
	types := map[string]int{}
	evs, _, err := h.st.ListAudit(context.Background(), tb.AuditQuery{ProfileID: h.profile.ID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		types[e.Type]++
	}
	if types["ticket.tagged"] != 2 || types["ticket.untagged"] != 2 {
		t.Fatalf("audit: %d tagged, %d untagged events", types["ticket.tagged"], types["ticket.untagged"])
	}
	_ = other

	// Billing off: exports tag nothing.
	h2 := newHarness(t, options{})
	tid2, agent2, typ2 := h2.seedBasics()
	only := h2.addEntry(tid2, agent2, typ2, "30", day(2))
	h2.run(tb.ModeIncremental)
	h2.Add(time.Minute)
	h2.ks.SetExported(h2.sheetsByEntry()[only.ID][0].ID, true)
	h2.Add(time.Minute)
	h2.run(tb.ModeIncremental)
	if tags := h2.zs.TicketTags(tid2); len(tags) != 0 {
		t.Fatalf("billing off, yet tagged: %v", tags)
	}
}

// TestBillingWithoutTagPermission: a token that may not tag makes the
// tagging an item error that says what to grant; the sync itself succeeds.
func TestBillingWithoutTagPermission(t *testing.T) {
	h := newHarness(t, options{profile: func(p *tb.Profile) { p.Billing = tb.Billing{Enabled: true, Tag: "billed"} }})
	tid, agent, typ := h.seedBasics()
	e := h.addEntry(tid, agent, typ, "30", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	h.run(tb.ModeIncremental)
	// The sync user may read the ticket's group, not change it.
	h.zs.SetUserGroups(1, map[int64][]string{1: {"read"}})
	h.Add(time.Minute)
	h.ks.SetExported(h.sheetsByEntry()[e.ID][0].ID, true)
	h.Add(time.Minute)
	run := h.run(tb.ModeIncremental)
	if run.Counts.Errors != 1 || len(run.ItemErrors) != 1 || run.ItemErrors[0].TicketID != tid || run.ItemErrors[0].Class != "permission" {
		t.Fatalf("run %+v", run)
	}
	if tags := h.zs.TicketTags(tid); len(tags) != 0 {
		t.Fatalf("tagged without permission: %v", tags)
	}
}
