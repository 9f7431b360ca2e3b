package limiter

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)

// feeder plays a synthetic sequence of samples into a core, one after the
// other on a virtual clock, with the limit fully used unless told.
type feeder struct {
	c   *Core
	now time.Time
}

func newFeeder(cfg Config) *feeder { return &feeder{c: NewCore(cfg, t0), now: t0} }

// answer feeds n answered samples of latency d with the limit in use.
func (f *feeder) answer(n int, d time.Duration) {
	for range n {
		f.c.Update(Sample{Start: f.now, Latency: d, Outcome: Answered, InFlight: f.c.Limit()})
		f.now = f.now.Add(d / time.Duration(max(1, f.c.Limit())))
	}
}

// burst feeds n drops of attempts that all started at the same time.
func (f *feeder) burst(n int, d, retryAfter time.Duration) {
	start := f.now
	for range n {
		f.c.Update(Sample{Start: start, Latency: d, Outcome: Dropped, RetryAfter: retryAfter, InFlight: f.c.Limit()})
	}
	f.now = start.Add(d)
}

func TestCore(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name string
		cfg  Config
		play func(t *testing.T, f *feeder)
	}{
		{"steady latency grows to max and stays", Config{Max: 32}, func(t *testing.T, f *feeder) {
			prev := f.c.Limit()
			for range 200 {
				f.answer(1, 100*ms)
				if l := f.c.Limit(); l < prev {
					t.Fatalf("limit fell from %d to %d at a steady latency", prev, l)
				}
				prev = f.c.Limit()
			}
			if got := f.c.Limit(); got != 32 {
				t.Fatalf("limit %d after 200 steady samples, want 32", got)
			}
		}},
		{"fast growth from the initial limit", Config{Max: 64}, func(t *testing.T, f *feeder) {
			// Fifteen round trips of samples (each round trip yields as
			// many samples as the limit).
			for range 15 {
				f.answer(f.c.Limit(), 100*ms)
			}
			if got := f.c.Limit(); got != 64 {
				t.Fatalf("limit %d after fifteen round trips, want 64", got)
			}
		}},
		{"no growth while the limit is not used", Config{Max: 32, Initial: 8}, func(t *testing.T, f *feeder) {
			for range 100 {
				f.c.Update(Sample{Start: f.now, Latency: 100 * ms, Outcome: Answered, InFlight: 3})
			}
			if got := f.c.Limit(); got != 8 {
				t.Fatalf("limit %d with 3 of 8 in flight, want the initial 8", got)
			}
		}},
		{"latency doubling shrinks", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			f.answer(1000, 200*ms)
			// g = 100/200 = 0.5: L = 0.5·L + √L settles at 4.
			if got := f.c.Limit(); got != 4 {
				t.Fatalf("limit %d after the latency doubled, want 4", got)
			}
		}},
		{"latency within tolerance keeps growing", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(10, 100*ms)
			f.answer(200, 140*ms)
			if got := f.c.Limit(); got != 32 {
				t.Fatalf("limit %d at 1.4 × the floor, want 32", got)
			}
		}},
		{"one very slow answer does not move the limit", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			f.answer(1, 100*time.Second)
			f.answer(100, 100*ms)
			if got := f.c.Limit(); got != 32 {
				t.Fatalf("limit %d after one slow answer among fast ones, want 32", got)
			}
		}},
		{"a window of slow answers cuts at most by half", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			for range 100 {
				f.answer(1, 100*time.Second)
				if got := f.c.Limit(); got != 32 {
					// g = 0.5: L = 16 + √32 ≈ 21.7
					if got != 21 {
						t.Fatalf("first cut to %d after very slow answers, want 21", got)
					}
					return
				}
			}
			t.Fatal("no cut after 100 very slow answers")
		}},
		{"slow start doubles per round trip", Config{Max: 64}, func(t *testing.T, f *feeder) {
			seen := []int{f.c.Limit()}
			for range 500 {
				f.answer(1, 100*ms)
				if l := f.c.Limit(); l != seen[len(seen)-1] {
					seen = append(seen, l)
				}
			}
			if fmt.Sprint(seen) != "[1 2 4 8 16 32 64]" {
				t.Fatalf("limits %v, want doubling", seen)
			}
		}},
		{"the median answer decides, not the luckiest", Config{Max: 8, Initial: 8}, func(t *testing.T, f *feeder) {
			for range 4 { // the first window: the floor, 100ms
				f.c.Update(Sample{Start: t0, Latency: 100 * ms, Outcome: Answered, InFlight: 8})
			}
			w := t0.Add(100 * ms)
			for _, d := range []time.Duration{100 * ms, 100 * ms, 100 * ms, 300 * ms} {
				f.c.Update(Sample{Start: w, Latency: d, Outcome: Answered, InFlight: 8})
			}
			if got := f.c.Limit(); got != 8 {
				t.Fatalf("limit %d after one slow answer of four, want 8", got)
			}
			w = w.Add(300 * ms)
			for _, d := range []time.Duration{100 * ms, 300 * ms, 300 * ms, 300 * ms} {
				f.c.Update(Sample{Start: w, Latency: d, Outcome: Answered, InFlight: 8})
			}
			// g = max(0.5, 100/300): L = 4 + √8 ≈ 6.8
			if got := f.c.Limit(); got != 6 {
				t.Fatalf("limit %d after three queued answers of four, want 6", got)
			}
		}},
		{"answers to attempts sent under an older limit do not count", Config{Max: 8, Initial: 8}, func(t *testing.T, f *feeder) {
			for range 4 {
				f.c.Update(Sample{Start: t0, Latency: 100 * ms, Outcome: Answered, InFlight: 8})
			}
			for range 8 { // sent before the window opened at t0+100ms
				f.c.Update(Sample{Start: t0.Add(50 * ms), Latency: time.Second, Outcome: Answered, InFlight: 8})
				if got := f.c.Limit(); got != 8 {
					t.Fatalf("limit %d: the old attempts' slow answers counted", got)
				}
			}
		}},
		{"a drop ends slow start", Config{Max: 64}, func(t *testing.T, f *feeder) {
			for f.c.Limit() < 16 {
				f.answer(1, 100*ms)
			}
			f.burst(1, 50*ms, 0)
			if got := f.c.Limit(); got != 8 {
				t.Fatalf("limit %d after the drop, want 8", got)
			}
			for f.c.Limit() == 8 {
				f.answer(1, 100*ms)
			}
			// L + √L, not 2L
			if got := f.c.Limit(); got != 10 {
				t.Fatalf("limit grew from 8 to %d after the drop, want 10", got)
			}
		}},
		{"429 burst halves once", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			f.burst(10, 50*ms, 0)
			if got := f.c.Limit(); got != 16 {
				t.Fatalf("limit %d after one burst, want 16", got)
			}
		}},
		{"repeated bursts halve down to the floor of 1", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			want := []int{16, 8, 4, 2, 1, 1, 1}
			for i, w := range want {
				f.burst(5, 50*ms, 0)
				if got := f.c.Limit(); got != w {
					t.Fatalf("after burst %d: limit %d, want %d", i+1, got, w)
				}
			}
			// The limit stays a real 1 underneath, so it recovers as
			// quickly as from a start at 1.
			f.answer(5, 100*ms)
			if got := f.c.Limit(); got < 2 {
				t.Fatalf("limit %d five answers after the bursts, want at least 2", got)
			}
		}},
		{"Retry-After pauses admissions until it has passed", Config{Max: 8}, func(t *testing.T, f *feeder) {
			f.c.Update(Sample{Start: t0, Latency: 100 * ms, Outcome: Dropped, RetryAfter: 2 * time.Second})
			end := t0.Add(100*ms + 2*time.Second)
			for _, at := range []time.Time{t0.Add(100 * ms), t0.Add(time.Second), end.Add(-time.Nanosecond)} {
				if ok, wait := f.c.Admit(at, 0); ok || wait != end.Sub(at) {
					t.Fatalf("admit at %s: %v, wait %s; want paused until %s", at.Sub(t0), ok, wait, end.Sub(t0))
				}
			}
			if ok, _ := f.c.Admit(end, 0); !ok {
				t.Fatal("not admitted once the Retry-After passed")
			}
			// A shorter Retry-After of a later answer does not cut the
			// pause short.
			f.c.Update(Sample{Start: t0, Latency: 200 * ms, Outcome: Answered, RetryAfter: time.Second})
			if ok, _ := f.c.Admit(end.Add(-ms), 0); ok {
				t.Fatal("a shorter Retry-After ended the pause early")
			}
		}},
		{"Retry-After holds even with free room", Config{Max: 8, Initial: 8}, func(t *testing.T, f *feeder) {
			f.c.Update(Sample{Start: t0, Latency: 10 * ms, Outcome: Answered, RetryAfter: time.Second})
			if ok, _ := f.c.Admit(t0.Add(500*ms), 0); ok {
				t.Fatal("admitted during the pause")
			}
		}},
		{"recovery after overload", Config{Max: 32}, func(t *testing.T, f *feeder) {
			f.answer(200, 100*ms)
			for range 6 {
				f.burst(8, 50*ms, 0)
			}
			f.answer(50, 400*ms) // overloaded: slow answers
			if got := f.c.Limit(); got > 4 {
				t.Fatalf("limit %d while overloaded, want ≤ 4", got)
			}
			f.answer(300, 100*ms)
			if got := f.c.Limit(); got != 32 {
				t.Fatalf("limit %d after the server recovered, want 32", got)
			}
		}},
		{"fixed never moves but honours Retry-After", Config{Max: 8, Fixed: true}, func(t *testing.T, f *feeder) {
			f.answer(50, 100*ms)
			f.burst(5, 50*ms, time.Second)
			f.answer(50, 900*ms)
			if got := f.c.Limit(); got != 8 {
				t.Fatalf("fixed limit moved to %d", got)
			}
			if ok, _ := f.c.Admit(t0.Add(100*ms), 0); ok {
				t.Fatal("fixed pace ignored Retry-After")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeeder(tc.cfg)
			tc.play(t, f)
			if l := f.c.Limit(); l < 1 || l > f.c.cfg.Max {
				t.Fatalf("limit %d outside [1, %d]", l, f.c.cfg.Max)
			}
		})
	}
}

