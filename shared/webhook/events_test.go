package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/webhook"
)

// updateEvents regenerates events/webhook-request.json from the Zammad
// simulator: go test ./shared/webhook -run TestSampleEvents -update-events
var updateEvents = flag.Bool("update-events", false, "rewrite events/webhook-request.json from zammadsim")

// The sample webhook event's fixed values (documented in events/README.md).
const (
	sampleSecret    = "demo-webhook-secret"
	sampleProfileID = "01JQ7Z3M2Y8K4T6V9B1C5D7F0H"
	sampleTrigger   = "Timebridge: time accounted"
)

func eventsDir() string { return filepath.Join("..", "..", "events") }

// loadEvent decodes a sample event strictly: an unknown field means the
// sample does not have the shape the Lambda runtime delivers.
func loadEvent(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// generateWebhookEvent builds the API Gateway v2 event API Gateway hands the
// webhook function for a Zammad trigger call with the default payload.
func generateWebhookEvent(t *testing.T) events.APIGatewayV2HTTPRequest {
	sim := zammadsim.New()
	demo := sim.SeedDemo(zammadsim.DemoConfig{})
	// The newest ticket with an accounted article: a realistic payload with
	// ticket_time_accounting and an article carrying accounted_time.
	var tid int64
	for i := len(demo.TicketIDs) - 1; i >= 0 && tid == 0; i-- {
		if bytes.Contains(sim.WebhookPayload(demo.TicketIDs[i]), []byte(`"accounted_time"`)) {
			tid = demo.TicketIDs[i]
		}
	}
	if tid == 0 {
		t.Fatal("no demo ticket with an accounted article")
	}
	const domain = "k3x9q2w1ab.execute-api.eu-central-1.amazonaws.com"
	path := "/webhooks/zammad/" + sampleProfileID
	req, err := sim.WebhookRequest(context.Background(), "https://"+domain+path, sampleSecret, sampleTrigger, tid)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(req.Body); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 4, 7, 9, 12, 31, 417e6, time.UTC)
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /webhooks/zammad/{profile_id}",
		RawPath:        path,
		RawQueryString: "",
		Headers: map[string]string{
			"accept":            "*/*",
			"accept-encoding":   "gzip;q=1.0,deflate;q=0.6,identity;q=0.3",
			"content-length":    itoa(body.Len()),
			"content-type":      req.Header.Get("Content-Type"),
			"host":              domain,
			"user-agent":        req.Header.Get("User-Agent"),
			"x-amzn-trace-id":   "Root=1-67f39737-5c1e4a7d2b8f6e0a9d3c7b21",
			"x-forwarded-for":   "203.0.113.45",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
			"x-hub-signature":   req.Header.Get(webhook.SignatureHeader),
			"x-zammad-delivery": req.Header.Get(webhook.DeliveryHeader),
			"x-zammad-trigger":  req.Header.Get(webhook.TriggerHeader),
		},
		PathParameters: map[string]string{"profile_id": sampleProfileID},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "POST /webhooks/zammad/{profile_id}",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    "JkR2vhq0FiAEMRQ=",
			APIID:        "k3x9q2w1ab",
			DomainName:   domain,
			DomainPrefix: "k3x9q2w1ab",
			Time:         at.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    at.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.45", UserAgent: req.Header.Get("User-Agent"),
			},
		},
		Body:            body.String(),
		IsBase64Encoded: false,
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestSampleEvents checks every file in events/: it has the exact shape of
// its aws-lambda-go type, and its content is consistent (a valid signature
// for the documented secret, decodable queue messages, a scheduled event).
func TestSampleEvents(t *testing.T) {
	if *updateEvents {
		ev := generateWebhookEvent(t)
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		// Drop requestContext.authentication: aws-lambda-go marshals its
		// zero value, but API Gateway sends it only for mutual TLS.
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m["requestContext"].(map[string]any), "authentication")
		if b, err = json.MarshalIndent(m, "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(eventsDir(), "webhook-request.json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("api-gateway-v2-request", func(t *testing.T) {
		var ev events.APIGatewayV2HTTPRequest
		loadEvent(t, "api-gateway-v2-request.json", &ev)
		if ev.Version != "2.0" || ev.RequestContext.HTTP.Method != "GET" || ev.RawPath != "/api/health" {
			t.Fatalf("not a v2 GET /api/health: %+v", ev)
		}
	})

	t.Run("webhook-request", func(t *testing.T) {
		var ev events.APIGatewayV2HTTPRequest
		loadEvent(t, "webhook-request.json", &ev)
		if ev.Version != "2.0" || ev.RequestContext.HTTP.Method != "POST" || ev.RawPath != "/webhooks/zammad/"+sampleProfileID {
			t.Fatalf("not a v2 webhook POST: %s %s", ev.RequestContext.HTTP.Method, ev.RawPath)
		}
		if got, want := ev.Headers["x-hub-signature"], zammadsim.Sign(sampleSecret, []byte(ev.Body)); got != want {
			t.Fatalf("signature %s, want %s for secret %q", got, want, sampleSecret)
		}
		for _, h := range []string{"x-zammad-delivery", "x-zammad-trigger", "user-agent"} {
			if ev.Headers[h] == "" {
				t.Fatalf("header %s missing", h)
			}
		}
		if ev.Headers["user-agent"] != "Zammad User Agent" {
			t.Fatalf("user-agent %q", ev.Headers["user-agent"])
		}
		if id, err := webhook.TicketID([]byte(ev.Body)); err != nil || id <= 0 {
			t.Fatalf("ticket id %d, %v", id, err)
		}
		for _, k := range []string{`"ticket_time_accounting"`, `"accounted_time"`, `"organization"`} {
			if !strings.Contains(ev.Body, k) {
				t.Fatalf("payload lacks %s", k)
			}
		}
	})

	t.Run("scheduled-event", func(t *testing.T) {
		var ev events.EventBridgeEvent
		loadEvent(t, "scheduled-event.json", &ev)
		if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || len(ev.Resources) != 1 {
			t.Fatalf("not a scheduled event: %+v", ev)
		}
	})

	t.Run("sqs-batch", func(t *testing.T) {
		var ev events.SQSEvent
		loadEvent(t, "sqs-batch.json", &ev)
		if len(ev.Records) != 2 {
			t.Fatalf("%d records", len(ev.Records))
		}
		for _, r := range ev.Records {
			m, err := queue.Decode(r.Body)
			if err != nil {
				t.Fatalf("record %s: %v", r.MessageId, err)
			}
			if m.ProfileID != sampleProfileID || r.Attributes["SentTimestamp"] == "" || r.Attributes["ApproximateReceiveCount"] == "" {
				t.Fatalf("record %s: %+v %v", r.MessageId, m, r.Attributes)
			}
		}
	})
}
