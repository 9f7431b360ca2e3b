package apperr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestCodes: every kind has one code; the codes are the envelope's enum
// (shared/api checks that enum against openapi.json).
func TestCodes(t *testing.T) {
	want := map[Kind]string{Validation: CodeValidation, NotFound: CodeNotFound, Auth: CodeUnauth, Permission: CodeForbidden,
		Conflict: CodeConflict, RateLimited: CodeRateLimited, Connection: CodeUpstream, Timeout: CodeUpstream,
		Upstream: CodeUpstream, Internal: CodeInternal, "": CodeInternal, "unknown": CodeInternal}
	for k, code := range want {
		if got := Code(k); got != code {
			t.Errorf("Code(%q) = %q, want %q", k, got, code)
		}
	}
}

// TestFromUpstreamAndWithField: an upstream's refusal becomes an upstream
// error with its message and without fields or Retry-After; WithField
// names the field without touching the original.
func TestFromUpstreamAndWithField(t *testing.T) {
	for _, k := range []Kind{Auth, Permission, NotFound, RateLimited, Validation} {
		orig := &Error{Kind: k, Op: "kimai", Message: "fix it", Fields: map[string]string{"x": "y"}, RetryAfter: time.Second}
		got, _ := As(FromUpstream(fmt.Errorf("wrapped: %w", orig)))
		if got.Kind != Upstream || got.Message != "fix it" || got.Fields != nil || got.RetryAfter != 0 || orig.Kind != k {
			t.Errorf("%s: %+v (original %+v)", k, got, orig)
		}
	}
	for _, k := range []Kind{Connection, Timeout, Upstream, Conflict, Internal} {
		if err := New(k, "op", "m"); KindOf(FromUpstream(err)) != k {
			t.Errorf("%s was reclassified", k)
		}
	}
	orig := New(Validation, "zammad: new client", "The token is empty.")
	named := WithField(orig, "token")
	if FieldsOf(named)["token"] != "The token is empty." || KindOf(named) != Validation || orig.Fields != nil {
		t.Fatalf("WithField: %+v, original %+v", named, orig)
	}
	if plain := errors.New("x"); WithField(plain, "f") != plain {
		t.Fatal("WithField changed a plain error")
	}
}

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
