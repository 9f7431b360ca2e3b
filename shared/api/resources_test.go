package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestMappings(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("P")["id"].(string)
	base := "/api/profiles/" + pid + "/mappings"

	var l list[tb.Mapping]
	h.do("GET", base, nil).want(t, 200).decode(t, &l)
	if l.Items == nil || len(l.Items) != 0 {
		t.Fatalf("empty list %s", h.do("GET", base, nil).body)
	}
	for _, m := range []map[string]any{
		{"kind": "activity", "source_id": "3", "target_id": 11},
		{"kind": "customer", "source_id": "0", "target_id": 12},
		{"kind": "project", "source_id": "group-2-org-5", "target_id": 13},
		{"kind": "user", "source_id": "7", "target_id": 14},
		{"kind": "user", "source_id": "7", "target_id": 15}, // replaces
	} {
		got := h.do("PUT", base, m).want(t, 200).obj(t)
		if got["profile_id"] != pid || got["target_id"] != float64(m["target_id"].(int)) {
			t.Fatalf("put %v", got)
		}
	}
	h.do("GET", base, nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 4 {
		t.Fatalf("mappings %+v", l.Items)
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"kind": "team", "source_id": "1", "target_id": 1}, "kind"},
		{map[string]any{"source_id": "1", "target_id": 1}, "kind"},
		{map[string]any{"kind": "activity", "source_id": "abc", "target_id": 1}, "source_id"},
		{map[string]any{"kind": "activity", "source_id": 3, "target_id": 1}, "source_id"},
		{map[string]any{"kind": "project", "source_id": "org-x", "target_id": 1}, "source_id"},
		{map[string]any{"kind": "project", "source_id": "7", "target_id": 1}, "source_id"},
		{map[string]any{"kind": "activity", "source_id": "3", "target_id": 0}, "target_id"},
		{map[string]any{"kind": "activity", "source_id": "3", "target_id": "9"}, "target_id"},
		{map[string]any{"kind": "activity", "source_id": "3", "target_id": 1, "note": "x"}, "note"},
	} {
		h.do("PUT", base, c.body).wantError(t, 400, apperr.CodeValidation, c.field)
	}
	h.do("PUT", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/mappings", map[string]any{"kind": "activity", "source_id": "3", "target_id": 1}).want(t, 404)
	h.do("GET", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/mappings", nil).want(t, 404)

	h.do("DELETE", base+"/project/group-2-org-5", nil).want(t, 204)
	h.do("DELETE", base+"/project/group-2-org-5", nil).want(t, 404)
	h.do("DELETE", base+"/team/3", nil).wantError(t, 400, apperr.CodeValidation, "kind")
	h.do("DELETE", base+"/activity/x", nil).wantError(t, 400, apperr.CodeValidation, "source_id")
	h.do("GET", base, nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 3 {
		t.Fatalf("after delete %+v", l.Items)
	}
	types := h.auditTypes(pid)
	if n := strings.Count(strings.Join(types, " "), "mapping.saved"); n != 5 || !slices.Contains(types, "mapping.deleted") {
		t.Fatalf("audit %v", types)
	}
}

func TestRuns(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("P")["id"].(string)
	runs := "/api/profiles/" + pid + "/runs"

	r := h.do("POST", runs, map[string]any{"mode": "incremental"}).want(t, 202)
	acc := r.obj(t)
	id := acc["id"].(string)
	if acc["status"] != "queued" || len(acc) != 2 || r.header.Get("Location") != "/api/runs/"+id {
		t.Fatalf("accepted %v %v", acc, r.header)
	}
	msgs := h.sink.Sent()
	if len(msgs) != 1 || msgs[0].RunID != id || msgs[0].ProfileID != pid || msgs[0].Trigger != "manual" ||
		msgs[0].Actor != adminUser || msgs[0].Mode != tb.ModeIncremental {
		t.Fatalf("queued %+v", msgs)
	}
	got := h.do("GET", "/api/runs/"+id, nil).want(t, 200).obj(t)
	if got["status"] != "queued" || got["trigger"] != "manual" || got["requester"] != adminUser || got["dry_run"] != false {
		t.Fatalf("run %v", got)
	}

	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h.do("POST", runs, map[string]any{"mode": "range", "from": from.Format(time.RFC3339), "to": from.AddDate(0, 1, 0).Format(time.RFC3339), "dry_run": true}).want(t, 202)
	m := h.sink.Sent()[1]
	if m.Mode != tb.ModeRange || !m.DryRun || m.From == nil || !m.From.Equal(from) || !m.To.Equal(from.AddDate(0, 1, 0)) {
		t.Fatalf("range message %+v", m)
	}
	h.do("POST", runs, map[string]any{"mode": "full"}).want(t, 202)

	day := func(d int) string { return from.AddDate(0, 0, d).Format(time.RFC3339) }
	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{}, "mode"},
		{map[string]any{"mode": "ticket"}, "mode"},
		{map[string]any{"mode": "fast"}, "mode"},
		{map[string]any{"mode": "range", "to": day(1)}, "from"},
		{map[string]any{"mode": "range", "from": day(1)}, "to"},
		{map[string]any{"mode": "range", "from": day(2), "to": day(1)}, "to"},
		{map[string]any{"mode": "range", "from": day(1), "to": day(1)}, "to"},
		{map[string]any{"mode": "range", "from": day(0), "to": day(367)}, "to"},
		{map[string]any{"mode": "range", "from": "2025-01-01", "to": day(1)}, "from"},
		{map[string]any{"mode": "range", "from": 5, "to": day(1)}, "from"},
		{map[string]any{"mode": "range", "from": "0001-01-01T00:00:00Z", "to": "0001-02-01T00:00:00Z"}, "from"},
		{map[string]any{"mode": "range", "from": "9999-01-01T00:00:00Z", "to": "9999-02-01T00:00:00Z"}, "to"},
		{map[string]any{"mode": "full", "from": day(0)}, "from"},
		{map[string]any{"mode": "full", "dry_run": "yes"}, "dry_run"},
		{map[string]any{"mode": "full", "ticket_id": 5}, "ticket_id"},
	} {
		h.do("POST", runs, c.body).wantError(t, 400, apperr.CodeValidation, c.field)
	}
	h.do("POST", runs, map[string]any{"mode": "range", "from": day(0), "to": day(366)}).want(t, 202)
	h.do("POST", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/runs", map[string]any{"mode": "full"}).want(t, 404)
	h.do("GET", "/api/runs/01JQ7Z3M2Y8K4T6V9B1C5D7F0H", nil).want(t, 404)
	h.do("GET", "/api/runs/a%2Fb", nil).wantError(t, 400, apperr.CodeValidation, "id")

	// A failing queue: 502, and the run is recorded as failed.
	h.sink.Fail(apperr.New(apperr.Upstream, "queue: send", "The run could not be queued; try again in a moment."))
	h.do("POST", runs, map[string]any{"mode": "full"}).wantError(t, 502, apperr.CodeUpstream, "")
	h.sink.Fail(nil)
	var pg page[tb.Run]
	h.do("GET", "/api/runs?profile_id="+pid, nil).want(t, 200).decode(t, &pg)
	if len(pg.Items) != 5 || pg.Items[0].Status != tb.RunFailed || pg.NextCursor != "" {
		t.Fatalf("runs %+v", pg)
	}
	for _, q := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=201", "limit"}, {"limit=x", "limit"}, {"profile_id=a$b", "profile_id"},
		{"cursor=%%%", "query"}, {"cursor=notbase64!", "cursor"}, {"profile_id=" + pid + "&cursor=bm9wZQ", "cursor"},
		{"sort=asc", "sort"}, {"limit=1&limit=2", "limit"},
	} {
		h.do("GET", "/api/runs?"+q.query, nil).wantError(t, 400, apperr.CodeValidation, q.field)
	}
	h.do("GET", "/api/runs?profile_id=01JQ7Z3M2Y8K4T6V9B1C5D7F0H", nil).want(t, 404)
}

