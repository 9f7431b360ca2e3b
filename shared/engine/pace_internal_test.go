package engine

import (
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/limiter"
	"github.com/timebridge/timebridge/shared/upstream"
)

func TestKimaiSample(t *testing.T) {
	at := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		a    upstream.Attempt
		want limiter.Outcome
		ok   bool
	}{
		{"created", upstream.Attempt{Service: "kimai", Status: 200}, limiter.Answered, true},
		{"validation error", upstream.Attempt{Service: "kimai", Status: 400, Kind: apperr.Validation}, limiter.Answered, true},
		{"server bug", upstream.Attempt{Service: "kimai", Status: 500, Kind: apperr.Upstream}, limiter.Answered, true},
		{"rate limited", upstream.Attempt{Service: "kimai", Status: 429, Kind: apperr.RateLimited, RetryAfter: time.Second}, limiter.Dropped, true},
		{"bad gateway", upstream.Attempt{Service: "kimai", Status: 502, Kind: apperr.Upstream}, limiter.Dropped, true},
		{"unavailable", upstream.Attempt{Service: "kimai", Status: 503, Kind: apperr.Upstream}, limiter.Dropped, true},
		{"gateway timeout", upstream.Attempt{Service: "kimai", Status: 504, Kind: apperr.Upstream}, limiter.Dropped, true},
		{"timeout", upstream.Attempt{Service: "kimai", Kind: apperr.Timeout}, limiter.Dropped, true},
		{"refused", upstream.Attempt{Service: "kimai", Kind: apperr.Connection}, limiter.Dropped, true},
		{"run ended", upstream.Attempt{Service: "kimai", Kind: apperr.Timeout, Canceled: true}, 0, false},
		{"zammad", upstream.Attempt{Service: "zammad", Status: 429, Kind: apperr.RateLimited}, 0, false},
	} {
		tc.a.Start, tc.a.Latency = at, 120*time.Millisecond
		s, ok := kimaiSample(tc.a)
		if ok != tc.ok || ok && (s.Outcome != tc.want || s.Start != at || s.Latency != 120*time.Millisecond || s.RetryAfter != tc.a.RetryAfter) {
			t.Errorf("%s: %+v %v, want %s %v", tc.name, s, ok, tc.want, tc.ok)
		}
	}
}
