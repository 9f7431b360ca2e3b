package webhook

import (
	"net/http"
	"testing"

	"github.com/timebridge/timebridge/shared/metrics"
)

func TestDeliveryOutcome(t *testing.T) {
	for _, c := range []struct {
		code   int
		answer string
		want   string
	}{
		{http.StatusAccepted, "queued", metrics.OutcomeAccepted},
		{http.StatusOK, "coalesced", metrics.OutcomeAccepted},
		{http.StatusOK, "duplicate", metrics.OutcomeDuplicate},
		{http.StatusOK, "ignored", metrics.OutcomeIgnored},
		{http.StatusUnauthorized, "", metrics.OutcomeRejected},
		{http.StatusTooManyRequests, "", metrics.OutcomeRejected},
		{http.StatusNotFound, "", metrics.OutcomeRejected},
		{http.StatusServiceUnavailable, "", metrics.OutcomeFailed},
	} {
		if got := deliveryOutcome(c.code, c.answer); got != c.want {
			t.Errorf("deliveryOutcome(%d, %q) = %s, want %s", c.code, c.answer, got, c.want)
		}
	}
}
