package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/webhook"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// fixture is one webhook function against kumo: its own table, queue and
// secret prefix, the sample profile and its secret, and the handler behind
// the same httpadapter the Lambda uses.
type fixture struct {
	env      *kumotest.Env
	st       *store.Store
	vault    *vault.Vault
	queueURL string
	sink     *testkit.Sink
	logs     *testkit.Buffer
	metrics  *testkit.Buffer // the EMF lines
	proxy    func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
	// now is the handler's clock. By default every request lands in a
	// throttle slot of its own (the clock jumps an hour per request);
	// throttle tests set it.
	mu  sync.Mutex
	now func() time.Time
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now()
}

func (f *fixture) setClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	env := kumotest.Get(t)
	ctx := context.Background()
	f := &fixture{env: env, st: env.NewStore(t), logs: &testkit.Buffer{}}
	jump := time.Now()
	f.now = func() time.Time { jump = jump.Add(time.Hour); return jump }
	f.vault = vault.New(env.Secrets, "tbtest/"+kumotest.UniqueName(t), vault.DefaultTTL)
	f.queueURL = createQueue(t, env)
	if _, err := f.st.CreateProfile(ctx, tb.Profile{ID: sampleProfileID, Name: "Demo", ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.vault.Put(ctx, vault.WebhookSecret(sampleProfileID), sampleSecret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.vault.Delete(context.Background(), vault.WebhookSecret(sampleProfileID)) })
	f.sink = &testkit.Sink{Next: queue.NewSender(env.SQS, f.queueURL)}
	f.metrics = &testkit.Buffer{}
	h := webhook.New(webhook.Deps{Store: f.st, Secrets: f.vault, Queue: f.sink, Now: f.clock, Metrics: f.metrics,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	f.proxy = httpadapter.NewV2(h).ProxyWithContext
	return f
}

func createQueue(t testing.TB, env *kumotest.Env) string {
	t.Helper()
	out, err := env.SQS.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(kumotest.UniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = env.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	return aws.ToString(out.QueueUrl)
}

// drain receives every message currently in the queue.
func (f *fixture) drain(t testing.TB) []queue.Message {
	t.Helper()
	var out []queue.Message
	for {
		res, err := f.env.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(f.queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			msg, err := queue.Decode(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, msg)
		}
	}
}

func (f *fixture) runs(t testing.TB) []tb.Run {
	t.Helper()
	runs, _, err := f.st.ListRuns(context.Background(), sampleProfileID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

type answer struct {
	Status string `json:"status"`
	RunID  string `json:"run_id"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (f *fixture) send(t testing.TB, ev events.APIGatewayV2HTTPRequest) (int, answer) {
	t.Helper()
	res, err := f.proxy(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal([]byte(res.Body), &a); err != nil {
		t.Fatalf("status %d, body %q: %v", res.StatusCode, res.Body, err)
	}
	if ct := res.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	if res.StatusCode >= 400 && (a.Error == nil || a.Error.Code == "" || a.Error.Message == "") {
		t.Fatalf("status %d without an error body: %s", res.StatusCode, res.Body)
	}
	return res.StatusCode, a
}

func sampleEvent(t testing.TB) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	loadEvent(t, "webhook-request.json", &ev)
	return ev
}

// withBody replaces the event's body and, when secret is set, signs it.
func withBody(ev events.APIGatewayV2HTTPRequest, body []byte, secret string) events.APIGatewayV2HTTPRequest {
	ev.Headers = maps(ev.Headers)
	ev.Body = string(body)
	ev.Headers["content-length"] = strconv.Itoa(len(body))
	delete(ev.Headers, "x-hub-signature")
	if secret != "" {
		ev.Headers["x-hub-signature"] = zammadsim.Sign(secret, body)
	}
	return ev
}

// variant is the sample event with a distinct, re-signed body (another
// ticket state), so that body de-duplication doesn't apply.
func variant(ev events.APIGatewayV2HTTPRequest, i int) events.APIGatewayV2HTTPRequest {
	body := strings.TrimSuffix(strings.TrimSpace(ev.Body), "}") + `,"n":` + strconv.Itoa(i) + "}"
	return withBody(ev, []byte(body), sampleSecret)
}

func withHeader(ev events.APIGatewayV2HTTPRequest, name, value string) events.APIGatewayV2HTTPRequest {
	ev.Headers = maps(ev.Headers)
	if value == "" {
		delete(ev.Headers, name)
	} else {
		ev.Headers[name] = value
	}
	return ev
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func withProfile(ev events.APIGatewayV2HTTPRequest, pid string) events.APIGatewayV2HTTPRequest {
	ev.RawPath = "/webhooks/zammad/" + pid
	ev.RequestContext.HTTP.Path = ev.RawPath
	ev.PathParameters = map[string]string{"profile_id": pid}
	return ev
}

// TestWebhookSignatures covers the good, replayed, missing and bad
// signatures with the sample event, and checks what reached the queue and
// the run records each time.
func TestWebhookSignatures(t *testing.T) {
	f := newFixture(t)
	ev := sampleEvent(t)
	wantTicket, err := webhook.TicketID([]byte(ev.Body))
	if err != nil {
		t.Fatal(err)
	}
	delivery := ev.Headers["x-zammad-delivery"]

	// Good signature: queued.
	status, a := f.send(t, ev)
	if status != http.StatusAccepted || a.Status != "queued" || a.RunID == "" {
		t.Fatalf("good signature: %d %+v", status, a)
	}
	msgs := f.drain(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	m := msgs[0]
	if m.RunID != a.RunID || m.ProfileID != sampleProfileID || m.Mode != tb.ModeTicket || m.TicketID != wantTicket ||
		m.Trigger != "webhook" || m.Actor != "webhook" || m.Delivery != delivery {
		t.Fatalf("message %+v", m)
	}
	run, err := f.st.GetRun(context.Background(), a.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != tb.RunQueued || run.Trigger != "webhook" || run.TicketID != wantTicket || run.Mode != tb.ModeTicket {
		t.Fatalf("run %+v", run)
	}

	// Replayed (Zammad redelivers the same delivery): accepted, not queued.
	status, a = f.send(t, ev)
	if status != http.StatusOK || a.Status != "duplicate" {
		t.Fatalf("replay: %d %+v", status, a)
	}
	if msgs := f.drain(t); len(msgs) != 0 {
		t.Fatalf("replay queued %d messages", len(msgs))
	}

	// Everything below must be refused with nothing queued and no run.
	bad := func(name string, ev events.APIGatewayV2HTTPRequest, wantStatus int, wantCode string) {
		t.Helper()
		ev = withHeader(ev, "x-zammad-delivery", "refused-"+strings.ReplaceAll(name, " ", "-"))
		status, a := f.send(t, ev)
		if status != wantStatus || a.Error == nil || a.Error.Code != wantCode {
			t.Fatalf("%s: %d %+v, want %d %s", name, status, a.Error, wantStatus, wantCode)
		}
	}
	body := []byte(ev.Body)
	// The right signature with its last hex digit changed.
	flipped := []byte(ev.Headers["x-hub-signature"])
	if flipped[len(flipped)-1] == '0' {
		flipped[len(flipped)-1] = '1'
	} else {
		flipped[len(flipped)-1] = '0'
	}
	bad("missing signature", withHeader(ev, "x-hub-signature", ""), http.StatusUnauthorized, "unauthorized")
	bad("wrong signature", withHeader(ev, "x-hub-signature", string(flipped)), http.StatusUnauthorized, "unauthorized")
	bad("wrong secret", withBody(ev, body, "not-the-secret"), http.StatusUnauthorized, "unauthorized")
	bad("not hex", withHeader(ev, "x-hub-signature", "sha1=zz"), http.StatusUnauthorized, "unauthorized")
	bad("other algorithm", withHeader(ev, "x-hub-signature", strings.Replace(ev.Headers["x-hub-signature"], "sha1=", "sha256=", 1)), http.StatusUnauthorized, "unauthorized")
	tampered := bytes.Replace(body, []byte(`"accounted_time"`), []byte(`"accounted_tima"`), 1)
	tamperedEv := withBody(ev, tampered, "")
	tamperedEv.Headers["x-hub-signature"] = ev.Headers["x-hub-signature"]
	bad("tampered body", tamperedEv, http.StatusUnauthorized, "unauthorized")
	// The signature is checked before the JSON is parsed: a malformed body
	// with a wrong signature is a 401, not a 400.
	bad("malformed unsigned", withBody(ev, []byte(`{"ticket":`), "not-the-secret"), http.StatusUnauthorized, "unauthorized")
	bad("malformed signed", withBody(ev, []byte(`{"ticket":`), sampleSecret), http.StatusBadRequest, "validation_failed")
	bad("no ticket id", withBody(ev, []byte(`{"article":{"id":5}}`), sampleSecret), http.StatusBadRequest, "validation_failed")
	bad("ticket not object", withBody(ev, []byte(`{"ticket":"12"}`), sampleSecret), http.StatusBadRequest, "validation_failed")
	bad("array body", withBody(ev, []byte(`[1]`), sampleSecret), http.StatusBadRequest, "validation_failed")
	bad("negative id", withBody(ev, []byte(`{"ticket_id":-4}`), sampleSecret), http.StatusBadRequest, "validation_failed")
	bad("unknown profile", withProfile(ev, "01JQ7Z3M2Y8K4T6V9B1C5D7F0X"), http.StatusNotFound, "not_found")
	bad("traversal profile", withProfile(ev, "..%2F..%2Fadmin"), http.StatusNotFound, "not_found")
	big := append([]byte(`{"ticket_id":1,"pad":"`), bytes.Repeat([]byte("x"), webhook.MaxBody)...)
	big = append(big, `"}`...)
	bad("over 1 MiB", withBody(ev, big, sampleSecret), http.StatusRequestEntityTooLarge, "validation_failed")
	bigNoLength := withBody(ev, big, sampleSecret)
	delete(bigNoLength.Headers, "content-length")
	bad("over 1 MiB without length", bigNoLength, http.StatusRequestEntityTooLarge, "validation_failed")
	get := ev
	get.RequestContext.HTTP.Method = "GET"
	bad("GET", get, http.StatusMethodNotAllowed, apperr.CodeValidation) // as the API's 405
	other := ev
	other.RawPath = "/webhooks/other"
	bad("other path", other, http.StatusNotFound, "not_found")

	if msgs := f.drain(t); len(msgs) != 0 {
		t.Fatalf("refused requests queued %d messages: %+v", len(msgs), msgs)
	}
	if runs := f.runs(t); len(runs) != 1 {
		t.Fatalf("%d runs recorded, want only the first", len(runs))
	}

	// No secret or signature ever reaches the logs.
	logs := f.logs.String()
	for _, s := range []string{sampleSecret, strings.TrimPrefix(ev.Headers["x-hub-signature"], "sha1=")} {
		if strings.Contains(logs, s) {
			t.Fatalf("log contains %q", s)
		}
	}
	if !strings.Contains(logs, `"request_id":"JkR2vhq0FiAEMRQ="`) {
		t.Fatalf("logs lack the API Gateway request id:\n%s", logs)
	}

	// Every delivery is counted under its outcome, and no secret, signature
	// or profile id is in a metric line (a made-up id must not make a series).
	outcomes := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(f.metrics.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		for _, s := range []string{sampleSecret, sampleProfileID, strings.TrimPrefix(ev.Headers["x-hub-signature"], "sha1=")} {
			if strings.Contains(line, s) {
				t.Fatalf("a metric line contains %q: %s", s, line)
			}
		}
		outcomes[m["Outcome"].(string)] += m["WebhookDeliveries"].(float64)
	}
	if outcomes["accepted"] != 1 || outcomes["duplicate"] != 1 || outcomes["rejected"] < 5 {
		t.Fatalf("delivery outcomes %v", outcomes)
	}
}

// TestWebhookBase64 sends the sample with the body base64-encoded, as API
// Gateway does for bodies it does not consider text: the signature must be
// checked over the decoded bytes.
func TestWebhookBase64(t *testing.T) {
	f := newFixture(t)
	ev := sampleEvent(t)
	ev.Body = base64.StdEncoding.EncodeToString([]byte(ev.Body))
	ev.IsBase64Encoded = true
	status, a := f.send(t, ev)
	if status != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("base64 body: %d %+v", status, a)
	}
	if msgs := f.drain(t); len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
}

// TestWebhookWithoutDeliveryHeader: still processed, and a repeat of the
// same body is recognised by its hash.
func TestWebhookWithoutDeliveryHeader(t *testing.T) {
	f := newFixture(t)
	ev := withHeader(sampleEvent(t), "x-zammad-delivery", "")
	if status, a := f.send(t, ev); status != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("first: %d %+v", status, a)
	}
	// Without a delivery id nothing identifies a redelivery, and the same
	// body may be a new change: it is queued again (throttled per ticket).
	if status, a := f.send(t, ev); status != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("repeat: %d %+v", status, a)
	}
	// A different body (another ticket) is a different delivery.
	other := withBody(ev, []byte(`{"ticket_id":"4711"}`), sampleSecret)
	if status, a := f.send(t, other); status != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("other body: %d %+v", status, a)
	}
	msgs := f.drain(t)
	if len(msgs) != 3 || msgs[0].Delivery != "" || msgs[2].Delivery != "" {
		t.Fatalf("messages %+v", msgs)
	}
	ids := []int64{msgs[0].TicketID, msgs[1].TicketID, msgs[2].TicketID}
	if !slices.Contains(ids, 4711) {
		t.Fatalf("custom payload's ticket_id not queued: %v", ids)
	}
}

// TestWebhookDeliveriesArePerProfile: the same delivery id for two
// profiles is two deliveries.
func TestWebhookDeliveriesArePerProfile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const other = "01JQ7Z3M2Y8K4T6V9B1C5D7F0J"
	if _, err := f.st.CreateProfile(ctx, tb.Profile{ID: other, Name: "Other", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.vault.Put(ctx, vault.WebhookSecret(other), sampleSecret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.vault.Delete(context.Background(), vault.WebhookSecret(other)) })
	ev := sampleEvent(t)
	for _, pid := range []string{sampleProfileID, other} {
		if status, a := f.send(t, withProfile(ev, pid)); status != http.StatusAccepted {
			t.Fatalf("%s: %d %+v", pid, status, a)
		}
	}
	if msgs := f.drain(t); len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
}

// TestWebhookDisabledProfile: a verified call for a disabled profile is
// answered 200 ignored and not queued; an unverified one is still a 401.
func TestWebhookDisabledProfile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p, err := f.st.GetProfile(ctx, sampleProfileID)
	if err != nil {
		t.Fatal(err)
	}
	p.Enabled = false
	if _, err := f.st.UpdateProfile(ctx, p, p.Version); err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent(t)
	if status, a := f.send(t, ev); status != http.StatusOK || a.Status != "ignored" {
		t.Fatalf("disabled: %d %+v", status, a)
	}
	if status, _ := f.send(t, withHeader(ev, "x-hub-signature", "")); status != http.StatusUnauthorized {
		t.Fatalf("unsigned for disabled profile: %d", status)
	}
	if msgs := f.drain(t); len(msgs) != 0 {
		t.Fatalf("%d messages", len(msgs))
	}
	if runs := f.runs(t); len(runs) != 0 {
		t.Fatalf("%d runs", len(runs))
	}
}

// TestWebhookProfileWithoutSecret: a profile whose secret is missing
// refuses every call like a wrong signature, also one "signed" with an
// empty key.
func TestWebhookProfileWithoutSecret(t *testing.T) {
	f := newFixture(t)
	if err := f.vault.Delete(context.Background(), vault.WebhookSecret(sampleProfileID)); err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent(t)
	for name, e := range map[string]events.APIGatewayV2HTTPRequest{
		"demo secret": ev,
		"empty key":   withBody(ev, []byte(ev.Body), ""),
	} {
		if name == "empty key" {
			e.Headers["x-hub-signature"] = zammadsim.Sign("", []byte(ev.Body))
		}
		if status, a := f.send(t, e); status != http.StatusUnauthorized {
			t.Fatalf("%s: %d %+v", name, status, a)
		}
	}
	if msgs := f.drain(t); len(msgs) != 0 {
		t.Fatalf("%d messages", len(msgs))
	}
	if !strings.Contains(f.logs.String(), "profile has no webhook secret") {
		t.Fatal("the missing secret is not logged for the admin")
	}
}

// TestWebhookQueueFailure: when SQS refuses the message the answer is a 5xx
// (Zammad retries and shows the failure) and the run record says failed.
func TestWebhookQueueFailure(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC)
	f.setClock(func() time.Time { return t0 }) // every attempt in one throttle slot
	f.sink.Fail(apperr.Wrap(errors.New("sqs down"), apperr.Upstream, "queue: send", "The run could not be queued; try again in a moment."))
	status, a := f.send(t, sampleEvent(t))
	if status < 500 || a.Error == nil || a.Error.Code != "upstream_error" {
		t.Fatalf("%d %+v", status, a.Error)
	}
	runs := f.runs(t)
	if len(runs) != 1 || runs[0].Status != tb.RunFailed {
		t.Fatalf("runs %+v", runs)
	}
	// Zammad's retry of the same delivery is processed, not taken for a
	// duplicate.
	f.sink.Fail(nil)
	if status, a := f.send(t, sampleEvent(t)); status != http.StatusAccepted {
		t.Fatalf("retry after a queue failure: %d %+v", status, a.Error)
	}
	// The failed attempt gave its slot back: the retry took it, one more
	// change is queued for the next slot, and a third is coalesced.
	if status, a := f.send(t, withHeader(sampleEvent(t), "x-zammad-delivery", "next")); status != http.StatusAccepted {
		t.Fatalf("next change: %d %+v", status, a)
	}
	if status, a := f.send(t, withHeader(sampleEvent(t), "x-zammad-delivery", "third")); status != http.StatusOK || a.Status != "coalesced" {
		t.Fatalf("third change: %d %+v", status, a)
	}
}

// BenchmarkWebhook: one signed, first-time delivery per iteration through
// the adapter against kumo (DynamoDB GetItem, the cached secret, the
// delivery put, the run put and the SQS send); it reports the mean and the
// p50/p95/p99 acknowledgement times.
//
//	go test ./shared/webhook -run '^$' -bench BenchmarkWebhook -benchtime 500x
func BenchmarkWebhook(b *testing.B) {
	f := newFixture(b)
	ev := sampleEvent(b)
	proxy := f.proxy
	var durs []time.Duration
	i := 0
	for b.Loop() {
		i++
		e := withHeader(variant(ev, i), "x-zammad-delivery", "bench-"+strconv.Itoa(i))
		start := time.Now()
		res, err := proxy(context.Background(), e)
		durs = append(durs, time.Since(start))
		if err != nil || res.StatusCode != http.StatusAccepted {
			b.Fatalf("%d %v %s", res.StatusCode, err, res.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/ack")
	slices.Sort(durs)
	for _, p := range []int{50, 95, 99} {
		b.ReportMetric(float64(durs[(len(durs)-1)*p/100].Microseconds())/1000, fmt.Sprintf("p%d-ms", p))
	}
}

// memStore and memSecrets are in-memory stand-ins, to separate the
// handler's own cost from DynamoDB's, Secrets Manager's and SQS's.
type memStore struct {
	mu         sync.Mutex
	deliveries map[string]bool
}

func (m *memStore) GetProfile(_ context.Context, id string) (tb.Profile, error) {
	return tb.Profile{ID: id, Enabled: true}, nil
}

func (m *memStore) RecordDelivery(_ context.Context, id string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	first := !m.deliveries[id]
	m.deliveries[id] = true
	return first, nil
}

func (m *memStore) ForgetDelivery(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.deliveries, id)
	return nil
}

func (m *memStore) PutRun(_ context.Context, r tb.Run) (tb.Run, error) { return r, nil }

func (m *memStore) ClaimSlot(context.Context, string, int64, time.Duration) (bool, error) {
	return true, nil
}

func (m *memStore) ReleaseSlot(context.Context, string, int64) error { return nil }

type memSecrets struct{}

func (memSecrets) GetSecret(context.Context, string) (vault.Secret, error) {
	return vault.Secret(sampleSecret), nil
}

// BenchmarkWebhookHandlerOnly is BenchmarkWebhook without the AWS calls:
// the adapter, the HMAC over the sample payload, the JSON parse and the
// answer.
func BenchmarkWebhookHandlerOnly(b *testing.B) {
	h := webhook.New(webhook.Deps{Store: &memStore{deliveries: map[string]bool{}}, Secrets: memSecrets{}, Queue: &testkit.Sink{}})
	proxy := httpadapter.NewV2(h).ProxyWithContext
	ev := sampleEvent(b)
	i := 0
	for b.Loop() {
		i++
		e := withHeader(variant(ev, i), "x-zammad-delivery", "cpu-"+strconv.Itoa(i))
		res, err := proxy(context.Background(), e)
		if err != nil || res.StatusCode != http.StatusAccepted {
			b.Fatalf("%d %v %s", res.StatusCode, err, res.Body)
		}
	}
}

// A Zammad trigger with a minimal custom payload sends the same body for
// every change of a ticket: each new delivery id is a new change and gets a
// run (before, the body hash dropped every later delivery for 48 hours).
func TestWebhookSameBodyNewDeliveries(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := t0
	f.setClock(func() time.Time { return at })
	ev := withBody(sampleEvent(t), []byte(`{"ticket_id": 42}`), sampleSecret)
	for i, d := range []time.Duration{0, 2 * time.Minute, 3 * time.Hour} {
		at = t0.Add(d)
		if status, a := f.send(t, withHeader(ev, "x-zammad-delivery", "change-"+strconv.Itoa(i))); status != http.StatusAccepted || a.Status != "queued" {
			t.Fatalf("change %d: %d %+v", i, status, a)
		}
	}
	// Zammad's retry of one delivery is still a duplicate.
	if status, a := f.send(t, withHeader(ev, "x-zammad-delivery", "change-1")); status != http.StatusOK || a.Status != "duplicate" {
		t.Fatalf("retry: %d %+v", status, a)
	}
	if runs := f.runs(t); len(runs) != 3 {
		t.Fatalf("%d runs for three changes", len(runs))
	}
}

// TestWebhookReplayWithFreshDeliveryIDs: the delivery header isn't signed, so
// a captured body can be resent under new delivery ids. Per ticket and
// throttle slot one run starts now and one is queued for the start of the
// next slot; the rest are coalesced into that one, so no change is lost and
// the work stays bounded.
func TestWebhookReplayWithFreshDeliveryIDs(t *testing.T) {
	f := newFixture(t)
	t0 := time.Date(2026, 12, 2, 10, 0, 5, 0, time.UTC) // 5 s into a 30 s slot
	f.setClock(func() time.Time { return t0 })
	ev := sampleEvent(t)
	rec := &testkit.Sink{Next: f.sink}
	f.proxy = httpadapter.NewV2(webhook.New(webhook.Deps{Store: f.st, Secrets: f.vault, Queue: rec, Now: f.clock})).ProxyWithContext
	statuses := map[string]int{}
	for i := 0; i < 50; i++ {
		status, a := f.send(t, withHeader(ev, "x-zammad-delivery", "replay-"+strconv.Itoa(i)))
		if status >= 300 {
			t.Fatalf("replay %d: %d %+v", i, status, a)
		}
		statuses[a.Status]++
	}
	if statuses["queued"] != 2 || statuses["coalesced"] != 48 {
		t.Fatalf("answers %v", statuses)
	}
	if msgs := rec.Sent(); len(msgs) != 2 || msgs[0].Delay != 0 || msgs[1].Delay != 25*time.Second {
		t.Fatalf("queued %+v", msgs)
	}
	// In a later slot the ticket is queued again.
	f.setClock(func() time.Time { return t0.Add(time.Minute) })
	if status, a := f.send(t, withHeader(ev, "x-zammad-delivery", "later")); status != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("later slot: %d %+v", status, a)
	}
	// Another ticket has its own slots.
	other := withBody(ev, []byte(`{"ticket_id":"4711"}`), sampleSecret)
	if status, a := f.send(t, withHeader(other, "x-zammad-delivery", "other")); status != http.StatusAccepted {
		t.Fatalf("other ticket: %d %+v", status, a)
	}
}

// A flood of unsigned deliveries for one profile is cut short once it has
// been rejected RejectLimit times in a minute (no profile or secret read
// any more), while correctly signed deliveries and ones with a well-formed
// (if wrong) signature are still verified, so Zammad's real deliveries get
// through the flood.
func TestWebhookRejectionBrake(t *testing.T) {
	f := newFixture(t)
	base := time.Now().Truncate(time.Minute).Add(time.Second)
	f.setClock(func() time.Time { return base })
	ev := sampleEvent(t)
	unsigned := withHeader(ev, "x-hub-signature", "")
	for i := 0; i < webhook.RejectLimit; i++ {
		if code, _ := f.send(t, withHeader(unsigned, "x-zammad-delivery", fmt.Sprint("u", i))); code != http.StatusUnauthorized {
			t.Fatalf("unsigned %d: %d", i, code)
		}
	}
	code, a := f.send(t, withHeader(unsigned, "x-zammad-delivery", "u-over"))
	if code != http.StatusTooManyRequests || a.Error.Code != "rate_limited" {
		t.Fatalf("over the limit: %d %+v", code, a)
	}
	// A well-formed but wrong signature is still checked: 401.
	wrong := withHeader(ev, "x-hub-signature", "sha1="+strings.Repeat("ab", 20))
	if code, _ := f.send(t, withHeader(wrong, "x-zammad-delivery", "w1")); code != http.StatusUnauthorized {
		t.Fatalf("well-formed wrong signature: %d", code)
	}
	// The real delivery is queued.
	if code, a := f.send(t, withHeader(ev, "x-zammad-delivery", "real-1")); code != http.StatusAccepted || a.Status != "queued" {
		t.Fatalf("signed delivery during the flood: %d %+v", code, a)
	}
	// The next minute starts afresh; counts are per profile.
	f.setClock(func() time.Time { return base.Add(time.Minute) })
	if code, _ := f.send(t, withHeader(unsigned, "x-zammad-delivery", "u-next")); code != http.StatusUnauthorized {
		t.Fatalf("next minute: %d", code)
	}
	if !strings.Contains(f.logs.String(), `"rejected_in_window":30`) {
		t.Fatal("rejections are not counted in the logs")
	}
}

// TestWebhookContractFuzz sends correctly signed deliveries with mutated
// bodies and headers: every answer is one of the documented ones, errors in
// the envelope, never a 5xx.
func TestWebhookContractFuzz(t *testing.T) {
	f := newFixture(t)
	rng := rand.New(rand.NewPCG(11, 13))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	ids := []string{`42`, `"42"`, `-1`, `0`, `1e30`, `4.5`, `"x"`, `null`, `true`, `[]`, `{}`, `"` + strings.Repeat("9", 400) + `"`, `9223372036854775808`, `"\u0000"`}
	statuses := map[int]int{}
	for i := 0; i < 600; i++ {
		id := ids[rng.IntN(len(ids))]
		var body []byte
		switch rng.IntN(9) {
		case 0:
			body = []byte(`{"ticket":{"id":` + id + `}}`)
		case 1:
			body = []byte(`{"ticket_id":` + id + `}`)
		case 2:
			body = []byte(`{"ticket":{"id":` + id + `},"ticket_id":` + pick(ids...) + `}`)
		case 3:
			body = []byte(pick("", "{", "[]", "null", "not json", `{"ticket":null}`, `{"ticket":[1]}`, `{"ticket":{"id":1}}{}`))
		case 4:
			body = []byte("{\"ticket\":{\"id\":1,\"title\":\"\xff\xfe\"}}")
		case 5:
			body = []byte(`{"ticket":{"id":1},"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
		case 6:
			body = []byte(`{"ticket":{"id":` + id + `,"id":` + pick(ids...) + `}}`) // duplicate key
		default:
			body = []byte(fmt.Sprintf(`{"ticket":{"id":%d,"state":"%s"},"article":{"body":"%s"}}`, rng.IntN(50)+1, pick("open", "closed", "\u202e"), strings.Repeat("ä", rng.IntN(500))))
		}
		ev := withBody(sampleEvent(t), body, sampleSecret)
		ev = withHeader(ev, "x-zammad-delivery", pick("", fmt.Sprint("d", i), strings.Repeat("d", 300), "dup", "\u00e4\u00f6"))
		code, a := f.send(t, ev) // checks the envelope on errors
		statuses[code]++
		switch code {
		case http.StatusAccepted, http.StatusOK:
			if !slices.Contains([]string{"queued", "duplicate", "coalesced", "ignored"}, a.Status) {
				t.Fatalf("case %d: %d with status %q", i, code, a.Status)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if a.Error.Code != "validation_failed" {
				t.Fatalf("case %d: %d with code %q", i, code, a.Error.Code)
			}
		default:
			t.Fatalf("case %d: body %.100q: status %d %+v", i, body, code, a)
		}
	}
	t.Logf("statuses %v", statuses)
	if statuses[http.StatusAccepted] == 0 || statuses[http.StatusBadRequest] == 0 {
		t.Fatalf("the generator missed a path: %v", statuses)
	}
}
