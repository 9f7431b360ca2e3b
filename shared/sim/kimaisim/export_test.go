package kimaisim

import (
	"fmt"
	"testing"
	"time"
)

// TestExportToggle: PATCH /api/timesheets/{id}/export as Kimai's
// exportAction — 404 before 403, edit_export_{own,other}_timesheet to
// toggle, edit_exported_timesheet to un-export, the body ignored, and
// every toggle moves modifiedAt so that modified_after and the exported
// filter see it. An exported record refuses edit and delete without
// edit_exported_timesheet.
func TestExportToggle(t *testing.T) {
	f := newFixture(t)
	mk := func(token string) int64 {
		t.Helper()
		r := f.do(t, "POST", "/api/timesheets", token, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", ""))
		var ts sheetJSON
		r.json(t, &ts)
		return ts.ID
	}
	userSheet, leadSheet := mk(userTok), mk(leadTok)
	export := func(id int64, token string) resp {
		t.Helper()
		return f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d/export", id), token, `{"exported":false}`)
	}
	list := func(q string) []sheetJSON {
		t.Helper()
		var out []sheetJSON
		f.do(t, "GET", "/api/timesheets?user=all&"+q, adminTok, "").json(t, &out)
		return out
	}

	if r := export(userSheet, userTok); r.status != 403 || r.body != `{"code":403,"message":"Forbidden"}` {
		t.Fatalf("ROLE_USER exports own: %d %s", r.status, r.body)
	}
	if r := export(999, userTok); r.status != 404 {
		t.Fatalf("unknown id: %d", r.status)
	}
	for _, p := range []string{"/api/timesheets/x/export", "/api/timesheets/1x/export"} {
		if r := f.do(t, "PATCH", p, adminTok, ""); r.status != 404 {
			t.Fatalf("%s: %d, want 404 (ids are digits)", p, r.status)
		}
	}

	f.clk.Add(time.Minute)
	since := f.clk.Now().UTC().Format("2006-01-02T15:04:05")
	// A team lead may export another user's record (the body's
	// "exported":false is ignored: it is a toggle).
	r := export(userSheet, leadTok)
	var ts sheetJSON
	r.json(t, &ts)
	if r.status != 200 || !ts.Exported {
		t.Fatalf("lead exports: %d %s", r.status, r.body)
	}
	sh, _ := f.s.Sheet(userSheet)
	if !sh.Exported || !sh.ModifiedAt.Equal(f.clk.Now().UTC().Truncate(time.Second)) {
		t.Fatalf("stored %+v", sh)
	}
	if got := list("modified_after=" + since); len(got) != 1 || got[0].ID != userSheet {
		t.Fatalf("modified_after after the toggle: %+v", got)
	}
	if got := list("exported=1"); len(got) != 1 || got[0].ID != userSheet {
		t.Fatalf("exported=1: %+v", got)
	}
	if got := list("exported=0"); len(got) != 1 || got[0].ID != leadSheet {
		t.Fatalf("exported=0: %+v", got)
	}

	// Exported: locked for those without edit_exported_timesheet.
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"PATCH", "/export", leadTok, "", 403},
		{"PATCH", "", leadTok, `{"description":"x"}`, 403},
		{"DELETE", "", leadTok, "", 403},
		{"PATCH", "", userTok, `{"description":"x"}`, 403},
		{"DELETE", "", userTok, "", 403},
	} {
		if r := f.do(t, c.method, fmt.Sprintf("/api/timesheets/%d%s", userSheet, c.path), c.token, c.body); r.status != c.want {
			t.Fatalf("%s %s as %s on exported: %d, want %d", c.method, c.path, c.token, r.status, c.want)
		}
	}
	// The admin un-exports it; then the lead may edit again.
	f.clk.Add(time.Minute)
	r = export(userSheet, adminTok)
	r.json(t, &ts)
	if r.status != 200 || ts.Exported {
		t.Fatalf("admin un-exports: %d %s", r.status, r.body)
	}
	if sh, _ := f.s.Sheet(userSheet); !sh.ModifiedAt.Equal(f.clk.Now().UTC().Truncate(time.Second)) {
		t.Fatal("un-export did not move modifiedAt")
	}
	if r := f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d", userSheet), leadTok, `{"description":"x"}`); r.status != 200 {
		t.Fatalf("lead edits after un-export: %d", r.status)
	}
	if n := f.s.Requests()["PATCH /api/timesheets/{id}/export"]; n < 4 {
		t.Fatalf("export requests counted %d", n)
	}
}

// TestFaultOnly: one spec slows every request and fails only the first n
// creates, without committing them (what make dev's -sim-latency and
// -sim-fail-creates use).
func TestFaultOnly(t *testing.T) {
	f := newFixture(t)
	creates := func(method, path string) bool { return method == "POST" && path == "/api/timesheets" }
	f.s.SetFaults(Faults{Latency: 20 * time.Millisecond, ErrorRate: 1, Max: 2, FaultOnly: creates})
	start := time.Now()
	if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 200 || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("ping: %d after %v", r.status, time.Since(start))
	}
	body := f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", "")
	var got []int
	for range 3 {
		got = append(got, f.do(t, "POST", "/api/timesheets", userTok, body).status)
	}
	if fmt.Sprint(got) != "[500 500 200]" || len(f.s.Timesheets()) != 1 || f.s.FaultsInjected() != 2 {
		t.Fatalf("creates %v, %d stored, %d faults", got, len(f.s.Timesheets()), f.s.FaultsInjected())
	}
}
