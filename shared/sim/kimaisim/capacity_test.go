package kimaisim

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// arrivals counts the requests the capacity model has seen so far.
func (s *Server) arrivals() int {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.gate.busy + len(s.gate.queue) + s.gate.stats.Rejected + s.gate.stats.Served
}

type timed struct {
	status     int
	retryAfter string
	done       time.Duration // since the first request
}

// sendInOrder sends n requests one after the other's arrival (so the
// arrival order is known), each waited for on its own goroutine.
func sendInOrder(t *testing.T, f *fixture, n int, ctxOf func(i int) context.Context) []chan timed {
	t.Helper()
	start := time.Now()
	out := make([]chan timed, n)
	for i := range n {
		out[i] = make(chan timed, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctxOf(i), "GET", f.url+"/api/ping", nil)
			req.Header.Set("Authorization", "Bearer "+userTok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				out[i] <- timed{done: time.Since(start)}
				return
			}
			resp.Body.Close()
			out[i] <- timed{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), done: time.Since(start)}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for f.s.arrivals() < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("request %d never reached the capacity model", i+1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return out
}

func background(int) context.Context { return context.Background() }

// TestCapacityQueuesThenRefuses: two workers, three places in the queue.
// Of eight requests at once, two are served, three wait their turn in
// arrival order, and three are refused with 429 and Retry-After.
func TestCapacityQueuesThenRefuses(t *testing.T) {
	f := newFixture(t)
	// Long enough for all eight to arrive before the first is served, even
	// under -race on a busy machine.
	const service = 500 * time.Millisecond
	f.s.SetFaults(Faults{Capacity: 2, QueueLimit: 3, Latency: service, RetryAfter: 1500 * time.Millisecond})
	chans := sendInOrder(t, f, 8, background)
	got := make([]timed, len(chans))
	for i, c := range chans {
		got[i] = <-c
	}
	for i, g := range got {
		switch {
		case i < 5 && g.status != 200:
			t.Errorf("request %d: %d, want 200 (served or queued)", i+1, g.status)
		case i >= 5 && (g.status != 429 || g.retryAfter != "2" || g.done >= 2*service):
			t.Errorf("request %d: %d Retry-After %q after %s, want an immediate 429 with Retry-After 2", i+1, g.status, g.retryAfter, g.done)
		}
	}
	// FIFO: the first two are served at once, the next two when they are
	// done, the fifth after them. Only lower bounds: a loaded machine
	// delays timers.
	for i, lo := range []time.Duration{service, service, 2 * service, 2 * service, 3 * service} {
		if got[i].done < lo {
			t.Errorf("request %d done after %s, want at least %s", i+1, got[i].done, lo)
		}
	}
	if got[2].done > got[4].done {
		t.Errorf("the fifth request was served before the third (%s < %s)", got[4].done, got[2].done)
	}
	st := f.s.CapacityStats()
	if st.Served != 5 || st.Rejected != 3 || st.PeakBusy != 2 || st.PeakQueued != 3 || st.PeakInFlight != 5 {
		t.Fatalf("stats %+v", st)
	}
	if st.Busy < 5*service || st.Busy > 2*5*service {
		t.Fatalf("busy %s, want about %s", st.Busy, 5*service)
	}
	// Both workers busy for 2 service times, one for the last (more when
	// timers fire late on a loaded machine, less when a request arrives
	// late).
	util := float64(st.Busy) / float64(2*st.Last.Sub(st.First))
	if util < 0.6 || util > 1 {
		t.Fatalf("utilization %.2f, want about 5/6", util)
	}
	f.s.ResetCounters()
	if st := f.s.CapacityStats(); st != (CapacityStats{}) {
		t.Fatalf("after ResetCounters: %+v", st)
	}
}

// TestCapacityClientLeavesQueue: a request whose client gives up while it
// waits leaves the queue; the one behind it moves up.
func TestCapacityClientLeavesQueue(t *testing.T) {
	f := newFixture(t)
	const service = 300 * time.Millisecond
	f.s.SetFaults(Faults{Capacity: 1, QueueLimit: 5, Latency: service})
	chans := sendInOrder(t, f, 3, func(i int) context.Context {
		if i != 1 {
			return context.Background()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	})
	a, b, c := <-chans[0], <-chans[1], <-chans[2]
	if a.status != 200 || b.status != 0 || c.status != 200 {
		t.Fatalf("statuses %d %d %d, want 200, none (gave up), 200", a.status, b.status, c.status)
	}
	if c.done >= 2*service+service/2 { // 3 × service when it waits
		t.Fatalf("the third request took %s: it waited for the one that left", c.done)
	}
	f.s.WaitIdle()
	st := f.s.CapacityStats()
	if st.Served != 2 || st.Rejected != 0 {
		t.Fatalf("stats %+v", st)
	}
	f.s.gate.mu.Lock()
	defer f.s.gate.mu.Unlock()
	if f.s.gate.busy != 0 || len(f.s.gate.queue) != 0 {
		t.Fatalf("%d busy, %d queued after all left", f.s.gate.busy, len(f.s.gate.queue))
	}
}

// TestCapacityUnboundedAndUnmatched: a negative QueueLimit queues without
// refusing; requests the spec does not match bypass the pool.
func TestCapacityUnboundedAndUnmatched(t *testing.T) {
	f := newFixture(t)
	f.s.SetFaults(Faults{Capacity: 1, QueueLimit: -1, Latency: 100 * time.Millisecond})
	for i, c := range sendInOrder(t, f, 6, background) {
		if g := <-c; g.status != 200 {
			t.Fatalf("request %d: %d, want 200", i+1, g.status)
		}
	}
	if st := f.s.CapacityStats(); st.Served != 6 || st.Rejected != 0 || st.PeakQueued != 5 || st.PeakBusy != 1 {
		t.Fatalf("stats %+v", st)
	}
	f.s.ResetCounters()
	f.s.SetFaults(Faults{Capacity: 1, QueueLimit: 0, Method: "POST"})
	for range 3 {
		if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 200 {
			t.Fatalf("unmatched GET: %d", r.status)
		}
	}
	if st := f.s.CapacityStats(); st != (CapacityStats{}) {
		t.Fatalf("unmatched requests went through the pool: %+v", st)
	}
}
