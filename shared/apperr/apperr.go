// Package apperr classifies failures once, where they happen, so that every
// caller (the engine's retry logic, the HTTP API's status mapping, the run
// record shown to users) decides by kind instead of by message text.
//
// An *Error carries a Kind, the operation that failed (for logs), a
// user-facing Message that names the fix, optional field messages (Kimai
// validation), an optional Retry-After hint, and the wrapped cause. Internals
// (URLs, bodies, causes) go to logs only; Message is safe to show.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind is the class of a failure.
type Kind string

// The kinds. Upstream kinds (connection … upstream) describe a failed call to
// Zammad or Kimai; the others describe Timebridge's own operations.
const (
	Connection  Kind = "connection"   // host unreachable, DNS, TLS, reset
	Timeout     Kind = "timeout"      // deadline exceeded or upstream hung
	Auth        Kind = "auth"         // 401: token missing, wrong or expired
	Permission  Kind = "permission"   // 403: token lacks a permission, or record locked
	NotFound    Kind = "not_found"    // 404
	Validation  Kind = "validation"   // 400/422: the request was refused as invalid
	RateLimited Kind = "rate_limited" // 429
	Upstream    Kind = "upstream"     // 5xx, or a malformed/non-JSON response
	Conflict    Kind = "conflict"     // a uniqueness or version condition failed
	Internal    Kind = "internal"     // a bug or an unexpected state
)

// Kinds lists every kind.
var Kinds = []Kind{Connection, Timeout, Auth, Permission, NotFound, Validation, RateLimited, Upstream, Conflict, Internal}

// Error is a classified failure.
type Error struct {
	Kind    Kind
	Op      string            // what was attempted, e.g. "kimai: create timesheet"
	Message string            // safe for users; names the fix
	Fields  map[string]string // field → message, for validation errors
	// Status is the upstream HTTP status, 0 when there was no response.
	Status int
	// RetryAfter is the server's hint for rate limiting, 0 when absent.
	RetryAfter time.Duration
	Err        error // cause, for logs
}

func (e *Error) Error() string {
	msg := e.Op
	if msg != "" {
		msg += ": "
	}
	msg += string(e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error.
func New(kind Kind, op, message string) *Error {
	return &Error{Kind: kind, Op: op, Message: message}
}

// Wrap classifies err. A nil err gives nil.
func Wrap(err error, kind Kind, op, message string) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Op: op, Message: message, Err: err}
}

// As returns the outermost *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf returns err's kind: Internal for unclassified errors, Timeout for
// context deadline errors, "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	if e, ok := As(err); ok {
		return e.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Timeout
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// MessageOf returns the user-facing message of err, or a generic one for
// unclassified errors so that internals never leak.
func MessageOf(err error) string {
	if e, ok := As(err); ok && e.Message != "" {
		return e.Message
	}
	switch KindOf(err) {
	case Timeout:
		return "The operation took too long and was stopped; it will be retried."
	case "":
		return ""
	}
	return "An internal error occurred; the details are in the logs."
}

// FieldsOf returns the field messages of err, if any.
func FieldsOf(err error) map[string]string {
	if e, ok := As(err); ok {
		return e.Fields
	}
	return nil
}

// Retryable reports whether repeating the same call may succeed: connection
// failures, timeouts, rate limiting and upstream 5xx.
func Retryable(err error) bool {
	switch KindOf(err) {
	case Connection, Timeout, RateLimited, Upstream:
		return true
	}
	return false
}

// Permanent reports whether doing the whole operation again later would
// fail the same way until a human changes something: auth, permission,
// not found, validation. Queued work that fails otherwise is retried.
func Permanent(err error) bool {
	switch KindOf(err) {
	case Auth, Permission, NotFound, Validation:
		return true
	}
	return false
}

// RetryAfterOf returns the Retry-After hint of err, 0 if none.
func RetryAfterOf(err error) time.Duration {
	if e, ok := As(err); ok {
		return e.RetryAfter
	}
	return 0
}

// WithField says which field of the input err is about: its Fields become
// {field: its message}. Callers decide by field, never by message text.
func WithField(err error, field string) error {
	e, ok := As(err)
	if !ok {
		return err
	}
	c := *e
	c.Fields = map[string]string{field: e.Message}
	return &c
}

// Codes of Timebridge's error envelope {"error":{"code","message",…}},
// the enum of the OpenAPI document's Error schema.
const (
	CodeValidation  = "validation_failed"
	CodeNotFound    = "not_found"
	CodeUnauth      = "unauthorized"
	CodeForbidden   = "forbidden"
	CodeConflict    = "conflict"
	CodeRateLimited = "rate_limited"
	CodeUpstream    = "upstream_error"
	CodeInternal    = "internal"
)

// Code maps a kind to the code Timebridge's own API and webhook answer
// with; with HTTPStatus, the only place where kinds become answers.
func Code(k Kind) string {
	switch k {
	case Validation:
		return CodeValidation
	case NotFound:
		return CodeNotFound
	case Auth:
		return CodeUnauth
	case Permission:
		return CodeForbidden
	case Conflict:
		return CodeConflict
	case RateLimited:
		return CodeRateLimited
	case Connection, Timeout, Upstream:
		return CodeUpstream
	}
	return CodeInternal
}

// FromUpstream reclassifies an error that Zammad or Kimai caused so that
// it cannot be mistaken for one of Timebridge's own answers: an upstream
// 401 must not look like an expired session (the console would sign out),
// an upstream 404 not like a missing connector, an upstream 400 not like a
// field of this request. Its message, which names the fix, is kept.
func FromUpstream(err error) error {
	e, ok := As(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case Auth, Permission, NotFound, RateLimited, Validation:
		c := *e
		c.Kind, c.Fields, c.RetryAfter = Upstream, nil, 0
		return &c
	}
	return err
}

// HTTPStatus maps a kind to the status Timebridge's own API answers with.
// This is the only place where kinds become statuses.
func HTTPStatus(k Kind) int {
	switch k {
	case Validation:
		return http.StatusBadRequest
	case Auth:
		return http.StatusUnauthorized
	case Permission:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case RateLimited:
		return http.StatusTooManyRequests
	case Connection, Timeout, Upstream:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}