// TestCoreCapacity drives the core against a synthetic server with n
// workers and service time s: with L requests in flight, an answer takes
// s·max(1, L/n). The limit must settle above n (every worker busy) with a
// queue of about √L.
func TestCoreCapacity(t *testing.T) {
	const s = 200 * time.Millisecond
	for _, tc := range []struct {
		workers, max int
		lo, hi       int
	}{
		{workers: 1, max: 64, lo: 2, hi: 3},
		{workers: 2, max: 64, lo: 3, hi: 5},
		{workers: 8, max: 64, lo: 10, hi: 16},
		{workers: 64, max: 64, lo: 64, hi: 64},
		{workers: 64, max: 200, lo: 72, hi: 110},
	} {
		f := newFeeder(Config{Max: tc.max})
		for range 3000 {
			l := f.c.Limit()
			lat := time.Duration(float64(s) * max(1, float64(l)/float64(tc.workers)))
			f.c.Update(Sample{Start: f.now, Latency: lat, Outcome: Answered, InFlight: l})
			f.now = f.now.Add(lat / time.Duration(l))
		}
		if got := f.c.Limit(); got < tc.lo || got > tc.hi {
			t.Errorf("%d workers, max %d: limit settled at %d, want %d..%d", tc.workers, tc.max, got, tc.lo, tc.hi)

		}
	}
}

func TestCoreHistoryBounded(t *testing.T) {
	f := newFeeder(Config{Max: 64, HistoryPoints: 10})
	for range 40 {
		f.answer(100, 50*time.Millisecond)
		f.burst(3, 10*time.Millisecond, 0)
	}
	r := f.c.Report()
	if len(r.Points) > 10 || len(r.Points) < 5 {
		t.Fatalf("%d points, want 5..10", len(r.Points))
	}
	if r.Points[0] != (Point{At: 0, Limit: DefaultInitial}) {
		t.Fatalf("first point %+v, want the start", r.Points[0])
	}
	if last := r.Points[len(r.Points)-1]; last.Limit != r.Final {
		t.Fatalf("last point %+v, final %d", last, r.Final)
	}
	for i := 1; i < len(r.Points); i++ {
		if r.Points[i].At < r.Points[i-1].At {
			t.Fatalf("points out of order: %+v", r.Points)
		}
	}
	if r.Low != 1 && r.Low > 32 || r.Peak != 64 || r.Drops != 120 || r.Samples != 4000 {
		t.Fatalf("report %+v", r)
	}
}
