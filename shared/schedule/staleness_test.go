package schedule_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/schedule"
	"github.com/timebridge/timebridge/shared/testkit"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestStaleness(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	p := tb.Profile{IntervalMinutes: 15, UpdatedAt: now.Add(-24 * time.Hour)}
	for _, c := range []struct {
		name string
		p    tb.Profile
		last time.Time
		want float64
	}{
		{"synced 15 min ago", p, now.Add(-15 * time.Minute), 1},
		{"synced 40 min ago", p, now.Add(-40 * time.Minute), 2.67},
		{"never synced, changed a day ago", p, time.Time{}, 96},
		{"changed after the last success", tb.Profile{IntervalMinutes: 15, UpdatedAt: now.Add(-5 * time.Minute)}, now.Add(-3 * time.Hour), 0.33},
		{"never changed nor synced", tb.Profile{IntervalMinutes: 15}, time.Time{}, 0},
		{"clock skew: success in the future", p, now.Add(time.Minute), 0},
	} {
		if got := schedule.Staleness(c.p, c.last, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestTickPublishesStaleness: every tick writes each enabled profile's
// staleness from its health item (on kumo), none for disabled ones.
func TestTickPublishesStaleness(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	synced := f.profile(t, "01JQ7Z3M2Y8K4T6V9B1C5D7F0A", true, 15)
	f.profile(t, "01JQ7Z3M2Y8K4T6V9B1C5D7F0B", true, 60) // never synced
	f.profile(t, "01JQ7Z3M2Y8K4T6V9B1C5D7F0C", false, 15)
	f.clk.Add(30 * time.Minute)
	if err := f.st.RecordSuccess(ctx, synced.ID, f.clk.Now(), "r1"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordOpenConflicts(ctx, synced.ID, 4, f.clk.Now()); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(2*time.Hour + 30*time.Minute)
	out := &testkit.Buffer{}
	s := schedule.New(schedule.Deps{Store: f.st, Queue: f.sink, Now: f.clk.Now, Metrics: out})
	if err := s.Handle(ctx, f.ev); err != nil {
		t.Fatal(err)
	}
	got, conflicts := map[string]float64{}, map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		got[m["ProfileId"].(string)] = m["StalenessRatio"].(float64)
		if n, ok := m["OpenConflicts"]; ok {
			conflicts[m["ProfileId"].(string)] = n
		}
	}
	// The conflicts the latest run counted, every tick; none for a profile
	// no run has counted yet.
	if len(conflicts) != 1 || conflicts["01JQ7Z3M2Y8K4T6V9B1C5D7F0A"] != float64(4) {
		t.Errorf("open conflicts %v, want 4 for the synced profile only", conflicts)
	}
	// 2 h 30 min since the success at a 15-minute interval; 3 h since
	// creation at 60 minutes; nothing for the disabled profile.
	want := map[string]float64{"01JQ7Z3M2Y8K4T6V9B1C5D7F0A": 10, "01JQ7Z3M2Y8K4T6V9B1C5D7F0B": 3}
	if len(got) != len(want) || got["01JQ7Z3M2Y8K4T6V9B1C5D7F0A"] != 10 || got["01JQ7Z3M2Y8K4T6V9B1C5D7F0B"] != 3 {
		t.Fatalf("staleness %v, want %v", got, want)
	}
}

// TestTickWithoutEnabledProfilesPublishes: with no enabled profile a tick
// still writes a StalenessRatio (0, without dimensions), so that the
// staleness alarm can treat a tick without any line as a broken scheduler.
func TestTickWithoutEnabledProfilesPublishes(t *testing.T) {
	f := newFixture(t)
	f.profile(t, "01JQ7Z3M2Y8K4T6V9B1C5D7F0C", false, 15)
	out := &testkit.Buffer{}
	s := schedule.New(schedule.Deps{Store: f.st, Queue: f.sink, Now: f.clk.Now, Metrics: out})
	if err := s.Handle(context.Background(), f.ev); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out.String())), &m); err != nil {
		t.Fatalf("not one JSON line: %q", out.String())
	}
	dims, _ := json.Marshal(m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"])
	if m["StalenessRatio"] != float64(0) || string(dims) != `[[]]` || m["ProfileId"] != nil {
		t.Fatalf("line %v, dimensions %s", m, dims)
	}
}
