package upstream

import (
	"context"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Attempt is one HTTP exchange of a call, as an observer sees it. A call
// retried three times is three attempts.
type Attempt struct {
	Service string // "zammad" or "kimai"
	Op      string
	Start   time.Time     // when the request was sent
	Latency time.Duration // until the answer was read or the attempt failed
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Kind classifies a failed attempt ("" when it succeeded).
	Kind apperr.Kind
	// RetryAfter is the server's Retry-After of a 429, 0 when none.
	RetryAfter time.Duration
	// Canceled reports that the caller's context ended during the attempt:
	// its failure says nothing about the server.
	Canceled bool
}

type observerKey struct{}

// WithObserver returns a context under which every attempt of every call
// is reported to fn, once, right after it ends, on the calling goroutine:
// the retries the client does itself (429s answered by waiting Retry-After,
// transient 5xx) are otherwise invisible to the caller, who sees only one
// slow success. An observer already on ctx keeps being called, before fn.
// fn must be safe for concurrent use when the context is shared.
func WithObserver(ctx context.Context, fn func(Attempt)) context.Context {
	if prev, ok := ctx.Value(observerKey{}).(func(Attempt)); ok {
		next := fn
		fn = func(a Attempt) { prev(a); next(a) }
	}
	return context.WithValue(ctx, observerKey{}, fn)
}

// observe reports an attempt to the context's observer, if any.
func (c *Client) observe(ctx context.Context, req Request, start time.Time, resp *Response, aerr *apperr.Error) {
	fn, ok := ctx.Value(observerKey{}).(func(Attempt))
	if !ok {
		return
	}
	a := Attempt{Service: c.service, Op: req.Op, Start: start, Latency: time.Since(start), Canceled: ctx.Err() != nil}
	switch {
	case aerr != nil:
		a.Status, a.Kind, a.RetryAfter = aerr.Status, aerr.Kind, aerr.RetryAfter
	case resp != nil:
		a.Status = resp.Status
	}
	fn(a)
}
