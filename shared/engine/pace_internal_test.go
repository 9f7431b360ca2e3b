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
		name  string
		a     upstream.Attempt
		want  limiter.Outcome
		ok    bool
		pause time.Duration // RetryAfter of the sample, when not the attempt's
	}{
		{"created", upstream.Attempt{Service: "kimai", Status: 200}, limiter.Answered, true, 0},
		{"validation error", upstream.Attempt{Service: "kimai", Status: 400, Kind: apperr.Validation}, limiter.Answered, true, 0},
		{"server bug", upstream.Attempt{Service: "kimai", Status: 500, Kind: apperr.Upstream}, limiter.Answered, true, 0},
		{"rate limited", upstream.Attempt{Service: "kimai", Status: 429, Kind: apperr.RateLimited, RetryAfter: 3 * time.Second}, limiter.Dropped, true, 0},
		{"rate limited without Retry-After", upstream.Attempt{Service: "kimai", Status: 429, Kind: apperr.RateLimited}, limiter.Dropped, true, time.Second},
		{"bad gateway", upstream.Attempt{Service: "kimai", Status: 502, Kind: apperr.Upstream}, limiter.Dropped, true, 0},
		{"unavailable", upstream.Attempt{Service: "kimai", Status: 503, Kind: apperr.Upstream}, limiter.Dropped, true, 0},
		{"gateway timeout", upstream.Attempt{Service: "kimai", Status: 504, Kind: apperr.Upstream}, limiter.Dropped, true, 0},
		{"timeout", upstream.Attempt{Service: "kimai", Kind: apperr.Timeout}, limiter.Dropped, true, 0},
		{"refused", upstream.Attempt{Service: "kimai", Kind: apperr.Connection}, limiter.Dropped, true, 0},
		{"run ended", upstream.Attempt{Service: "kimai", Kind: apperr.Timeout, Canceled: true}, 0, false, 0},
		{"zammad", upstream.Attempt{Service: "zammad", Status: 429, Kind: apperr.RateLimited}, 0, false, 0},
	} {
		tc.a.Start, tc.a.Latency = at, 120*time.Millisecond
		s, ok := kimaiSample(tc.a)
		pause := tc.a.RetryAfter
		if tc.pause != 0 {
			pause = tc.pause
		}
		if ok != tc.ok || ok && (s.Outcome != tc.want || s.Start != at || s.Latency != 120*time.Millisecond || s.RetryAfter != pause) {
			t.Errorf("%s: %+v %v, want %s %v", tc.name, s, ok, tc.want, tc.ok)
		}
	}
}
