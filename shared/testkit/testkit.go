// Package testkit holds the small fakes tests across the repository share:
// a settable clock, a log buffer safe for concurrent writers and a queue
// sink that records what was sent. Its sub-packages start what integration
// tests and the local stack need. Only tests and make dev import it; the
// template test checks that no function binary links it.
package testkit

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/timebridge/timebridge/shared/queue"
)

// Clock is a clock tests set and advance. Its Now can be handed to code
// under test (WithClock options, SetClock) and read from any goroutine.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until it is moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Buffer collects output (logs) written from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines returns everything written so far, one element per line.
func (b *Buffer) Lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Sink is a queue.Sink that records the messages sent to it, fails while an
// error is set, and passes messages on to Next when that is set.
type Sink struct {
	Next queue.Sink

	mu   sync.Mutex
	msgs []queue.Message
	err  error
}

var _ queue.Sink = (*Sink)(nil)

// Send records m (unless the sink fails) and passes it on.
func (s *Sink) Send(ctx context.Context, m queue.Message) error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	s.msgs = append(s.msgs, m)
	next := s.Next
	s.mu.Unlock()
	if next != nil {
		return next.Send(ctx, m)
	}
	return nil
}

// Fail makes every Send fail with err until Fail(nil).
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// Sent returns the messages sent so far.
func (s *Sink) Sent() []queue.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]queue.Message(nil), s.msgs...)
}

// Take returns the messages sent so far and forgets them.
func (s *Sink) Take() []queue.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}
