package fault

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDrawRates(t *testing.T) {
	const n = 100_000
	in := NewInjector(7)
	got := map[Kind]int{}
	for range n {
		got[in.Draw(0, Rate{Hang, 0.1}, Rate{RateLimit, 0.2}, Rate{Error, 0.05}, Rate{Malformed, 0})]++
	}
	for k, want := range map[Kind]float64{Hang: 0.1, RateLimit: 0.2, Error: 0.05, Malformed: 0, None: 0.65} {
		if share := float64(got[k]) / n; math.Abs(share-want) > 0.01 {
			t.Errorf("kind %d: share %.4f, want %.2f", k, share, want)
		}
	}
	if in.Injected() != n-got[None] {
		t.Errorf("injected %d, want %d", in.Injected(), n-got[None])
	}
}

func TestDrawExclusiveAndBounded(t *testing.T) {
	in := NewInjector(1)
	// Rates summing to 1: every request gets exactly one fault.
	for range 1000 {
		if k := in.Draw(0, Rate{Hang, 0.5}, Rate{Error, 0.5}); k != Hang && k != Error {
			t.Fatalf("got %d", k)
		}
	}
	in.Reset()
	var kinds []Kind
	for range 3 {
		kinds = append(kinds, in.Draw(1, Rate{Error, 1}))
	}
	if kinds[0] != Error || kinds[1] != None || kinds[2] != None || in.Injected() != 1 {
		t.Fatalf("Max 1: %v (injected %d)", kinds, in.Injected())
	}
	in.Reset()
	if k := in.Pick(Rate{Error, 1}); k != Error || in.Injected() != 0 {
		t.Fatalf("Pick: %d, injected %d", k, in.Injected())
	}
	if k := in.Draw(1, Rate{Error, 1}); k != Error {
		t.Fatalf("a Pick must not use up Max: %d", k)
	}
	if k := NewInjector(1).Draw(0); k != None {
		t.Fatalf("no rates: %d", k)
	}
	if k := NewInjector(1).Draw(0, Rate{Error, -1}); k != None {
		t.Fatalf("negative rate: %d", k)
	}
}

func TestDrawIsReproducible(t *testing.T) {
	seq := func(seed uint64) []Kind {
		in := NewInjector(seed)
		var out []Kind
		for range 200 {
			out = append(out, in.Draw(0, Rate{Hang, 0.3}, Rate{Error, 0.3}))
		}
		return out
	}
	a, b, c := seq(42), seq(42), seq(43)
	same, differs := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differs = differs || a[i] != c[i]
	}
	if !same || !differs {
		t.Fatalf("same seed same sequence: %v; other seed other sequence: %v", same, differs)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		m                     Match
		method, pattern, path string
		want                  bool
	}{
		{Match{}, "GET", "/a/{id}", "/a/1", true},
		{Match{Method: "post"}, "POST", "/a", "/a", true},
		{Match{Method: "POST"}, "GET", "/a", "/a", false},
		{Match{Path: "/a/{id}"}, "GET", "/a/{id}", "/a/1", true},
		{Match{Path: "/a/1"}, "GET", "/a/{id}", "/a/1", true},
		{Match{Path: "/a/2"}, "GET", "/a/{id}", "/a/1", false},
		{Match{PathPrefix: "/api/timesheets"}, "GET", "/api/timesheets/{id}", "/api/timesheets/3", true},
		{Match{PathPrefix: "/api/users"}, "GET", "/api/timesheets/{id}", "/api/timesheets/3", false},
		{Match{Func: func(_, p string) bool { return p == "/v" }}, "GET", "/v", "/v", true},
		{Match{Method: "GET", Func: func(_, p string) bool { return p == "/v" }}, "GET", "/w", "/w", false},
	}
	for i, tt := range tests {
		if got := tt.m.Matches(tt.method, tt.pattern, tt.path); got != tt.want {
			t.Errorf("%d: %+v.Matches(%s %s) = %v", i, tt.m, tt.method, tt.path, got)
		}
	}
}

func TestWaitAndRetryAfter(t *testing.T) {
	closing := make(chan struct{})
	if !Wait(context.Background(), closing, 0) || !Wait(context.Background(), closing, time.Millisecond) {
		t.Fatal("a wait that passes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Wait(ctx, closing, time.Hour) {
		t.Fatal("a gone client ends the wait")
	}
	close(closing)
	if Wait(context.Background(), closing, time.Hour) {
		t.Fatal("a closing server ends the wait")
	}
	for d, want := range map[time.Duration]string{0: "0", 1500 * time.Millisecond: "2", time.Second: "1", -time.Second: "0"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
