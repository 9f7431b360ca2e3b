package devstack

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// TestParseTemplate reads the real template.yaml: the local stack is built
// from it, so every resource make dev needs must be found and resolved.
func TestParseTemplate(t *testing.T) {
	tm, err := ParseTemplate(filepath.Join("..", "..", "..", "template.yaml"), "timebridge-local", "us-east-1", "000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Tables) != 1 || tm.Tables[0].HashKey == "" || tm.Tables[0].TTLAttr == "" || len(tm.Tables[0].Indexes) == 0 {
		t.Fatalf("table %+v", tm.Tables)
	}
	var dlq bool
	for _, q := range tm.Queues {
		if q.DeadLetter != "" && q.MaxReceiveCount > 0 {
			dlq = true
		}
	}
	if len(tm.Queues) != 2 || !dlq {
		t.Fatalf("queues %+v", tm.Queues)
	}
	fns := map[string]Function{}
	for _, f := range tm.Functions {
		fns[f.LogicalID] = f
		for _, v := range []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_QUEUE_URL", "TIMEBRIDGE_SECRET_PREFIX"} {
			if f.Env[v] == "" && !(v == "TIMEBRIDGE_SECRET_PREFIX" && f.LogicalID == "SchedulerFunction") {
				t.Errorf("%s lacks %s", f.LogicalID, v)
			}
		}
	}
	if len(fns["ApiFunction"].Routes) == 0 || len(fns["WebhookFunction"].Routes) == 0 {
		t.Fatalf("routes: api %v webhook %v", fns["ApiFunction"].Routes, fns["WebhookFunction"].Routes)
	}
	if fns["ReconcileFunction"].SQSQueue == "" || len(fns["SchedulerFunction"].Schedules) == 0 {
		t.Fatalf("event sources: %+v %+v", fns["ReconcileFunction"], fns["SchedulerFunction"])
	}
	if fns["ApiFunction"].Env["TIMEBRIDGE_ADMIN_SECRET"] == "" {
		t.Fatal("api function lacks the admin secret")
	}
	if got := rate("rate(5 minutes)"); got.Minutes() != 5 {
		t.Fatalf("rate %v", got)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/template.golden.json from the current parser")

// TestParseTemplateGolden pins everything ParseTemplate resolves from the
// real template.yaml (names, keys, queue wiring, each function's
// environment, routes, event sources), so that the local stack cannot
// change unnoticed. After a deliberate template change: go test -run
// TestParseTemplateGolden -update ./shared/testkit/devstack/
func TestParseTemplateGolden(t *testing.T) {
	tm, err := ParseTemplate(filepath.Join("..", "..", "..", "template.yaml"), "timebridge-local", "us-east-1", "000000000000")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(tm, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "template.golden.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Errorf("ParseTemplate changed; diff %s against the output below, and run with -update if the change is intended:\n%s", golden, got)
	}
}
