package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

const maxStalls = 3

func chunkRunner(mode tb.RunMode, resume int64) *runner {
	return &runner{e: &Engine{opts: Options{ChunkTickets: 3, MinChunkTime: time.Minute, MaxStalls: maxStalls}}, log: slog.New(slog.DiscardHandler),
		req: Request{Mode: mode, Resume: resume}}
}

func TestChunks(t *testing.T) {
	tickets := map[int64]*ticketData{}
	for _, id := range []int64{9, 2, 7, 4, 1, 8, 3} {
		tickets[id] = &ticketData{}
	}
	for _, tc := range []struct {
		name   string
		mode   tb.RunMode
		resume int64
		want   [][]int64
	}{
		{"range: in id order, ChunkTickets each", tb.ModeRange, 0, [][]int64{{1, 2, 3}, {4, 7, 8}, {9}}},
		{"range: after the resume point", tb.ModeRange, 3, [][]int64{{4, 7, 8}, {9}}},
		{"range: between ids", tb.ModeRange, 5, [][]int64{{7, 8, 9}}},
		{"range: all done", tb.ModeRange, 9, nil},
		{"full: one chunk", tb.ModeFull, 0, [][]int64{{1, 2, 3, 4, 7, 8, 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chunkRunner(tc.mode, tc.resume).chunks(tickets)
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("chunks = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCutOff: a range run cut off by its deadline continues after its last
// finished chunk, unless it got nowhere maxStalls invocations in a row; a
// failure before the deadline, or a run that is not chunked, is an error.
func TestCutOff(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	failure := errors.New("kimai down")

	r := chunkRunner(tb.ModeRange, 0)
	if err := r.cutOff(context.Background(), failure); err != failure {
		t.Fatalf("before the deadline: %v", err)
	}
	r.chunkDone(12, time.Second)
	var c *Continuation
	if err := r.cutOff(ended, failure); !errors.As(err, &c) || c.After != 12 {
		t.Fatalf("cut after a chunk: %v", err)
	}

	// Next invocations get nowhere.
	r = chunkRunner(tb.ModeRange, 12)
	r.progress.After, r.progress.Stalls = 12, 0
	for i := 1; i < maxStalls; i++ {
		if err := r.cutOff(ended, failure); !errors.As(err, &c) || c.After != 12 || r.progress.Stalls != i {
			t.Fatalf("stall %d: %v (stalls %d)", i, err, r.progress.Stalls)
		}
	}
	if err := r.cutOff(ended, failure); !apperr.Is(err, apperr.Timeout) {
		t.Fatalf("after %d stalls: %v, want a timeout", maxStalls, err)
	}
	// A chunk done whose records are not written yet is no progress: it
	// is done again.
	r.progress.Stalls = 0
	r.unwritten.puts = []tb.EntryRecord{{EntryID: 1}}
	r.chunkDone(20, time.Second)
	if err := r.cutOff(ended, failure); !errors.As(err, &c) || c.After != 12 || r.progress.Stalls != 1 {
		t.Fatalf("cut after a chunk not written: %v (stalls %d)", err, r.progress.Stalls)
	}
	// An entry written to Kimai is progress.
	r.progress.Stalls, r.counts.Created = maxStalls-1, r.writesAtStart+1
	if err := r.cutOff(ended, failure); !errors.As(err, &c) || r.progress.Stalls != 0 {
		t.Fatalf("cut after a change: %v (stalls %d)", err, r.progress.Stalls)
	}

	// What a chunk counted stays once the progress point is past it; what
	// the chunks after it counted is taken back (they are done again).
	r = chunkRunner(tb.ModeRange, 0)
	r.counts.Seen = 10
	r.chunkDone(5, time.Second) // nothing to write: the point moves at once
	r.counts.Seen = 14
	r.unwritten.puts = []tb.EntryRecord{{EntryID: 1}}
	r.chunkDone(9, time.Second) // its records held
	r.counts.Seen = 17
	if err := r.cutOff(ended, failure); !errors.As(err, &c) || c.After != 5 || r.counts.Seen != 10 {
		t.Fatalf("cut with a chunk's records held: %v, seen %d, want after 5 and 10 seen", err, r.counts.Seen)
	}

	if err := chunkRunner(tb.ModeFull, 0).cutOff(ended, failure); !apperr.Is(err, apperr.Timeout) {
		t.Fatalf("full run cut off: %v, want a timeout", err)
	}
}

// TestBudget: another chunk starts only with twice the last chunk's time,
// and at least MinChunkTime, left before the deadline.
func TestBudget(t *testing.T) {
	r := chunkRunner(tb.ModeRange, 0)
	r.chunkDone(5, 2*time.Minute)
	var c *Continuation
	for _, tc := range []struct {
		left time.Duration
		cont bool
	}{{0, false}, {5 * time.Minute, false}, {3 * time.Minute, true}, {30 * time.Second, true}} {
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if tc.left > 0 {
			ctx, cancel = context.WithTimeout(ctx, tc.left)
		}
		err := r.budget(ctx)
		cancel()
		if got := errors.As(err, &c); got != tc.cont || got && c.After != 5 {
			t.Fatalf("%v left: %v, want continuation %v", tc.left, err, tc.cont)
		}
	}
	r.lastChunk = time.Second // MinChunkTime (1 min) rules
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	if err := r.budget(ctx); !errors.As(err, &c) {
		t.Fatalf("50 s left with a 1 min minimum: %v", err)
	}
}
