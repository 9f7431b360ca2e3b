package upstream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

func fastPolicy() Policy {
	return Policy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond}
}

func newClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: url, Service: "kimai", Policy: fastPolicy(),
		Auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer secret-token") }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// script answers with the given statuses in order, then 200 {}.
func script(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			if statuses[i] == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			w.WriteHeader(statuses[i])
			w.Write([]byte(`{"code":1,"message":"x"}`))
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		statuses   []int
		idempotent bool
		wantKind   apperr.Kind
		wantCalls  int32
	}{
		{"ok first try", nil, true, "", 1},
		{"5xx retried when idempotent", []int{500, 503}, true, "", 3},
		{"5xx not retried for POST", []int{500}, false, apperr.Upstream, 1},
		{"429 retried even for POST", []int{429, 429}, false, "", 3},
		{"gives up after max attempts", []int{500, 500, 500, 500, 500}, true, apperr.Upstream, 4},
		{"401 not retried", []int{401}, true, apperr.Auth, 1},
		{"403 not retried", []int{403}, true, apperr.Permission, 1},
		{"404 not retried", []int{404}, true, apperr.NotFound, 1},
		{"400 not retried", []int{400}, true, apperr.Validation, 1},
		{"redirect is an error", []int{302}, true, apperr.Upstream, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := script(t, tt.statuses...)
			c := newClient(t, srv.URL)
			var out map[string]any
			_, err := c.JSON(context.Background(), Request{Op: "test", Method: "GET", Path: "/x", Idempotent: tt.idempotent}, &out)
			if got := apperr.KindOf(err); got != tt.wantKind {
				t.Fatalf("kind = %q, want %q (err %v)", got, tt.wantKind, err)
			}
			if n.Load() != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", n.Load(), tt.wantCalls)
			}
			if err != nil && apperr.MessageOf(err) == "" {
				t.Fatal("classified error without a user message")
			}
		})
	}
}

func TestNonJSONBody(t *testing.T) {
	for _, body := range []string{"<html>login</html>", "", `{"trunc`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		c := newClient(t, srv.URL)
		var out map[string]any
		_, err := c.JSON(context.Background(), Request{Op: "t", Method: "GET", Path: "/", Idempotent: true}, &out)
		srv.Close()
		if !apperr.Is(err, apperr.Upstream) {
			t.Errorf("body %q: kind %q, want upstream", body, apperr.KindOf(err))
		}
	}
}

func TestHangTimesOutWithinDeadline(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{Op: "t", Method: "GET", Path: "/", Idempotent: true})
	if !apperr.Is(err, apperr.Timeout) {
		t.Fatalf("kind %q, want timeout: %v", apperr.KindOf(err), err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("took %v, deadline not respected", el)
	}
}

func TestConnectionRefusedIsRetriedEvenForPOST(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "http://"+addr)
	_, err = c.Do(context.Background(), Request{Op: "t", Method: "POST", Path: "/", Body: map[string]int{"a": 1}})
	if !apperr.Is(err, apperr.Connection) {
		t.Fatalf("kind %q, want connection: %v", apperr.KindOf(err), err)
	}
}

func TestRetryAfterBeyondDeadlineFailsFast(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Do(ctx, Request{Op: "t", Method: "GET", Path: "/", Idempotent: true})
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.RateLimited || e.RetryAfter != 30*time.Second {
		t.Fatalf("got %v", err)
	}
}

func TestTokenNeverInError(t *testing.T) {
	srv, _ := script(t, 401)
	c := newClient(t, srv.URL)
	_, err := c.Do(context.Background(), Request{Op: "t", Method: "GET", Path: "/"})
	if err == nil || contains2(err.Error(), "secret-token") {
		t.Fatalf("error leaks token or is nil: %v", err)
	}
}

func contains2(s, sub string) bool { return strings.Contains(s, sub) }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		"-1":                            0,
		"Thu, 01 Jan 2026 00:00:10 GMT": 10 * time.Second,
		"garbage":                       0,
	}
	for in, want := range tests {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseBaseURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"https://kimai.example.com/":  true,
		"http://127.0.0.1:8080/sub/":  true,
		"ftp://x":                     false,
		"kimai.example.com":           false,
		"https://user:pw@example.com": false,
	} {
		_, err := ParseBaseURL(in)
		if (err == nil) != ok {
			t.Errorf("ParseBaseURL(%q) err=%v, want ok=%v", in, err, ok)
		}
	}
}

// An answer above MaxResponseBytes is refused with a message that says so;
// one at the limit is accepted.
func TestOversizedAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := MaxResponseBytes + 1
		if r.URL.Path == "/exact" {
			size = MaxResponseBytes
		}
		// A JSON array padded with whitespace to size bytes, streamed.
		w.Write([]byte("["))
		pad := []byte(strings.Repeat(" ", 64<<10))
		for n := 1; n < size-2; {
			k := min(len(pad), size-2-n)
			if _, err := w.Write(pad[:k]); err != nil {
				return
			}
			n += k
		}
		w.Write([]byte("0]"))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	c.policy.AttemptTimeout = 10 * time.Second
	var out []int
	_, err := c.JSON(context.Background(), Request{Op: "t", Method: "GET", Path: "/big", Idempotent: true}, &out)
	if !apperr.Is(err, apperr.Upstream) || !strings.Contains(apperr.MessageOf(err), "larger than 8 MiB") {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := c.JSON(context.Background(), Request{Op: "t", Method: "GET", Path: "/exact", Idempotent: true}, &out); err != nil || len(out) != 1 {
		t.Fatalf("at the limit: %v, %v", out, err)
	}
}

// A client sending many requests at once keeps its connections: rounds of
// 16 requests in parallel open about 16 connections in all, not a new one
// for most requests of every round (Go's default transport keeps 2 idle
// connections per host, and against a real server each new one is a TLS
// handshake).
func TestParallelRequestsReuseConnections(t *testing.T) {
	const parallel, rounds = 16, 10
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // all of a round are in flight together
		w.Write([]byte(`{}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newClient(t, srv.URL)
	for range rounds {
		done := make(chan error, parallel)
		for range parallel {
			go func() {
				_, err := c.Do(context.Background(), Request{Op: "t", Method: "GET", Path: "/", Idempotent: true})
				done <- err
			}()
		}
		for range parallel {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	// A round may find a connection still busy finishing its answer, so
	// allow some slack; without pooling it is ~(parallel-2)*rounds.
	if n := conns.Load(); n > 2*parallel {
		t.Fatalf("%d connections for %d rounds of %d requests", n, rounds, parallel)
	}
}