// TestRunsAcrossProfiles pages through the list of several profiles' runs
// (GET /api/runs without profile_id) and checks order and completeness; a
// cursor of one profile's list is refused there.
func TestRunsAcrossProfiles(t *testing.T) {
	h := newHarness(t)
	var pids []string
	for i := 0; i < 3; i++ {
		pids = append(pids, h.createProfile(fmt.Sprint("P", i))["id"].(string))
	}
	// 3 profiles with 9, 4 and 0 runs, interleaved in time.
	want := map[string]bool{}
	for i := 0; i < 13; i++ {
		pid := pids[0]
		if i%3 == 1 {
			pid = pids[1]
		}
		h.clock.Add(time.Second)
		id := h.do("POST", "/api/profiles/"+pid+"/runs", map[string]any{"mode": "incremental"}).want(t, 202).obj(t)["id"].(string)
		want[id] = true
	}
	for _, limit := range []int{1, 2, 5, 13, 50} {
		var all []tb.Run
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("too many pages")
			}
			q := fmt.Sprintf("/api/runs?limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			var pg page[tb.Run]
			h.do("GET", q, nil).want(t, 200).decode(t, &pg)
			if len(pg.Items) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(pg.Items))
			}
			all = append(all, pg.Items...)
			if pg.NextCursor == "" {
				break
			}
			cursor = pg.NextCursor
		}
		if len(all) != len(want) {
			t.Fatalf("limit %d: %d runs, want %d", limit, len(all), len(want))
		}
		seen := map[string]bool{}
		for i, r := range all {
			if !want[r.ID] || seen[r.ID] {
				t.Fatalf("limit %d: unexpected or repeated run %s", limit, r.ID)
			}
			seen[r.ID] = true
			if i > 0 && r.QueuedAt.After(all[i-1].QueuedAt) {
				t.Fatalf("limit %d: not newest first at %d", limit, i)
			}
		}
	}
	var pg page[tb.Run]
	h.do("GET", "/api/runs?limit=1&profile_id="+pids[0], nil).want(t, 200).decode(t, &pg)
	h.do("GET", "/api/runs?cursor="+pg.NextCursor, nil).wantError(t, 400, apperr.CodeValidation, "cursor")
	h.do("GET", "/api/runs?cursor=notbase64!", nil).wantError(t, 400, apperr.CodeValidation, "cursor")
}

