package apperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestClassification(t *testing.T) {
	base := &Error{Kind: RateLimited, Op: "kimai: list", Message: "slow down", RetryAfter: 3 * time.Second, Fields: map[string]string{"a": "b"}}
	wrapped := fmt.Errorf("engine: run: %w", base)
	tests := []struct {
		name      string
		err       error
		kind      Kind
		retryable bool
		status    int
		message   string
	}{
		{"nil", nil, "", false, http.StatusInternalServerError, ""},
		{"wrapped keeps its kind", wrapped, RateLimited, true, http.StatusTooManyRequests, "slow down"},
		{"plain error is internal, message hidden", errors.New("secret detail"), Internal, false, http.StatusInternalServerError, "An internal error occurred; the details are in the logs."},
		{"deadline is a timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), Timeout, true, http.StatusBadGateway, "The operation took too long and was stopped; it will be retried."},
		{"validation", New(Validation, "op", "bad"), Validation, false, http.StatusBadRequest, "bad"},
		{"auth", New(Auth, "op", "token"), Auth, false, http.StatusUnauthorized, "token"},
		{"permission", New(Permission, "op", "perm"), Permission, false, http.StatusForbidden, "perm"},
		{"not found", New(NotFound, "op", "nf"), NotFound, false, http.StatusNotFound, "nf"},
		{"conflict", New(Conflict, "op", "c"), Conflict, false, http.StatusConflict, "c"},
		{"upstream", New(Upstream, "op", "u"), Upstream, true, http.StatusBadGateway, "u"},
		{"connection", New(Connection, "op", "down"), Connection, true, http.StatusBadGateway, "down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %q, want %q", got, tt.kind)
			}
			if got := Retryable(tt.err); got != tt.retryable {
				t.Errorf("Retryable = %v", got)
			}
			permanent := tt.kind == Validation || tt.kind == Auth || tt.kind == Permission || tt.kind == NotFound
			if got := Permanent(tt.err); got != permanent {
				t.Errorf("Permanent = %v", got)
			}
			if got := HTTPStatus(KindOf(tt.err)); tt.err != nil && got != tt.status {
				t.Errorf("HTTPStatus = %d, want %d", got, tt.status)
			}
			if got := MessageOf(tt.err); got != tt.message {
				t.Errorf("MessageOf = %q, want %q", got, tt.message)
			}
		})
	}
	if RetryAfterOf(wrapped) != 3*time.Second || FieldsOf(wrapped)["a"] != "b" || !Is(wrapped, RateLimited) {
		t.Error("details lost through wrapping")
	}
	if Wrap(nil, Internal, "op", "m") != nil {
		t.Error("Wrap(nil) must be nil")
	}
	cause := errors.New("cause")
	if e := Wrap(cause, Upstream, "op", "m"); !errors.Is(e, cause) {
		t.Error("Wrap must keep the cause")
	}
}
