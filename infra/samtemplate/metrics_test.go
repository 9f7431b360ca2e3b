package samtemplate_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/timebridge/timebridge/shared/metrics"
)

// TestDashboardAndAlarmsNameEmittedMetrics: every Timebridge metric the
// alarms and the dashboard read is one the functions write (shared/metrics),
// with dimensions the code sets, so neither can silently watch nothing.
func TestDashboardAndAlarmsNameEmittedMetrics(t *testing.T) {
	tmpl := loadTemplate(t, nil)
	alarms := 0
	for _, id := range tmpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := tmpl.Properties(id)
		if p["Namespace"] != metrics.Namespace {
			continue
		}
		alarms++
		name, _ := p["MetricName"].(string)
		if !slices.Contains(metrics.Names, name) {
			t.Errorf("alarm %s watches %s/%s, which the code never writes", id, metrics.Namespace, name)
		}
		if p["Dimensions"] != nil {
			t.Errorf("alarm %s has dimensions; the alarms watch the series across profiles (every document also writes it without dimensions)", id)
		}
	}
	if alarms < 3 {
		t.Errorf("%d alarms on Timebridge metrics", alarms)
	}

	ids := tmpl.ResourcesOfType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("%d dashboards", len(ids))
	}
	body, _ := tmpl.Properties(ids[0])["DashboardBody"].(string)
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Metrics [][]any  `json:"metrics"`
				Alarms  []string `json:"alarms"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("the dashboard body is not JSON: %v", err)
	}
	seen := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) < 2 || m[0] != metrics.Namespace {
				continue
			}
			name, _ := m[1].(string)
			seen[name] = true
			if !slices.Contains(metrics.Names, name) {
				t.Errorf("the dashboard shows %s/%s, which the code never writes", metrics.Namespace, name)
			}
			// Dimension name/value pairs follow the name (an options object may end the list).
			for i := 2; i+1 < len(m); i += 2 {
				dim, _ := m[i].(string)
				val, _ := m[i+1].(string)
				switch dim {
				case metrics.DimOutcome:
					if name != metrics.WebhookDeliveries || !slices.Contains(metrics.Outcomes, val) {
						t.Errorf("the dashboard shows %s with %s=%s, which the code never writes", name, dim, val)
					}
				default:
					t.Errorf("the dashboard shows %s with dimension %q, which it does not write", name, dim)
				}
			}
		}
	}
	for _, name := range []string{metrics.RunsFinished, metrics.EntriesCreated, metrics.ConflictsOpened, metrics.KimaiLatency, metrics.WebhookDeliveries} {
		if !seen[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
