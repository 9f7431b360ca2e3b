package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/testkit/kumotest"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/devstack"
)

// TestEndToEnd runs the local stack (kumo with the template's resources,
// the four real bootstrap binaries on kumo's Lambda runtime API, the SQS and
// schedule glue, the HTTP front) and uses it only over HTTP, as a user and
// Zammad would: log in, create connectors and a profile, map an activity,
// sync through the queue, send a signed webhook, resolve a conflict, read
// the audit log.
func TestEndToEnd(t *testing.T) {
	kumotest.KumoOnly(t)
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	bin := os.Getenv("TIMEBRIDGE_KUMO_BIN")
	if bin == "" {
		bin = filepath.Join(root, "bin", "kumo")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("TIMEBRIDGE_REQUIRE_KUMO") != "" {
			t.Fatalf("kumo binary missing (%s): run make kumo", bin)
		}
		t.Skip("kumo binary missing: run make kumo")
	}
	ctx := context.Background()
	start := time.Now()
	logs := &testkit.Buffer{}
	s, err := devstack.Start(ctx, devstack.Options{Root: root, KumoBin: bin, KumoPort: freePort(t),
		HTTPAddr: "127.0.0.1:0", ZammadAddr: "127.0.0.1:0", KimaiAddr: "127.0.0.1:0", AdminPassword: "e2e-password-1",
		ScheduleEvery: time.Hour, Output: logs})
	if err != nil {
		t.Fatal(err)
	}
	// Every secret this run uses; none may appear in the functions' logs.
	secrets := map[string]string{"admin password": "e2e-password-1", "Zammad token": s.ZammadToken, "Kimai token": s.KimaiToken}
	defer func() {
		s.Close() // flushes the functions' output
		scanLogs(t, logs.String(), secrets)
	}()
	t.Logf("stack up in %v at %s", time.Since(start).Round(time.Millisecond), s.URL)

	c := &client{t: t, base: s.URL}
	c.do("GET", "/api/health", nil, 200, nil)
	c.do("GET", "/api/connectors", nil, 401, nil)
	c.do("POST", "/api/auth/login", map[string]string{"username": "admin", "password": "wrong"}, 401, nil)
	var login struct {
		Token       string
		DeviceToken string `json:"device_token"`
	}
	c.do("POST", "/api/auth/login", map[string]string{"username": "admin", "password": "e2e-password-1"}, 200, &login)
	c.token = login.Token
	secrets["session token"], secrets["device token"] = login.Token, login.DeviceToken

	// Connectors to the simulators, tested.
	var zc, kc struct{ ID string }
	c.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "Zammad", "base_url": s.ZammadURL, "token": s.ZammadToken}, 201, &zc)
	c.do("POST", "/api/connectors", map[string]any{"kind": "kimai", "name": "Kimai", "base_url": s.KimaiURL, "token": s.KimaiToken}, 201, &kc)
	for _, id := range []string{zc.ID, kc.ID} {
		var res struct{ OK bool }
		c.do("POST", "/api/connectors/"+id+"/test", nil, 200, &res)
		if !res.OK {
			t.Fatalf("connector %s test failed", id)
		}
	}
	// A profile and an activity mapping.
	var prof struct {
		ID            string `json:"id"`
		WebhookURL    string `json:"webhook_url"`
		WebhookSecret string `json:"webhook_secret"`
	}
	c.do("POST", "/api/profiles", map[string]any{"name": "Support", "zammad_connector_id": zc.ID, "kimai_connector_id": kc.ID,
		"enabled": true, "auto_create_customers": true, "auto_create_projects": true, "auto_create_activities": true}, 201, &prof)
	secrets["webhook secret"] = prof.WebhookSecret
	if !strings.HasPrefix(prof.WebhookURL, s.URL+"/webhooks/zammad/") || prof.WebhookSecret == "" {
		t.Fatalf("profile %+v", prof)
	}
	act := s.Kimai.AddActivity(kimaisim.Activity{Name: "Mapped support"})
	typeID := s.Zammad.Entries()[0].TypeID
	if typeID == 0 {
		typeID = 1
	}
	c.do("PUT", "/api/profiles/"+prof.ID+"/mappings", map[string]any{"kind": "activity", "source_id": fmt.Sprint(typeID), "target_id": act.ID}, 200, nil)

	// A full sync through the queue.
	run := c.runAndWait(prof.ID, map[string]any{"mode": "full"})
	if run.Counts.Created == 0 || run.Counts.Errors != 0 {
		t.Fatalf("full run %+v", run)
	}
	if n := len(s.Kimai.Timesheets()); n != run.Counts.Created {
		t.Fatalf("Kimai holds %d timesheets, run created %d", n, run.Counts.Created)
	}
	mapped := 0
	for _, ts := range s.Kimai.Timesheets() {
		if ts.ActivityID == act.ID {
			mapped++
		}
	}
	if mapped == 0 {
		t.Fatal("the activity mapping was not used")
	}

	// A signed webhook for a ticket with a new entry.
	e := s.Zammad.Entries()[0]
	added := s.Zammad.AddEntry(zammadsim.Entry{TicketID: e.TicketID, CreatedByID: e.CreatedByID, TypeID: e.TypeID,
		TimeUnit: decimal.MustParse("25"), CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()})
	runID := c.webhook(s, prof.WebhookURL, prof.WebhookSecret, e.TicketID, "delivery-1", 202)
	c.webhook(s, prof.WebhookURL, prof.WebhookSecret, e.TicketID, "delivery-1", 200) // redelivery: accepted, not queued
	c.webhook(s, prof.WebhookURL, "wrong-secret", e.TicketID, "delivery-2", 401)
	wr := c.waitRun(runID)
	if wr.Trigger != "webhook" || wr.Counts.Created != 1 {
		t.Fatalf("webhook run %+v", wr)
	}
	sheet := sheetOf(t, s, added.ID)

	// The functions' metrics (EMF lines on stdout, as CloudWatch Logs
	// receives them): the full run's counts and upstream requests, and the
	// three deliveries' outcomes.
	fullRun := emfDoc(t, logs, "reconcile", func(m map[string]any) bool { return m["RunId"] == run.ID })
	checkEMF(t, fullRun, [][]string{{"ProfileId"}, {}})
	for name, want := range map[string]int{"RunsFinished": 1, "EntriesSeen": run.Counts.Seen, "EntriesCreated": run.Counts.Created,
		"EntriesUpdated": run.Counts.Updated, "EntriesDeleted": run.Counts.Deleted, "ConflictsOpened": run.Counts.Conflicts, "ItemsFailed": run.Counts.Errors,
		"OpenConflicts": run.Counts.Conflicts} {
		if got, _ := fullRun[name].(float64); int(got) != want {
			t.Errorf("metric %s = %v, the run's count is %d", name, fullRun[name], want)
		}
	}
	if fullRun["ProfileId"] != prof.ID {
		t.Errorf("the run's metrics are for profile %v", fullRun["ProfileId"])
	}
	for _, name := range []string{"KimaiRequests", "ZammadRequests"} {
		if n, _ := fullRun[name].(float64); n < 1 {
			t.Errorf("metric %s = %v: the run's requests were not recorded", name, fullRun[name])
		}
	}
	outcomes := map[string]float64{}
	for _, d := range emfDocs(logs, "webhook") {
		checkEMF(t, d, [][]string{{"Outcome"}, {}})
		outcomes[d["Outcome"].(string)] += d["WebhookDeliveries"].(float64)
	}
	if outcomes["accepted"] < 1 || outcomes["duplicate"] != 1 || outcomes["rejected"] < 1 {
		t.Errorf("webhook delivery metrics %v", outcomes)
	}

	// A conflict: edited in Kimai, then changed in Zammad.
	s.Kimai.EditTimesheet(sheet.ID, func(sh *kimaisim.Sheet) { sh.Description += " (reviewed)" })
	s.Zammad.UpdateEntry(added.ID, func(en *zammadsim.Entry) { en.TimeUnit = decimal.MustParse("40") })
	c.waitRun(c.webhook(s, prof.WebhookURL, prof.WebhookSecret, e.TicketID, "delivery-3", 202))
	var conflicts struct {
		Items []struct {
			ID      string   `json:"id"`
			Kind    string   `json:"kind"`
			EntryID int64    `json:"entry_id"`
			Actions []string `json:"actions"`
		} `json:"items"`
	}
	c.do("GET", "/api/conflicts?profile_id="+prof.ID+"&status=open", nil, 200, &conflicts)
	if len(conflicts.Items) != 1 || conflicts.Items[0].Kind != "edited_in_kimai" || conflicts.Items[0].EntryID != added.ID {
		t.Fatalf("conflicts %+v", conflicts)
	}
	var resolved struct{ Status, Resolution string }
	c.do("POST", "/api/conflicts/"+conflicts.Items[0].ID+"/resolve", map[string]string{"action": "use_zammad"}, 200, &resolved)
	if resolved.Status != "resolved" || resolved.Resolution != "use_zammad" {
		t.Fatalf("resolved %+v", resolved)
	}
	if got := sheetOf(t, s, added.ID); got.Duration != 40*60 {
		t.Fatalf("use_zammad left duration %d", got.Duration)
	}

	// The audit log tells the story.
	var audit struct {
		Items []struct{ Type, Actor string } `json:"items"`
	}
	c.do("GET", "/api/audit?profile_id="+prof.ID+"&limit=200", nil, 200, &audit)
	seen := map[string]bool{}
	for _, ev := range audit.Items {
		seen[ev.Type] = true
	}
	for _, want := range []string{"timesheet.created", "conflict.opened", "conflict.resolved", "timesheet.updated"} {
		if !seen[want] {
			t.Errorf("audit lacks %s (has %v)", want, seen)
		}
	}
	var filtered struct {
		Items []struct{ Type string } `json:"items"`
	}
	c.do("GET", "/api/audit?profile_id="+prof.ID+"&type=conflict.resolved", nil, 200, &filtered)
	if len(filtered.Items) != 1 {
		t.Fatalf("filtered audit %+v", filtered)
	}
	// The failed login is audited with the viewer's address, which the
	// front (playing CloudFront with the origin secret) passed on.
	var failed struct {
		Items []struct{ Actor, Message string } `json:"items"`
	}
	c.do("GET", "/api/audit?type=auth.login_failed", nil, 200, &failed)
	if len(failed.Items) != 1 || failed.Items[0].Actor != "anonymous" || !strings.Contains(failed.Items[0].Message, "127.0.0.1") {
		t.Fatalf("failed logins in the audit: %+v", failed.Items)
	}
}

