package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/testkit/starttest"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/timebridge/timebridge/shared/config"
)

func TestMain(m *testing.M) { starttest.Main(m, main) }

// TestFailsFast: without its configuration the function exits 1 at once
// with one JSON log line naming every problem, the api-only variables
// included.
func TestFailsFast(t *testing.T) {
	starttest.FailsFast(t, "api", []starttest.Case{
		{Name: "no configuration", Env: []string{"TIMEBRIDGE_LOCAL_MODE=maybe"},
			Want: []string{"TIMEBRIDGE_TABLE", "TIMEBRIDGE_SECRET_PREFIX", "TIMEBRIDGE_QUEUE_URL",
				"TIMEBRIDGE_ADMIN_SECRET", "TIMEBRIDGE_PUBLIC_URL", "TIMEBRIDGE_LOCAL_MODE=maybe"}},
		{Name: "no origin secret outside local mode", Env: []string{"TIMEBRIDGE_TABLE=t", "TIMEBRIDGE_SECRET_PREFIX=p", "TIMEBRIDGE_QUEUE_URL=http://127.0.0.1:1/q",
			"TIMEBRIDGE_ADMIN_SECRET=timebridge/admin", "TIMEBRIDGE_PUBLIC_URL=https://tb.example.com"},
			Want: []string{"TIMEBRIDGE_ORIGIN_SECRET"}},
		{Name: "no AWS region", Env: []string{"TIMEBRIDGE_TABLE=t", "TIMEBRIDGE_SECRET_PREFIX=p", "TIMEBRIDGE_QUEUE_URL=http://127.0.0.1:1/q",
			"TIMEBRIDGE_ADMIN_SECRET=timebridge/admin", "TIMEBRIDGE_PUBLIC_URL=https://tb.example.com",
			"TIMEBRIDGE_ORIGIN_SECRET=timebridge/origin"},
			Want: []string{"AWS_REGION"}},
	})
}

// TestSampleEvent serves events/api-gateway-v2-request.json through the
// same adapter call the Lambda runtime makes. GET /api/health touches no
// AWS service, so no emulator is needed.
func TestSampleEvent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "api-gateway-v2-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Table: "t", SecretPrefix: "p", QueueURL: "http://127.0.0.1:1/q",
		AdminSecret: "timebridge/admin", PublicURL: "https://tb.example.com"}
	awsCfg := aws.Config{Region: "eu-central-1"}
	h := newHandler(cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	res, err := httpadapter.NewV2(h).ProxyWithContext(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, res.Body)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil || body["status"] != "ok" {
		t.Fatalf("body %q", res.Body)
	}
	if got := res.Headers["X-Request-Id"]; got != ev.RequestContext.RequestID {
		t.Fatalf("X-Request-Id %q, want API Gateway's %q", got, ev.RequestContext.RequestID)
	}

	// An authenticated route answers 401 without touching AWS.
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.RouteKey = "/api/profiles", "/api/profiles", "GET /api/profiles"
	res, err = httpadapter.NewV2(h).ProxyWithContext(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 || !strings.Contains(res.Body, `"unauthorized"`) {
		t.Fatalf("unauthenticated: %d %s", res.StatusCode, res.Body)
	}
}
