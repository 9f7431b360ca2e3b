package store_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// auditEvents makes 300 events, one per minute from t0: profiles p0, p1, p2
// and "" (global) in turn, types a.created / b.updated / c.deleted in turn.
func auditEvents() []timebridge.AuditEvent {
	profiles := []string{"p0", "p1", "p2", ""}
	types := []string{"a.created", "b.updated", "c.deleted"}
	evs := make([]timebridge.AuditEvent, 300)
	for i := range evs {
		evs[i] = timebridge.AuditEvent{
			Time:      t0.Add(time.Duration(i) * time.Minute),
			ProfileID: profiles[i%4],
			Type:      types[i%3],
			Actor:     "engine",
			Subject:   fmt.Sprintf("entry/%d", i),
			Before:    map[string]any{"n": i},
			After:     map[string]any{"n": i + 1},
		}
	}
	return evs
}

// listAll pages through ListAudit and checks the page sizes.
func listAll(t *testing.T, f *fixture, q timebridge.AuditQuery) []timebridge.AuditEvent {
	t.Helper()
	var out []timebridge.AuditEvent
	for pages := 0; ; pages++ {
		if pages > 400 {
			t.Fatal("too many pages")
		}
		evs, next, err := f.st.ListAudit(ctx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(evs) != q.Limit {
			t.Fatalf("page %d: %d events with more to come, want %d", pages, len(evs), q.Limit)
		}
		out = append(out, evs...)
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, store.WithAuditRetention(30*24*time.Hour))
	c := ctx(t)
	evs := auditEvents()
	// One call with many events exercises the 25-item batches.
	noErr(t, f.st.AppendAudit(c, evs...))

	// expected returns the indexes of matching events, newest first.
	expected := func(match func(i int, e timebridge.AuditEvent) bool) []string {
		var out []string
		for i := len(evs) - 1; i >= 0; i-- {
			if match(i, evs[i]) {
				out = append(out, evs[i].Subject)
			}
		}
		return out
	}
	subjects := func(es []timebridge.AuditEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Subject)
		}
		return out
	}
	from, to := t0.Add(100*time.Minute), t0.Add(200*time.Minute)
	tests := []struct {
		name  string
		q     timebridge.AuditQuery
		match func(i int, e timebridge.AuditEvent) bool
	}{
		{"all", timebridge.AuditQuery{Limit: 70}, func(int, timebridge.AuditEvent) bool { return true }},
		{"all default limit", timebridge.AuditQuery{}, func(int, timebridge.AuditEvent) bool { return true }},
		{"profile", timebridge.AuditQuery{ProfileID: "p1", Limit: 20}, func(_ int, e timebridge.AuditEvent) bool { return e.ProfileID == "p1" }},
		{"type", timebridge.AuditQuery{Type: "b.updated", Limit: 25}, func(_ int, e timebridge.AuditEvent) bool { return e.Type == "b.updated" }},
		{"profile and type", timebridge.AuditQuery{ProfileID: "p2", Type: "c.deleted", Limit: 7},
			func(_ int, e timebridge.AuditEvent) bool { return e.ProfileID == "p2" && e.Type == "c.deleted" }},
		{"range", timebridge.AuditQuery{From: from, To: to, Limit: 30},
			func(i int, _ timebridge.AuditEvent) bool { return i >= 100 && i < 200 }},
		{"from", timebridge.AuditQuery{From: from, Limit: 64},
			func(i int, _ timebridge.AuditEvent) bool { return i >= 100 }},
		{"to", timebridge.AuditQuery{To: to, Limit: 64},
			func(i int, _ timebridge.AuditEvent) bool { return i < 200 }},
		{"profile range type", timebridge.AuditQuery{ProfileID: "p0", From: from, To: to, Type: "a.created", Limit: 3},
			func(i int, e timebridge.AuditEvent) bool {
				return e.ProfileID == "p0" && e.Type == "a.created" && i >= 100 && i < 200
			}},
		{"nothing", timebridge.AuditQuery{Type: "nope", Limit: 10}, func(int, timebridge.AuditEvent) bool { return false }},
		{"empty range", timebridge.AuditQuery{From: to, To: from}, func(int, timebridge.AuditEvent) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			if q.Limit == 0 {
				q.Limit = store.DefaultAuditPageSize
			}
			got := subjects(listAll(t, f, q))
			want := expected(tc.match)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("got %d events %v…, want %d %v…", len(got), head(got), len(want), head(want))
			}
		})
	}

	// Stored events: ids assigned in time order, before/after as JSON,
	// expires_at from the retention.
	all := listAll(t, f, timebridge.AuditQuery{Limit: 1000})
	if len(all) != 300 {
		t.Fatalf("%d events", len(all))
	}
	ids := make([]string, len(all))
	for i, e := range all {
		ids[i] = e.ID
	}
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] > ids[j] }) {
		t.Fatal("ids are not in time order")
	}
	e := all[0] // newest: index 299
	if e.Time != t0.Add(299*time.Minute) || e.ProfileID != "" || e.Subject != "entry/299" {
		t.Fatalf("newest = %+v", e)
	}
	before, ok := e.Before.(json.RawMessage)
	if !ok || string(before) != `{"n":299}` || string(e.After.(json.RawMessage)) != `{"n":300}` {
		t.Fatalf("before/after = %#v / %#v", e.Before, e.After)
	}
	item := f.raw(t, "AUDIT#-", store.FormatTime(e.Time)+"#"+e.ID)
	if exp, ok := item["expires_at"].(*types.AttributeValueMemberN); !ok || exp.Value != fmt.Sprint(e.Time.Add(30*24*time.Hour).Unix()) {
		t.Fatalf("expires_at = %#v", item["expires_at"])
	}

	// Cursors belong to their query.
	_, next, err := f.st.ListAudit(c, timebridge.AuditQuery{ProfileID: "p1", Limit: 5})
	noErr(t, err)
	_, _, err = f.st.ListAudit(c, timebridge.AuditQuery{ProfileID: "p2", Limit: 5, Cursor: next})
	wantKind(t, err, apperr.Validation)
	_, _, err = f.st.ListAudit(c, timebridge.AuditQuery{Limit: 5, Cursor: next})
	wantKind(t, err, apperr.Validation)
}