func sheetOf(t testing.TB, s *devstack.Stack, entryID int64) kimaisim.Sheet {
	t.Helper()
	marker := fmt.Sprintf("-%d]", entryID)
	var found []kimaisim.Sheet
	for _, sh := range s.Kimai.Sheets() {
		if strings.HasSuffix(sh.Description, marker) || strings.Contains(sh.Description, marker+" ") {
			found = append(found, sh)
		}
	}
	if len(found) != 1 {
		t.Fatalf("entry %d has %d timesheets", entryID, len(found))
	}
	return found[0]
}

type client struct {
	t     testing.TB
	base  string
	token string
}

type runView struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Trigger string `json:"trigger"`
	Counts  struct {
		Seen, Created, Updated, Deleted, Conflicts, Errors int
	} `json:"counts"`
	Error      *struct{ Class, Message string } `json:"error_detail"`
	MergedInto string                           `json:"merged_into"`
	Progress   struct {
		Done, Total, Invocations int
		After                    int64 `json:"after_ticket"`
	} `json:"progress"`
}

func (c *client) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	var rdr io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rdr = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rdr)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

func (c *client) runAndWait(profileID string, body map[string]any) runView {
	c.t.Helper()
	var acc struct{ ID, Status string }
	c.do("POST", "/api/profiles/"+profileID+"/runs", body, 202, &acc)
	if acc.Status != "queued" {
		c.t.Fatalf("run not queued: %+v", acc)
	}
	return c.waitRun(acc.ID)
}

