package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestForEach: at most n calls at once, every item once without errors,
// the first error returned and no new items started after it, and the
// cause of the caller's context when it ends.
func TestForEach(t *testing.T) {
	items := make([]int, 50)
	for i := range items {
		items[i] = i
	}
	var active, peak, calls atomic.Int32
	err := forEach(context.Background(), 4, items, func(ctx context.Context, _ int) error {
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		calls.Add(1)
		time.Sleep(time.Millisecond)
		active.Add(-1)
		return nil
	})
	if err != nil || calls.Load() != 50 || peak.Load() > 4 || peak.Load() < 2 {
		t.Fatalf("err %v, %d calls, peak %d", err, calls.Load(), peak.Load())
	}

	boom := errors.New("boom")
	calls.Store(0)
	err = forEach(context.Background(), 1, items, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 4 {
		t.Fatalf("err %v after %d calls, want boom after 4", err, calls.Load())
	}

	stop := errors.New("caller stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	err = forEach(ctx, 2, items, func(ctx context.Context, i int) error {
		if i == 5 {
			cancel(stop)
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want the caller's cause", err)
	}
	if err := forEach(context.Background(), 0, []int{}, func(context.Context, int) error { return boom }); err != nil {
		t.Fatalf("no items: %v", err)
	}
}