func TestConflicts(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("P")["id"].(string)
	other := h.createProfile("Q")["id"].(string)
	c1 := h.putConflict(pid, 1, tb.ConflictEditedInKimai)
	h.putConflict(pid, 2, tb.ConflictUnmappedActivity)
	h.putConflict(other, 3, tb.ConflictLockedInKimai)

	var l list[conflictView]
	h.do("GET", "/api/conflicts", nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 3 {
		t.Fatalf("all conflicts %d", len(l.Items))
	}
	h.do("GET", "/api/conflicts?profile_id="+pid+"&status=open", nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 2 {
		t.Fatalf("profile conflicts %d", len(l.Items))
	}
	h.do("GET", "/api/conflicts?status=closed", nil).wantError(t, 400, apperr.CodeValidation, "status")
	h.do("GET", "/api/conflicts?profile_id=01JQ7Z3M2Y8K4T6V9B1C5D7F0H", nil).want(t, 404)

	got := h.do("GET", "/api/conflicts/"+c1.ID, nil).want(t, 200).obj(t)
	if acts := got["actions"].([]any); len(acts) != 3 || acts[0] != "use_zammad" {
		t.Fatalf("actions %v", got["actions"])
	}
	h.do("GET", "/api/conflicts/"+pid+".999", nil).want(t, 404)
	h.do("GET", "/api/conflicts/nodot", nil).wantError(t, 400, apperr.CodeValidation, "id")

	res := "/api/conflicts/" + c1.ID + "/resolve"
	h.do("POST", res, map[string]any{}).wantError(t, 400, apperr.CodeValidation, "action")
	h.do("POST", res, map[string]any{"action": "ignore"}).wantError(t, 400, apperr.CodeValidation, "action")
	h.do("POST", res, map[string]any{"action": "retry"}).wantError(t, 400, apperr.CodeValidation, "action") // not for edited_in_kimai
	h.do("POST", "/api/conflicts/"+pid+".999/resolve", map[string]any{"action": "skip"}).want(t, 404)
	if len(h.resolver.calls) != 0 {
		t.Fatalf("resolver called for refused requests: %v", h.resolver.calls)
	}
	after := h.do("POST", res, map[string]any{"action": "keep_kimai"}).want(t, 200).obj(t)
	if after["status"] != "resolved" || after["resolution"] != "keep_kimai" || after["resolved_by"] != adminUser || len(after["actions"].([]any)) != 0 {
		t.Fatalf("resolved %v", after)
	}
	if h.resolver.calls[0] != c1.ID+" keep_kimai admin" {
		t.Fatalf("resolver calls %v", h.resolver.calls)
	}
	e := h.do("POST", res, map[string]any{"action": "skip"}).wantError(t, 409, apperr.CodeConflict, "")
	if !strings.Contains(e.Message, "already resolved") {
		t.Fatalf("message %q", e.Message)
	}

	// Engine failures: an upstream refusal is upstream_error, a busy profile a conflict.
	c2 := h.putConflict(pid, 4, tb.ConflictUnmappedCustomer)
	h.resolver.err = apperr.New(apperr.Auth, "kimai: create timesheet", "The Kimai API token is invalid or expired.")
	h.do("POST", "/api/conflicts/"+c2.ID+"/resolve", map[string]any{"action": "retry"}).wantError(t, 502, apperr.CodeUpstream, "")
	h.resolver.err = apperr.Wrap(errors.New("busy"), apperr.Conflict, "engine: resolve", "A run of this profile is in progress; try again in a moment.")
	h.do("POST", "/api/conflicts/"+c2.ID+"/resolve", map[string]any{"action": "skip"}).wantError(t, 409, apperr.CodeConflict, "")
	types := h.auditTypes(pid)
	if n := strings.Count(strings.Join(types, " "), "conflict.resolve_requested"); n != 3 {
		t.Fatalf("audit %v", types)
	}
}

func TestAudit(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid := h.createProfile("P")["id"].(string)
	t0 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	var evs []tb.AuditEvent
	for i := 0; i < 25; i++ {
		typ := "timesheet.created"
		if i%5 == 0 {
			typ = "conflict.opened"
		}
		evs = append(evs, tb.AuditEvent{Time: t0.Add(time.Duration(i) * time.Minute), ProfileID: pid, Actor: "engine", Type: typ, Subject: fmt.Sprint("entry ", i)})
	}
	if err := h.st.AppendAudit(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	var all []tb.AuditEvent
	cursor := ""
	for {
		q := "/api/audit?profile_id=" + pid + "&from=" + t0.Format(time.RFC3339) + "&to=" + t0.Add(time.Hour).Format(time.RFC3339) + "&limit=10"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var pg page[tb.AuditEvent]
		h.do("GET", q, nil).want(t, 200).decode(t, &pg)
		all = append(all, pg.Items...)
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if len(all) != 25 || all[0].Subject != "entry 24" || all[24].Subject != "entry 0" {
		t.Fatalf("paged audit: %d events, first %v", len(all), all[0])
	}
	var pg page[tb.AuditEvent]
	h.do("GET", "/api/audit?profile_id="+pid+"&type=conflict.opened", nil).want(t, 200).decode(t, &pg)
	if len(pg.Items) != 5 {
		t.Fatalf("type filter: %d", len(pg.Items))
	}
	h.do("GET", "/api/audit", nil).want(t, 200).decode(t, &pg)
	if len(pg.Items) < 25 || pg.Items[0].Type != "profile.created" {
		t.Fatalf("global log: %d, newest %v", len(pg.Items), pg.Items[0])
	}
	for _, q := range []struct{ query, field string }{
		{"from=yesterday", "from"}, {"to=2025-13-01T00:00:00Z", "to"},
		{"from=2025-02-02T00:00:00Z&to=2025-02-01T00:00:00Z", "to"},
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"cursor=garbage", "cursor"},
		{"profile_id=%23x", "profile_id"}, {"actor=admin", "actor"},
	} {
		h.do("GET", "/api/audit?"+q.query, nil).wantError(t, 400, apperr.CodeValidation, q.field)
	}
}

// TestConflictsPaging: the conflicts list answers in bounded pages.
func TestConflictsPaging(t *testing.T) {
	h := newHarness(t)
	pid := h.createProfile("Support")["id"].(string)
	for e := int64(1); e <= 250; e++ {
		h.putConflict(pid, e, tb.ConflictUnmappedActivity)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var pg page[conflictView]
		path := "/api/conflicts?status=open&limit=100&profile_id=" + pid
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		h.do("GET", path, nil).want(t, 200).decode(t, &pg)
		pages++
		if len(pg.Items) > 100 {
			t.Fatalf("page of %d", len(pg.Items))
		}
		for _, c := range pg.Items {
			seen[c.ID] = true
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if pages != 3 || len(seen) != 250 {
		t.Fatalf("%d pages, %d distinct conflicts", pages, len(seen))
	}
	h.do("GET", "/api/conflicts?cursor=bogus", nil).wantError(t, 400, apperr.CodeValidation, "cursor")
	h.do("GET", "/api/conflicts?limit=501", nil).wantError(t, 400, apperr.CodeValidation, "limit")
}