func (c *client) waitRun(id string) runView {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r runView
		c.do("GET", "/api/runs/"+id, nil, 200, &r)
		switch r.Status {
		case "succeeded", "partial":
			return r
		case "failed":
			c.t.Fatalf("run %s failed: %+v", id, r.Error)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s still %s after 60 s", id, r.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhook posts Zammad's default payload for a ticket, signed, and returns
// the queued run id (for 202).
func (c *client) webhook(s *devstack.Stack, url, secret string, ticketID int64, delivery string, want int) string {
	c.t.Helper()
	body := s.Zammad.WebhookPayload(ticketID)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Zammad User Agent")
	req.Header.Set("X-Zammad-Trigger", "Timebridge")
	req.Header.Set("X-Zammad-Delivery", delivery)
	req.Header.Set("X-Hub-Signature", zammadsim.Sign(secret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("webhook %s: status %d, want %d: %s", delivery, resp.StatusCode, want, data)
	}
	var out struct {
		RunID string `json:"run_id"`
	}
	_ = json.Unmarshal(data, &out)
	return out.RunID
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// scanLogs checks the functions' JSON logs (lines "[<function>] {...}";
// kumo's own output is not ours) for every secret value the run used, and
// that there are logs at all, so the check cannot pass by seeing nothing.
func scanLogs(t *testing.T, out string, secrets map[string]string) {
	t.Helper()
	lines := 0
	for _, line := range strings.Split(out, "\n") {
		fn, rest, ok := strings.Cut(line, "] ")
		if !ok || fn == "[kumo" || !strings.HasPrefix(rest, "{") {
			continue
		}
		lines++
		for what, v := range secrets {
			if len(v) >= 8 && strings.Contains(rest, v) {
				t.Errorf("the %s appears in the logs of %s: %.200s", what, strings.TrimPrefix(fn, "["), rest)
			}
		}
	}
	if lines < 20 {
		t.Errorf("only %d JSON log lines from the functions; the secret scan saw too little", lines)
	}
	t.Logf("scanned %d JSON log lines for %d secrets", lines, len(secrets))
}

// emfDocs returns the EMF documents function fn wrote to stdout.
func emfDocs(logs *testkit.Buffer, fn string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		rest, ok := strings.CutPrefix(line, "["+fn+"] ")
		if !ok || !strings.Contains(rest, `"_aws"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(rest), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// emfDoc waits (the line follows the run record by moments) for fn's EMF
// document that match accepts.
func emfDoc(t *testing.T, logs *testkit.Buffer, fn string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, d := range emfDocs(logs, fn) {
			if match(d) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching EMF line from %s", fn)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkEMF checks a document's directive: the stack's namespace
// (Timebridge/<stack> from the template; the local stack is
// timebridge-local), the dimension sets, and every declared metric present
// at the root.
func checkEMF(t *testing.T, d map[string]any, dims [][]string) {
	t.Helper()
	aws, _ := d["_aws"].(map[string]any)
	cwms, _ := aws["CloudWatchMetrics"].([]any)
	if _, ok := aws["Timestamp"].(float64); !ok || len(cwms) != 1 {
		t.Fatalf("EMF directive %v", aws)
	}
	cwm := cwms[0].(map[string]any)
	got, _ := json.Marshal(cwm["Dimensions"])
	want, _ := json.Marshal(dims)
	if cwm["Namespace"] != "Timebridge/timebridge-local" || string(got) != string(want) {
		t.Errorf("EMF namespace %v, dimensions %s (want %s)", cwm["Namespace"], got, want)
	}
	for _, m := range cwm["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		if _, ok := d[name]; !ok {
			t.Errorf("EMF declares %s but has no value", name)
		}
	}
}
