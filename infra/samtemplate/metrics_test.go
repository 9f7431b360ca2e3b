package samtemplate_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/infra/samtemplate"
	"github.com/timebridge/timebridge/shared/metrics"
)

// stackNamespace is the namespace the template gives the functions' metrics
// (TIMEBRIDGE_METRICS_NAMESPACE), one per stack.
const stackNamespace = metrics.Namespace + "/${AWS::StackName}"

// TestMetricsNamespace: the functions that write metrics are told the
// stack's namespace, the one the alarms and the dashboard read.
func TestMetricsNamespace(t *testing.T) {
	fns, err := loadTemplate(t, nil).Functions()
	if err != nil {
		t.Fatal(err)
	}
	writers := map[string]bool{"WebhookFunction": true, "SchedulerFunction": true, "ReconcileFunction": true}
	for _, f := range fns {
		ns, set := f.Env["TIMEBRIDGE_METRICS_NAMESPACE"]
		if set != writers[f.LogicalID] || (set && ns != stackNamespace) {
			t.Errorf("%s: TIMEBRIDGE_METRICS_NAMESPACE %q (set: %v), want %q on the webhook, scheduler and reconcile functions",
				f.LogicalID, ns, set, stackNamespace)
		}
		delete(writers, f.LogicalID)
	}
	if len(writers) != 0 {
		t.Errorf("functions missing from the template: %v", writers)
	}
}

// TestDashboardAndAlarmsNameEmittedMetrics: every Timebridge metric the
// alarms and the dashboard read is one the functions write (shared/metrics),
// under the namespace the template gives them and with dimensions the code
// sets, so neither can silently watch nothing.
func TestDashboardAndAlarmsNameEmittedMetrics(t *testing.T) {
	tmpl := loadTemplate(t, nil)
	alarms := 0
	for _, id := range tmpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := tmpl.Properties(id)
		if ns, _ := p["Namespace"].(string); strings.HasPrefix(ns, "AWS/") {
			continue
		} else if ns != stackNamespace {
			t.Errorf("alarm %s watches namespace %q, the functions write %q", id, ns, stackNamespace)
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
			if ns, _ := m[0].(string); len(m) < 2 || strings.HasPrefix(ns, "AWS/") {
				continue
			} else if ns != stackNamespace {
				t.Errorf("the dashboard shows namespace %q, the functions write %q", ns, stackNamespace)
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

// TestAlarmsAreActionableAndInTheRunbook: every alarm notifies the alarm
// topic, has a threshold and a description, and has a section in
// docs/runbook.md (a "### <LogicalId>" heading, alone or in a list).
func TestAlarmsAreActionableAndInTheRunbook(t *testing.T) {
	tmpl := loadTemplate(t, nil)
	book, err := os.ReadFile(filepath.Join(root, "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	var headings []string
	for _, line := range strings.Split(string(book), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			for _, name := range strings.Split(h, ",") {
				headings = append(headings, strings.TrimSpace(name))
			}
		}
	}
	ids := tmpl.ResourcesOfType("AWS::CloudWatch::Alarm")
	if len(ids) < 8 {
		t.Fatalf("%d alarms", len(ids))
	}
	for _, id := range ids {
		p := tmpl.Properties(id)
		if !slices.Contains(samtemplate.StringList(p["AlarmActions"]), samtemplate.Ref("AlarmTopic")) {
			t.Errorf("alarm %s does not notify AlarmTopic", id)
		}
		if _, ok := p["Threshold"]; !ok {
			t.Errorf("alarm %s has no threshold", id)
		}
		if d, _ := p["AlarmDescription"].(string); len(d) < 20 {
			t.Errorf("alarm %s has no description worth the name: %q", id, d)
		}
		if p["Namespace"] == stackNamespace {
			if d, _ := p["AlarmDescription"].(string); !strings.Contains(d, "docs/runbook.md#"+strings.ToLower(id)) {
				t.Errorf("alarm %s's description does not point to its runbook section (docs/runbook.md#%s)", id, strings.ToLower(id))
			}
		}
		if !slices.Contains(headings, id) {
			t.Errorf("alarm %s has no section in docs/runbook.md", id)
		}
	}
}

// TestWorkflowsUseExistingMakeTargets: every `make <target>` in the GitHub
// workflows is a target of the Makefile.
func TestWorkflowsUseExistingMakeTargets(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_-]+):`).FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("workflows: %v %v", files, err)
	}
	used := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\bmake\s+(?:-s\s+)?([a-zA-Z0-9_-]+)`).FindAllStringSubmatch(string(b), -1) {
			used++
			if !targets[m[1]] {
				t.Errorf("%s runs make %s, which the Makefile does not have", filepath.Base(f), m[1])
			}
		}
		if strings.Contains(string(b), ".ci/run") {
			if _, err := os.Stat(filepath.Join(root, ".ci", "run")); err != nil {
				t.Errorf("%s runs .ci/run: %v", filepath.Base(f), err)
			}
		}
	}
	if used < 3 {
		t.Fatalf("only %d make commands found in the workflows", used)
	}
}
