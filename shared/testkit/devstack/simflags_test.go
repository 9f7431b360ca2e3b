package devstack

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSimFlags: make dev's -sim-latency delays every request to the demo
// Kimai, -sim-fail-creates fails the first creates without committing
// them; neither touches the demo Zammad.
func TestSimFlags(t *testing.T) {
	s := &Stack{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t.Cleanup(s.Close)
	if err := s.startSimulators(Options{ZammadAddr: "127.0.0.1:0", KimaiAddr: "127.0.0.1:0", DemoTickets: 2, DemoEntries: 4,
		SimLatency: 30 * time.Millisecond, SimFailCreates: 1}); err != nil {
		t.Fatal(err)
	}
	do := func(method, url, auth, body string) (int, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, time.Since(start)
	}
	kimai := "Bearer " + s.KimaiToken
	if st, d := do("GET", s.KimaiURL+"/api/ping", kimai, ""); st != 200 || d < 30*time.Millisecond {
		t.Fatalf("kimai ping: %d after %v", st, d)
	}
	// The create fails (500, nothing stored) whatever its body; the next
	// request is a create that Kimai validates normally.
	if st, _ := do("POST", s.KimaiURL+"/api/timesheets", kimai, `{}`); st != 500 || len(s.Kimai.Timesheets()) != 0 {
		t.Fatalf("first create: %d, %d stored", st, len(s.Kimai.Timesheets()))
	}
	if st, _ := do("POST", s.KimaiURL+"/api/timesheets", kimai, `{}`); st != 400 {
		t.Fatalf("second create: %d, want Kimai's 400 for an empty form", st)
	}
	if st, _ := do("GET", s.ZammadURL+"/api/v1/users/me", "Token token="+s.ZammadToken, ""); st != 200 || s.Zammad.FaultsInjected() != 0 {
		t.Fatalf("zammad: %d", st)
	}
	if _, ok := demoKimaiFaults(Options{}); ok {
		t.Fatal("faults without flags")
	}
}
