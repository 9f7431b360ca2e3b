package main

import (
	"testing"

	"github.com/timebridge/timebridge/shared/testkit/starttest"
)

func TestMain(m *testing.M) { starttest.Main(m, main) }

// TestFailsFast: without its configuration the function exits 1 at once
// with one JSON log line naming every problem.
func TestFailsFast(t *testing.T) {
	starttest.FailsFast(t, "webhook", []starttest.Case{
		{Name: "no configuration", Env: []string{"LOG_LEVEL=loud"},
			Want: []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_QUEUE_URL", "LOG_LEVEL=loud"}},
		{Name: "no AWS region", Env: []string{"TIMEBRIDGE_TABLE=t", "TIMEBRIDGE_SECRET_PREFIX=p", "TIMEBRIDGE_QUEUE_URL=http://127.0.0.1:1/q"},
			Want: []string{"AWS_REGION"}},
	})
}
