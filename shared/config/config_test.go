package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	full := map[string]string{"TIMEBRIDGE_TABLE": "t", "TIMEBRIDGE_SECRET_PREFIX": "p/", "TIMEBRIDGE_QUEUE_URL": "q",
		"TIMEBRIDGE_ADMIN_SECRET": "a", "TIMEBRIDGE_PUBLIC_URL": "https://x/", "TIMEBRIDGE_LOCAL_MODE": "1", "LOG_LEVEL": "debug"}
	c, err := Load(env(full), NeedAdmin, NeedSecrets, NeedEngine)
	if err != nil || c.PublicURL != "https://x" || !c.LocalMode || c.LogLevel.String() != "DEBUG" {
		t.Fatalf("%+v %v", c, err)
	}
	// Every missing variable is reported at once.
	_, err = Load(env(map[string]string{"LOG_LEVEL": "loud"}), NeedAdmin, NeedSecrets)
	for _, want := range []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_QUEUE_URL", "TIMEBRIDGE_ADMIN_SECRET", "TIMEBRIDGE_PUBLIC_URL", "LOG_LEVEL=loud"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %s", err, want)
		}
	}
	// The pending grace is optional, a duration between 1m and 24h.
	for v, want := range map[string]time.Duration{"": 0, "20m": 20 * time.Minute, "2h": 2 * time.Hour} {
		full["TIMEBRIDGE_PENDING_GRACE"] = v
		if c, err := Load(env(full), NeedAdmin, NeedSecrets, NeedEngine); err != nil || c.PendingGrace != want {
			t.Errorf("TIMEBRIDGE_PENDING_GRACE=%q: %v, %v", v, c.PendingGrace, err)
		}
	}
	for _, v := range []string{"10s", "48h", "soon"} {
		full["TIMEBRIDGE_PENDING_GRACE"] = v
		if _, err := Load(env(full), NeedAdmin, NeedSecrets, NeedEngine); err == nil || !strings.Contains(err.Error(), "TIMEBRIDGE_PENDING_GRACE") {
			t.Errorf("TIMEBRIDGE_PENDING_GRACE=%q accepted: %v", v, err)
		}
	}
	delete(full, "TIMEBRIDGE_PENDING_GRACE")
	// Outside local mode the API needs the origin secret.
	full["TIMEBRIDGE_LOCAL_MODE"] = "0"
	if _, err := Load(env(full), NeedAdmin, NeedSecrets, NeedEngine); err == nil || !strings.Contains(err.Error(), "TIMEBRIDGE_ORIGIN_SECRET") {
		t.Errorf("no origin secret outside local mode: %v", err)
	}
	full["TIMEBRIDGE_ORIGIN_SECRET"] = "arn:aws:secretsmanager:eu-west-1:1:secret:origin-AbCdEf"
	if c, err := Load(env(full), NeedAdmin, NeedSecrets, NeedEngine); err != nil || c.OriginSecret != full["TIMEBRIDGE_ORIGIN_SECRET"] {
		t.Errorf("origin secret: %v %v", c.OriginSecret, err)
	}
	full["TIMEBRIDGE_LOCAL_MODE"] = "1"
	// Functions without NeedAdmin don't ask for the admin secret.
	delete(full, "TIMEBRIDGE_ADMIN_SECRET")
	if _, err := Load(env(full), NeedSecrets, NeedEngine); err != nil {
		t.Fatal(err)
	}
}

// TestLoadReadsWhatIsNeeded: each Need adds exactly its variables to what
// Load reads, so the template can give a function only those.
func TestLoadReadsWhatIsNeeded(t *testing.T) {
	common := []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_QUEUE_URL", "LOG_LEVEL"}
	tests := []struct {
		name  string
		needs []Need
		extra []string
	}{
		{"scheduler", []Need{NeedMetrics}, []string{"TIMEBRIDGE_METRICS_NAMESPACE"}},
		{"webhook", []Need{NeedSecrets, NeedMetrics}, []string{"TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_METRICS_NAMESPACE"}},
		{"reconcile", []Need{NeedSecrets, NeedEngine, NeedMetrics}, []string{"TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_LOCAL_MODE",
			"TIMEBRIDGE_PENDING_GRACE", "TIMEBRIDGE_METRICS_NAMESPACE"}},
		{"api", []Need{NeedAdmin, NeedSecrets, NeedEngine}, []string{"TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_LOCAL_MODE",
			"TIMEBRIDGE_PENDING_GRACE", "TIMEBRIDGE_ADMIN_SECRET", "TIMEBRIDGE_PUBLIC_URL", "TIMEBRIDGE_ORIGIN_SECRET"}},
	}
	for _, tt := range tests {
		read := map[string]bool{}
		_, _ = Load(func(k string) string { read[k] = true; return "" }, tt.needs...)
		want := append(append([]string{}, common...), tt.extra...)
		for _, k := range want {
			if !read[k] {
				t.Errorf("%s: Load does not read %s", tt.name, k)
			}
			delete(read, k)
		}
		for k := range read {
			t.Errorf("%s: Load reads %s, which it does not need", tt.name, k)
		}
	}
	// Missing variables a function does not need are not reported.
	_, err := Load(env(map[string]string{"TIMEBRIDGE_TABLE": "t", "TIMEBRIDGE_QUEUE_URL": "q", "TIMEBRIDGE_PENDING_GRACE": "soon"}))
	if err != nil {
		t.Errorf("scheduler configuration refused: %v", err)
	}
}

// TestMetricsNamespace: optional (empty: the metrics package's default);
// what CloudWatch would refuse is refused at start-up instead of every
// metric being dropped silently.
func TestMetricsNamespace(t *testing.T) {
	base := map[string]string{"TIMEBRIDGE_TABLE": "t", "TIMEBRIDGE_QUEUE_URL": "q"}
	for _, tt := range []struct {
		value, want string
		ok          bool
	}{
		{"", "", true},
		{"Timebridge", "Timebridge", true},
		{" Timebridge/timebridge-prod ", "Timebridge/timebridge-prod", true},
		{"Team.A_b-c/#1:x", "Team.A_b-c/#1:x", true},
		{"AWS/Lambda", "", false},
		{"Time bridge", "Time bridge", true},
		{"Timebridge/${AWS::StackName}", "", false},
		{"Timebridge/ü", "", false},
		{strings.Repeat("x", 256), "", false},
	} {
		base["TIMEBRIDGE_METRICS_NAMESPACE"] = tt.value
		c, err := Load(env(base), NeedMetrics)
		if (err == nil) != tt.ok || c.MetricsNamespace != tt.want {
			t.Errorf("%q: namespace %q, error %v", tt.value, c.MetricsNamespace, err)
		}
		if err != nil && !strings.Contains(err.Error(), "TIMEBRIDGE_METRICS_NAMESPACE") {
			t.Errorf("%q: error %v does not name the variable", tt.value, err)
		}
	}
}
