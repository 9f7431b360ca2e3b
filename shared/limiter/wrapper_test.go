package limiter

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimiterConcurrent hammers a limiter from many goroutines (run it with
// -race): at no time may more hold an admission than the limit allows, and
// every Acquire is paired with its Release.
func TestLimiterConcurrent(t *testing.T) {
	for _, cfg := range []Config{{Max: 3, Fixed: true}, {Max: 6}} {
		l := New(cfg, nil)
		var held, peak atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 50 {
					if err := l.Acquire(context.Background()); err != nil {
						t.Error(err)
						return
					}
					n := held.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					start := time.Now()
					outcome := Answered
					if (g+i)%17 == 0 {
						outcome = Dropped
					}
					held.Add(-1)
					l.Observe(Sample{Start: start, Latency: time.Since(start) + time.Microsecond, Outcome: outcome})
					l.Release()
				}
			})
		}
		wg.Wait()
		if p := peak.Load(); p > int64(cfg.Max) || p < 1 {
			t.Errorf("%+v: %d held at once", cfg, p)
		}
		if n := l.InFlight(); n != 0 {
			t.Errorf("%+v: %d still held", cfg, n)
		}
		if r := l.Report(); r.Samples+r.Drops != 16*50 {
			t.Errorf("%+v: %d samples and %d drops, want %d", cfg, r.Samples, r.Drops, 16*50)
		}
	}
}

func TestLimiterWaitsForRelease(t *testing.T) {
	l := New(Config{Max: 1, Fixed: true}, nil)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- l.Acquire(context.Background()) }()
	select {
	case err := <-got:
		t.Fatalf("second Acquire returned %v while the only admission was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	l.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Release did not wake the waiting Acquire")
	}
	l.Release()
}

func TestLimiterAcquireEndsWithContext(t *testing.T) {
	l := New(Config{Max: 1, Fixed: true}, nil)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("run deadline")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { time.Sleep(5 * time.Millisecond); cancel(cause) }()
	if err := l.Acquire(ctx); !errors.Is(err, cause) {
		t.Fatalf("Acquire returned %v, want the context's cause", err)
	}
	if n := l.InFlight(); n != 1 {
		t.Fatalf("%d held after a cancelled Acquire, want 1", n)
	}
}

func TestLimiterHonoursRetryAfter(t *testing.T) {
	l := New(Config{Max: 4, Fixed: true}, nil)
	const pause = 60 * time.Millisecond
	start := time.Now()
	l.Observe(Sample{Start: start, Latency: time.Millisecond, Outcome: Dropped, RetryAfter: pause})
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < pause {
		t.Fatalf("admitted after %s, before the Retry-After of %s passed", waited, pause)
	}
	l.Release()
}

// Waiters are admitted in the order they came, one per release, and one
// that gave up (its context ended) is skipped without losing the admission.
func TestLimiterAdmitsInArrivalOrder(t *testing.T) {
	l := New(Config{Max: 1, Fixed: true}, nil)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	waiting := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.waiters.Len()
	}
	const n = 5
	admitted := make(chan int, n)
	ctxs := make([]context.CancelFunc, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		go func() {
			if l.Acquire(ctx) == nil {
				admitted <- i
			}
		}()
		for waiting() != i+1 { // queued before the next one comes
			time.Sleep(100 * time.Microsecond)
		}
	}
	ctxs[2]() // gives up
	for waiting() != n-1 {
		time.Sleep(100 * time.Microsecond)
	}
	for _, want := range []int{0, 1, 3, 4} {
		l.Release()
		select {
		case got := <-admitted:
			if got != want {
				t.Fatalf("admitted waiter %d, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d never admitted", want)
		}
	}
	if n := l.InFlight(); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
	for _, c := range ctxs {
		c()
	}
}
