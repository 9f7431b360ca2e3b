package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/metrics"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// openConflicts is a store with n open conflicts per profile.
type openConflicts map[string]int

func (o openConflicts) ListConflicts(_ context.Context, pid string, _ tb.ConflictStatus) ([]tb.Conflict, error) {
	return make([]tb.Conflict, o[pid]), nil
}

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
		err := apperr.New(apperr.Auth, "kimai", "The Kimai token was refused; paste a new one into the connector.")
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
	h := reconcile.New(reconcile.Deps{Engine: countingEngine{}, Metrics: &out, Conflicts: openConflicts{"01JQ7Z3M2Y8K4T6V9B1C5D7F0A": 3}})
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
		if strings.Contains(line, "token") {
			t.Errorf("a metric line mentions a token: %s", line)
		}
		if pid, ok := m[metrics.DimProfile].(string); ok {
			byProfile[pid] = m
		}
		if c, ok := m[metrics.DimClass].(string); ok {
			byClass[c] += m[metrics.ItemsFailedBy].(float64)
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
	if byClass["permission"] != 2 {
		t.Errorf("items failed by class %v", byClass)
	}
	auth := byProfile["01JQ7Z3M2Y8K4T6V9B1C5D7F0B"]
	if auth[metrics.RunsFailed] != float64(1) || auth[metrics.RunsFailedAuth] != float64(1) {
		t.Errorf("auth failure: %v", auth)
	}
	if _, ok := byProfile["01JQ7Z3M2Y8K4T6V9B1C5D7F0C"]; ok {
		t.Error("a preview wrote metrics")
	}
}
