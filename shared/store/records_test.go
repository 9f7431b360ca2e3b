package store_test

import (
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestEntryRecords: records round-trip; a ticket's records and a period's
// records are found by their keys (day bounds inclusive); deletes remove
// them; DeleteProfileData removes them all.
func TestEntryRecords(t *testing.T) {
	f := newFixture(t)
	c := ctx(t)
	rec := func(entry, ticket int64, day string) tb.EntryRecord {
		return tb.EntryRecord{ProfileID: "p", EntryID: entry, TicketID: ticket, TicketNumber: "5300", TicketTitle: "T", Day: day,
			AgentID: 3, Agent: "Chris", CustomerID: 1, Customer: "Acme", ProjectID: 2, Project: "P", ActivityID: 4, Activity: "A",
			Zammad: 60 * entry, Written: 60 * entry, Kimai: 61 * entry, Status: tb.RecordSynced, Reason: "r", TimesheetID: 100 + entry,
			Exported: entry%2 == 0, KimaiGone: entry == 5}
	}
	recs := []tb.EntryRecord{rec(1, 50, "2026-03-01"), rec(2, 50, "2026-03-02"), rec(3, 51, "2026-03-02"), rec(4, 51, "2026-03-31"),
		rec(5, 52, "2026-04-01"), rec(12, 5, "2026-03-15")}
	noErr(t, f.st.WriteRecords(c, recs, nil))
	got, err := f.st.TicketRecords(c, "p", 50)
	noErr(t, err)
	if len(got) != 2 || got[0] != recs[0] || got[1] != recs[1] {
		t.Fatalf("ticket 50: %+v", got)
	}
	// Ticket 5's key must not be a prefix match of ticket 50's.
	if got, _ := f.st.TicketRecords(c, "p", 5); len(got) != 1 || got[0].EntryID != 12 {
		t.Fatalf("ticket 5: %+v", got)
	}
	march, err := f.st.RecordsByDay(c, "p", "2026-03-02", "2026-03-31")
	noErr(t, err)
	ids := map[int64]bool{}
	for _, r := range march {
		ids[r.EntryID] = true
	}
	if len(march) != 4 || !ids[2] || !ids[3] || !ids[4] || !ids[12] {
		t.Fatalf("2..31 March: %+v", march)
	}
	noErr(t, f.st.WriteRecords(c, nil, []tb.EntryRecord{recs[1]}))
	if got, _ := f.st.TicketRecords(c, "p", 50); len(got) != 1 {
		t.Fatalf("after the delete: %+v", got)
	}
	all, err := f.st.AllRecords(c, "p")
	noErr(t, err)
	if len(all) != 5 {
		t.Fatalf("%d records", len(all))
	}
	if err := f.st.WriteRecords(c, []tb.EntryRecord{{ProfileID: "p", EntryID: 9, TicketID: 1}}, nil); err == nil {
		t.Fatal("a record without a day was stored")
	}

	// The observation instant never moves back.
	if at, err := f.st.Observed(c, "p"); err != nil || !at.IsZero() {
		t.Fatalf("observed before any run: %v %v", at, err)
	}
	t1 := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	noErr(t, f.st.SetObserved(c, "p", t1))
	noErr(t, f.st.SetObserved(c, "p", t1.Add(-time.Hour)))
	if at, _ := f.st.Observed(c, "p"); !at.Equal(t1) {
		t.Fatalf("observed %v, want %v", at, t1)
	}

	noErr(t, f.st.DeleteProfileData(c, "p"))
	if all, _ := f.st.AllRecords(c, "p"); len(all) != 0 {
		t.Fatalf("%d records after DeleteProfileData", len(all))
	}
	if at, _ := f.st.Observed(c, "p"); !at.IsZero() {
		t.Fatalf("observation left after DeleteProfileData: %v", at)
	}
}

// TestRecordCodec: every field survives the bucket encoding; damaged data
// is refused, never half read.
func TestRecordCodec(t *testing.T) {
	recs := []tb.EntryRecord{
		filled[tb.EntryRecord](),
		{EntryID: -1, TicketID: 1 << 62, Zammad: -3600, Day: "2026-03-02", Status: tb.RecordConflict, KimaiGone: true},
		{},
	}
	for i := range recs {
		recs[i].ProfileID = "p"
	}
	data, err := store.EncodeRecords(recs)
	noErr(t, err)
	got, err := store.DecodeRecords(data, "p")
	noErr(t, err)
	if len(got) != len(recs) {
		t.Fatalf("%d records back", len(got))
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Fatalf("record %d:\n%+v\nwant\n%+v", i, got[i], recs[i])
		}
	}
	for cut := 1; cut < len(data); cut += 7 {
		if _, err := store.DecodeRecords(data[:cut], "p"); err == nil {
			t.Fatalf("a bucket cut to %d of %d bytes decoded", cut, len(data))
		}
	}
}
