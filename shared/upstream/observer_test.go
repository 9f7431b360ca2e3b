package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

func TestObserverSeesEveryAttempt(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	var slept []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }

	var outer, inner []Attempt
	ctx := WithObserver(context.Background(), func(a Attempt) { outer = append(outer, a) })
	ctx = WithObserver(ctx, func(a Attempt) { inner = append(inner, a) })
	before := time.Now()
	if _, err := c.Do(ctx, Request{Op: "kimai: test", Method: "PATCH", Path: "/x", Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		kind   apperr.Kind
		ra     time.Duration
	}{{429, apperr.RateLimited, 7 * time.Second}, {503, apperr.Upstream, 0}, {200, "", 0}}
	if len(inner) != len(want) || len(outer) != len(want) {
		t.Fatalf("observed %d and %d attempts, want %d each: %+v", len(outer), len(inner), len(want), inner)
	}
	for i, w := range want {
		a := inner[i]
		if a.Status != w.status || a.Kind != w.kind || a.RetryAfter != w.ra || a.Service != "kimai" || a.Op != "kimai: test" || a.Canceled {
			t.Errorf("attempt %d: %+v, want status %d kind %q Retry-After %s", i+1, a, w.status, w.kind, w.ra)
		}
		if a.Latency < 2*time.Millisecond || a.Start.Before(before) {
			t.Errorf("attempt %d: start %s after %s, latency %s below the server's 2ms", i+1, a.Start, before, a.Latency)
		}
		if outer[i] != a {
			t.Errorf("attempt %d: the outer observer saw %+v, the inner %+v", i+1, outer[i], a)
		}
	}
	if len(slept) != 2 || slept[0] != 7*time.Second {
		t.Fatalf("slept %v, want the Retry-After first", slept)
	}
}

func TestObserverCanceled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	var got []Attempt
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Do(WithObserver(ctx, func(a Attempt) { got = append(got, a) }), Request{Op: "kimai: test", Method: "GET", Path: "/x", Idempotent: true})
	if apperr.KindOf(err) != apperr.Timeout {
		t.Fatalf("err %v, want a timeout", err)
	}
	if len(got) != 1 || !got[0].Canceled || got[0].Kind != apperr.Timeout || got[0].Status != 0 {
		t.Fatalf("observed %+v, want one canceled timeout", got)
	}
}