func TestAuditIDsAndIdempotence(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	// Same time, no ids: ids still order by creation; no retention: no TTL.
	noErr(t, f.st.AppendAudit(c,
		timebridge.AuditEvent{Type: "x", Subject: "1"},
		timebridge.AuditEvent{Type: "x", Subject: "2"},
		timebridge.AuditEvent{ID: "fixed", Type: "x", Subject: "3", Before: json.RawMessage(`[1,2]`)},
	))
	// Re-appending an event with a fixed id replaces it.
	noErr(t, f.st.AppendAudit(c, timebridge.AuditEvent{ID: "fixed", Type: "x", Subject: "3", Before: json.RawMessage(`[1,2]`)}))
	evs, next, err := f.st.ListAudit(c, timebridge.AuditQuery{})
	noErr(t, err)
	if len(evs) != 3 || next != "" {
		t.Fatalf("events = %+v next=%q", evs, next)
	}
	// Newest first; equal times sort by id descending ("fixed" > ULIDs).
	if evs[0].ID != "fixed" || evs[1].Subject != "2" || evs[2].Subject != "1" || !evs[0].Time.Equal(t0) {
		t.Fatalf("order = %v %v %v", evs[0], evs[1], evs[2])
	}
	if string(evs[0].Before.(json.RawMessage)) != `[1,2]` || evs[1].Before != nil {
		t.Fatalf("before = %#v / %#v", evs[0].Before, evs[1].Before)
	}
	item := f.raw(t, "AUDIT#-", store.FormatTime(t0)+"#fixed")
	if _, ok := item["expires_at"]; ok {
		t.Fatal("expires_at set without retention")
	}
	err = f.st.AppendAudit(c, timebridge.AuditEvent{Type: "x", Before: func() {}})
	wantKind(t, err, apperr.Validation)
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}
