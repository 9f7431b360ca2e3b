package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/metrics"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// openConflicts is a store with open[pid] open conflicts per profile; it
// keeps the counts recorded for the scheduler (runs of different profiles
// record concurrently).
type openConflicts struct {
	open     map[string]int
	mu       sync.Mutex
	recorded map[string]int
}

func (o *openConflicts) ListConflicts(_ context.Context, pid string, _ tb.ConflictStatus) ([]tb.Conflict, error) {
	return make([]tb.Conflict, o.open[pid]), nil
}

func (o *openConflicts) RecordOpenConflicts(_ context.Context, pid string, n int, _ time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.recorded[pid] = n
	return nil
}

// leakedToken stands for a secret that reached an error message.
const leakedToken = "kimai-tok-3f9a1c7e5b2d"

// countingEngine answers runs with fixed results, and makes one Kimai
// request through the run's context the way the instrumented client does.
type countingEngine struct{}

func (countingEngine) HandOff(context.Context, string, []store.PendingRun) error { return nil }

func (countingEngine) Run(ctx context.Context, req engine.Request) (tb.Run, error) {
	metrics.FromContext(ctx).Add(metrics.KimaiRequests, metrics.Count, 1)
	metrics.FromContext(ctx).Observe(metrics.KimaiLatency, metrics.Milliseconds, 12)
	switch req.ProfileID {
	case "01JQ7Z3M2Y8K4T6V9B1C5D7F0A": // a run that synced and had two item errors
		return tb.Run{ID: req.RunID, ProfileID: req.ProfileID, Status: tb.RunPartial, DurationMS: 1500,
			Counts: tb.Counts{Seen: 10, Created: 4, Updated: 2, Deleted: 1, Conflicts: 1, Errors: 2, ErrorsByClass: map[string]int{"permission": 2}}}, nil
	case "01JQ7Z3M2Y8K4T6V9B1C5D7F0B": // the Kimai token expired
		// The message carries a token, as a careless upstream error could:
		// metric lines carry the class, never a message.
		err := apperr.New(apperr.Auth, "kimai", "The Kimai token "+leakedToken+" was refused; paste a new one into the connector.")
		return tb.Run{ID: req.RunID, ProfileID: req.ProfileID, Status: tb.RunFailed, DurationMS: 80}, err
	default: // a preview
		return tb.Run{ID: req.RunID, ProfileID: req.ProfileID, DryRun: true, Status: tb.RunSucceeded, Counts: tb.Counts{Created: 99}}, nil
	}
}

// TestRunMetrics: every finished run writes its counts, duration, outcome
// and the upstream requests it made as EMF; item errors per class; an auth
// failure counts as such; previews write nothing; no token in any line.
func TestRunMetrics(t *testing.T) {
	var out bytes.Buffer
	oc := &openConflicts{open: map[string]int{"01JQ7Z3M2Y8K4T6V9B1C5D7F0A": 3}, recorded: map[string]int{}}
	h := reconcile.New(reconcile.Deps{Engine: countingEngine{}, Metrics: &out, MetricsNamespace: "Timebridge/test", Conflicts: oc})
	msg := func(id, pid string, dry bool) events.SQSMessage {
		return record(id, queue.Message{RunID: "01JQ7Z3M2Y8K4T6V9B1C5D7F" + id, ProfileID: pid, Mode: tb.ModeIncremental, DryRun: dry})
	}
	_, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		msg("R1", "01JQ7Z3M2Y8K4T6V9B1C5D7F0A", false), msg("R2", "01JQ7Z3M2Y8K4T6V9B1C5D7F0B", false), msg("R3", "01JQ7Z3M2Y8K4T6V9B1C5D7F0C", true),
	}})
	if err != nil {
		t.Fatal(err)
	}
	byProfile := map[string]map[string]any{}
	byClass := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		if strings.Contains(line, leakedToken) || strings.Contains(line, "refused") {
			t.Errorf("a metric line carries an error message: %s", line)
		}
		if ns := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]; ns != "Timebridge/test" {
			t.Errorf("namespace %v", ns)
		}
		if pid, ok := m[metrics.DimProfile].(string); ok {
			if byProfile[pid] == nil {
				byProfile[pid] = map[string]any{}
			}
			for k, v := range m { // the counters' and the distributions' documents
				byProfile[pid][k] = v
			}
		}
		if n, ok := m[metrics.ItemsFailedBy].(float64); ok {
			byClass[m[metrics.DimClass].(string)] += n
		}
	}
	ok := byProfile["01JQ7Z3M2Y8K4T6V9B1C5D7F0A"]
	for name, want := range map[string]float64{metrics.RunsFinished: 1, metrics.EntriesSeen: 10, metrics.EntriesCreated: 4, metrics.EntriesUpdated: 2,
		metrics.EntriesDeleted: 1, metrics.ConflictsOpened: 1, metrics.ItemsFailed: 2, metrics.RunDuration: 1500, metrics.KimaiRequests: 1,
		metrics.OpenConflicts: 3} {
		if ok[name] != want {
			t.Errorf("%s = %v, want %v", name, ok[name], want)
		}
	}
	if _, failed := ok[metrics.RunsFailed]; failed {
		t.Error("a partial run counted as failed")
	}
	if lat, _ := ok[metrics.KimaiLatency].(map[string]any); lat["Count"] != float64(1) || lat["Max"] != float64(12) {
		t.Errorf("Kimai latency %v, want the one 12 ms request", ok[metrics.KimaiLatency])
	}
	// Counted after every real run (the failed one too), for the scheduler
	// to publish every tick; not after the preview.
	if want := map[string]int{"01JQ7Z3M2Y8K4T6V9B1C5D7F0A": 3, "01JQ7Z3M2Y8K4T6V9B1C5D7F0B": 0}; !maps.Equal(oc.recorded, want) {
		t.Errorf("open conflicts recorded %v, want %v", oc.recorded, want)
	}
	if byClass["permission"] != 2 {
		t.Errorf("items failed by class %v", byClass)
	}
	auth := byProfile["01JQ7Z3M2Y8K4T6V9B1C5D7F0B"]
	if auth[metrics.RunsFailed] != float64(1) || auth[metrics.RunsFailedAuth] != float64(1) || auth[metrics.PropErrorClass] != string(apperr.Auth) {
		t.Errorf("auth failure: %v", auth)
	}
	if _, ok := byProfile["01JQ7Z3M2Y8K4T6V9B1C5D7F0C"]; ok {
		t.Error("a preview wrote metrics")
	}
}
