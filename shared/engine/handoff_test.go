package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestHandOff: ticket runs handed over while another owner holds the
// profile's lease wait in the pending set; the next run that takes the
// lease carries them out as merged runs of at most MaxMerged tickets
// before it releases it, and the queued runs' records say which run did
// their work. With the lease free, a hand-off runs them at once. A merged
// run that fails transiently puts its runs back for the next holder.
func TestHandOff(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	tid, agent, typ := h.seedBasics()
	n := engine.MaxMerged + 5
	var pending []store.PendingRun
	entries := map[int64]int64{} // ticket → entry
	for i := range n {
		ticket := int64(100 + i)
		h.zs.AddTicket(zammadsimTicket(ticket, fmt.Sprint(60000+i)))
		entries[ticket] = h.addEntry(ticket, agent, typ, "15", at(8, 0)).ID
		id := fmt.Sprintf("run-%03d", i)
		if _, err := h.st.PutRun(ctx, tb.Run{ID: id, ProfileID: h.profile.ID, Trigger: "webhook", Mode: tb.ModeTicket, TicketID: ticket,
			Status: tb.RunQueued, QueuedAt: h.Now(), Requester: "webhook"}); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, store.PendingRun{RunID: id, TicketID: ticket})
	}
	synced := func() int {
		c := 0
		sheets := h.sheetsByEntry()
		for _, e := range entries {
			if len(sheets[e]) == 1 {
				c++
			}
		}
		return c
	}

	// Another owner holds the lease (a run in another process): the
	// hand-off only records the runs.
	lease := "profile-" + h.profile.ID
	if _, ok, err := h.st.TakeLease(ctx, lease, "elsewhere", time.Minute); err != nil || !ok {
		t.Fatalf("take lease: %v %v", ok, err)
	}
	if err := h.eng.HandOff(ctx, h.profile.ID, pending); err != nil {
		t.Fatal(err)
	}
	if more, err := h.st.HasPending(ctx, h.profile.ID); err != nil || !more || synced() != 0 {
		t.Fatalf("while busy: pending %v (%v), %d synced", more, err, synced())
	}
	// That owner goes away without draining (it crashed); the next run of
	// the profile drains the set before it releases the lease.
	if err := h.st.EndLease(ctx, lease, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	h.addEntry(tid, agent, typ, "10", at(9, 0))
	if run := h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid }); run.Counts.Created != 1 {
		t.Fatalf("own run %+v", run.Counts)
	}
	if got := synced(); got != n {
		t.Fatalf("%d of %d handed-off tickets synced", got, n)
	}
	if more, _ := h.st.HasPending(ctx, h.profile.ID); more {
		t.Fatal("pending runs left after the drain")
	}
	var leads []string
	for _, p := range pending {
		r, err := h.st.GetRun(ctx, p.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tb.RunSucceeded || r.FinishedAt == nil {
			t.Fatalf("run %s: %s", r.ID, r.Status)
		}
		if r.MergedInto == "" {
			leads = append(leads, r.ID)
			if r.Trigger != "webhook" || r.Requester != "webhook" || len(r.Tickets) == 0 || r.Tickets[0] != p.TicketID {
				t.Fatalf("lead run %+v", r)
			}
		}
	}
	// Two merged runs: MaxMerged tickets, then the rest.
	if !slices.Equal(leads, []string{"run-000", fmt.Sprintf("run-%03d", engine.MaxMerged)}) {
		t.Fatalf("runs that did the work: %v", leads)
	}
	if r, _ := h.st.GetRun(ctx, "run-001"); r.MergedInto != "run-000" {
		t.Fatalf("run-001 merged into %q", r.MergedInto)
	}

	// Lease free: the hand-off carries the run out itself.
	h.zs.UpdateEntry(entries[100], func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("25") })
	if err := h.eng.HandOff(ctx, h.profile.ID, []store.PendingRun{{RunID: "run-again", TicketID: 100}}); err != nil {
		t.Fatal(err)
	}
	if got := h.sheetsByEntry()[entries[100]]; len(got) != 1 || got[0].Duration != 25*60 {
		t.Fatalf("immediate hand-off: %+v", got)
	}

	// Kimai failing: the merged run fails and its run goes back.
	h.zs.UpdateEntry(entries[101], func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("35") })
	h.ks.SetFaults(kimaisim.Faults{ErrorRate: 1})
	if err := h.eng.HandOff(ctx, h.profile.ID, []store.PendingRun{{RunID: "run-failing", TicketID: 101}}); err != nil {
		t.Fatal(err)
	}
	if more, _ := h.st.HasPending(ctx, h.profile.ID); !more {
		t.Fatal("a transiently failed merged run was not put back")
	}
	h.ks.SetFaults(kimaisim.Faults{})
	h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid })
	if got := h.sheetsByEntry()[entries[101]]; len(got) != 1 || got[0].Duration != 35*60 {
		t.Fatalf("after the retry: %+v", got)
	}
	if r, err := h.st.GetRun(ctx, "run-failing"); err != nil || r.Status != tb.RunSucceeded {
		t.Fatalf("retried run %+v %v", r, err)
	}

	// A dry run holds the lease too, so it drains like any other run.
	h.zs.UpdateEntry(entries[102], func(e *zammadsim.Entry) { e.TimeUnit = decimal.MustParse("45") })
	if _, ok, err := h.st.TakeLease(ctx, lease, "elsewhere", time.Minute); err != nil || !ok {
		t.Fatalf("take lease: %v %v", ok, err)
	}
	if err := h.eng.HandOff(ctx, h.profile.ID, []store.PendingRun{{RunID: "run-during-preview", TicketID: 102}}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.EndLease(ctx, lease, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	h.run(tb.ModeTicket, func(r *engine.Request) { r.TicketID = tid; r.DryRun = true })
	if got := h.sheetsByEntry()[entries[102]]; len(got) != 1 || got[0].Duration != 45*60 {
		t.Fatalf("drained by a dry run: %+v", got)
	}
}
