package kumotest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t), UniqueName(t)
	if a == b {
		t.Fatal("names repeat")
	}
	// An SQS queue name (the narrowest of queue, table and secret names).
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{3,80}$`)
	for _, n := range []string{a, b} {
		if !valid.MatchString(n) || !strings.Contains(n, "TestUniqueName") {
			t.Fatalf("bad name %q", n)
		}
	}
	t.Run("sub/with spaces, ünïcode and v1.2", func(t *testing.T) {
		if n := UniqueName(t); !valid.MatchString(n) {
			t.Fatalf("bad name %q", n)
		}
	})
}

func TestFindBinary(t *testing.T) {
	t.Setenv(EnvKumoBin, "/nonexistent/kumo")
	if _, err := FindBinary(); err == nil {
		t.Fatal("no error for a missing binary")
	}
	t.Setenv(EnvKumoBin, os.TempDir())
	if _, err := FindBinary(); err == nil {
		t.Fatal("no error for a directory")
	}
}

// TestProcessLifecycle starts a second kumo, checks that it answers on
// loopback and that stop ends it.
func TestProcessLifecycle(t *testing.T) {
	KumoOnly(t)
	bin, err := FindBinary()
	if err != nil {
		unavailable(t, err)
	}
	p, err := startProcess(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %s", p.endpoint)
	}
	res, err := http.Get(p.endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	p.stop()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("kumo still running after stop")
	}
	if _, err := http.Get(p.endpoint + "/"); err == nil {
		t.Fatal("endpoint still answers after stop")
	}
	if _, err := os.Stat(p.log.Name()); !os.IsNotExist(err) {
		t.Fatalf("log file left behind: %v", err)
	}
	p.stop() // idempotent
}

func TestWaitExternal(t *testing.T) {
	codes := make(chan int, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_localstack/health" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(<-codes)
	}))
	defer srv.Close()
	// Any answer will do for kumo; LocalStack's health must say 200.
	if err := waitExternal(srv.URL, "", time.Second); err != nil {
		t.Fatalf("kumo: %v", err)
	}
	codes <- http.StatusServiceUnavailable
	codes <- http.StatusOK
	if err := waitExternal(srv.URL, "localstack", 5*time.Second); err != nil {
		t.Fatalf("localstack: %v", err)
	}
	codes <- http.StatusServiceUnavailable
	if err := waitExternal(srv.URL, "localstack", 0); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy localstack: %v", err)
	}
	srv.Close()
	if err := waitExternal(srv.URL, "", 0); err == nil || !strings.Contains(err.Error(), "no emulator answers") {
		t.Fatalf("nothing listening: %v", err)
	}
}
