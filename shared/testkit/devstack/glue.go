package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/timebridge/timebridge/shared/edge"
)

func generatePassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// invoke calls a function synchronously through kumo's Lambda API, exactly
// as API Gateway, SQS and EventBridge would.
func (s *Stack) invoke(ctx context.Context, fn string, payload any, out any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	res, err := s.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: b})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", fn, err)
	}
	if res.FunctionError != nil {
		return fmt.Errorf("invoke %s: function error %s: %s", fn, aws.ToString(res.FunctionError), res.Payload)
	}
	if out != nil {
		if err := json.Unmarshal(res.Payload, out); err != nil {
			return fmt.Errorf("invoke %s: decode response: %w", fn, err)
		}
	}
	return nil
}

// startGlue starts what kumo does not do itself: delivering SQS messages to
// the function with an SQS event source (kumo stores event-source mappings
// but never polls), and firing the schedule.
func (s *Stack) startGlue(ctx context.Context, o Options) {
	for _, f := range s.Template.Functions {
		if f.SQSQueue != "" {
			q, _ := s.queueByID(f.SQSQueue)
			for range pollers(f.MaxConcurrency, o.ProcessesPerFunction) {
				s.wg.Add(1)
				go func() { defer s.wg.Done(); s.pollQueue(ctx, f, q) }()
			}
		}
		for _, expr := range f.Schedules {
			every := o.ScheduleEvery
			if every == 0 {
				every = rate(expr)
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.tick(ctx, f, every) }()
		}
	}
}

// pollers is how many batches the local event-source mapping works on at
// once: like Lambda's SQS poller, up to the event's MaximumConcurrency (AWS
// starts with five concurrent batches when it is not set), but no more than
// handler processes run, since each batch holds one process for its
// invocation.
func pollers(maxConcurrency, processes int) int {
	n := maxConcurrency
	if n <= 0 {
		n = 5
	}
	return max(1, min(n, processes))
}

// rate parses "rate(5 minutes)"; anything else ticks every 5 minutes.
func rate(expr string) time.Duration {
	inner := strings.TrimSuffix(strings.TrimPrefix(expr, "rate("), ")")
	n, unit, ok := strings.Cut(inner, " ")
	v, err := strconv.Atoi(n)
	if !ok || err != nil || v <= 0 {
		return 5 * time.Minute
	}
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		return time.Duration(v) * time.Minute
	case "hour":
		return time.Duration(v) * time.Hour
	case "day":
		return time.Duration(v) * 24 * time.Hour
	}
	return 5 * time.Minute
}

func (s *Stack) tick(ctx context.Context, f Function, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ev := events.EventBridgeEvent{Version: "0", ID: generatePassword(), DetailType: "Scheduled Event", Source: "aws.events",
			AccountID: account, Time: time.Now().UTC(), Region: region,
			Resources: []string{"arn:aws:events:" + region + ":" + account + ":rule/" + f.LogicalID + "-schedule"},
			Detail:    json.RawMessage("{}")}
		if err := s.invoke(ctx, f.LogicalID, ev, nil); err != nil && ctx.Err() == nil {
			s.log.Warn("schedule tick", "function", f.LogicalID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollQueue is the local event-source mapping: receive a batch, invoke the
// function with an SQS event, delete what succeeded (everything but the
// reported batch item failures), and move messages received more often
// than the redrive policy allows to the dead-letter queue.
func (s *Stack) pollQueue(ctx context.Context, f Function, q Queue) {
	url := s.QueueURLs[q.LogicalID]
	arn := "arn:aws:sqs:" + region + ":" + account + ":" + q.Name
	batch := f.BatchSize
	if batch <= 0 || batch > 10 {
		batch = 10
	}
	for ctx.Err() == nil {
		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: int32(batch),
			WaitTimeSeconds: 1, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("poll queue", "queue", q.Name, "err", err)
				time.Sleep(time.Second)
			}
			continue
		}
		if len(out.Messages) == 0 {
			continue
		}
		ev := events.SQSEvent{}
		byID := map[string]sqstypes.Message{}
		for _, m := range out.Messages {
			count, _ := strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			if q.DeadLetter != "" && q.MaxReceiveCount > 0 && count > q.MaxReceiveCount {
				s.toDeadLetter(ctx, q, url, m)
				continue
			}
			id := aws.ToString(m.MessageId)
			byID[id] = m
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: arn, AWSRegion: region,
				Md5OfBody: aws.ToString(m.MD5OfBody)})
		}
		if len(ev.Records) == 0 {
			continue
		}
		var resp events.SQSEventResponse
		if err := s.invoke(ctx, f.LogicalID, ev, &resp); err != nil {
			// A function error fails the whole batch: the messages come back
			// after their visibility timeout, as on AWS.
			s.log.Warn("reconcile batch failed", "err", err)
			continue
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for id, m := range byID {
			if failed[id] {
				continue
			}
			_, _ = s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

func (s *Stack) toDeadLetter(ctx context.Context, q Queue, url string, m sqstypes.Message) {
	dlq := s.QueueURLs[q.DeadLetter]
	if _, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlq), MessageBody: m.Body}); err != nil {
		s.log.Warn("dead-letter", "err", err)
		return
	}
	_, _ = s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
	s.log.Warn("message moved to the dead-letter queue", "queue", q.Name, "message_id", aws.ToString(m.MessageId))
}

// front serves the SPA at / and turns /api and /webhooks requests into API
// Gateway v2 events for the functions the template routes them to.
func (s *Stack) front(root string) http.Handler {
	type route struct {
		fn       string
		method   string
		segments []string
	}
	var routes []route
	for _, f := range s.Template.Functions {
		for _, r := range f.Routes {
			routes = append(routes, route{fn: f.LogicalID, method: r.Method, segments: strings.Split(strings.Trim(r.Path, "/"), "/")})
		}
	}
	match := func(method, p string) (string, string, map[string]string) {
		segs := strings.Split(strings.Trim(p, "/"), "/")
		best, bestKey, bestParams, bestScore := "", "", map[string]string(nil), -1
	next:
		for _, r := range routes {
			if r.method != "ANY" && r.method != method {
				continue
			}
			params := map[string]string{}
			score := 0
			for i, want := range r.segments {
				if strings.HasSuffix(want, "+}") {
					if i >= len(segs) {
						continue next
					}
					params[strings.Trim(want, "{}+")] = strings.Join(segs[i:], "/")
					goto matched
				}
				if i >= len(segs) {
					continue next
				}
				if strings.HasPrefix(want, "{") {
					params[strings.Trim(want, "{}")] = segs[i]
				} else if want != segs[i] {
					continue next
				} else {
					score += 2
				}
			}
			if len(segs) != len(r.segments) {
				continue
			}
			score++
		matched:
			if score > bestScore {
				best, bestScore, bestParams = r.fn, score, params
				bestKey = r.method + " /" + strings.Join(r.segments, "/")
			}
		}
		return best, bestKey, bestParams
	}
	dist := filepath.Join(root, "web", "dist")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn, routeKey, params := match(r.Method, r.URL.Path)
		if fn == "" || !(strings.HasPrefix(r.URL.Path, "/api") || strings.HasPrefix(r.URL.Path, "/webhooks")) {
			s.serveStatic(w, r, dist)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: routeKey, RawPath: r.URL.Path, RawQueryString: r.URL.RawQuery,
			Headers: map[string]string{}, PathParameters: params, QueryStringParameters: map[string]string{},
			RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: routeKey, AccountID: account, Stage: "$default",
				RequestID: generatePassword(), APIID: "local", DomainName: r.Host, TimeEpoch: time.Now().UnixMilli(),
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
					SourceIP: hostOnly(r.RemoteAddr), UserAgent: r.UserAgent()}}}
		for k, v := range r.Header {
			if strings.EqualFold(k, "Cookie") {
				ev.Cookies = append(ev.Cookies, strings.Split(strings.Join(v, "; "), "; ")...)
				continue
			}
			ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
		}
		// As CloudFront does: the origin custom header on every request to
		// the API origin, and (the viewer-request function on /api/*) the
		// viewer's address, both overwriting whatever the client sent.
		delete(ev.Headers, strings.ToLower(edge.OriginHeader))
		delete(ev.Headers, strings.ToLower(edge.ViewerHeader))
		if s.origin != "" {
			ev.Headers[strings.ToLower(edge.OriginHeader)] = s.origin
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			ev.Headers[strings.ToLower(edge.ViewerHeader)] = hostOnly(r.RemoteAddr)
		}
		for k, v := range r.URL.Query() {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		var resp events.APIGatewayV2HTTPResponse
		if err := s.invoke(r.Context(), fn, ev, &resp); err != nil {
			s.log.Error("front: invoke", "function", fn, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte(`{"error":{"code":"upstream_error","message":"The function failed; see the make dev output."}}`))
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		for _, c := range resp.Cookies {
			w.Header().Add("Set-Cookie", c)
		}
		out := []byte(resp.Body)
		if resp.IsBase64Encoded {
			out, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		status := resp.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(out)
	})
}

func hostOnly(addr string) string {
	if i := strings.LastIndex(addr, ":"); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

// ContentSecurityPolicy is the console's CSP, the same as CloudFront sends
// (template.yaml SpaHeadersPolicy; the template test checks they match), so
// the browser tests run the console under it.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// serveStatic serves the built SPA, falling back to index.html for client
// routes, or a short page that says how to build it.
func (s *Stack) serveStatic(w http.ResponseWriter, r *http.Request, dist string) {
	w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	clean := path.Clean("/" + r.URL.Path)
	file := filepath.Join(dist, filepath.FromSlash(clean))
	if st, err := os.Stat(file); err == nil && !st.IsDir() {
		if ct := mime.TypeByExtension(filepath.Ext(file)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		http.ServeFile(w, r, file)
		return
	}
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err == nil {
		http.ServeFile(w, r, filepath.Join(dist, "index.html"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>Timebridge (local)</title><h1>Timebridge is running</h1>
<p>The web console is not built yet. The API is at <a href="/api/health">/api/health</a>
(<a href="/api/openapi.json">OpenAPI</a>); the Zammad webhook at <code>/webhooks/zammad/{profile_id}</code>.</p>
<p>Demo Zammad: <code>%s</code> (token <code>%s</code>) · demo Kimai: <code>%s</code> (token <code>%s</code>)</p>`,
		s.ZammadURL, s.ZammadToken, s.KimaiURL, s.KimaiToken)
}

// QueueDepth is the number of messages in a queue of the template (by
// logical id), visible or in flight.
func (s *Stack) QueueDepth(ctx context.Context, logicalID string) (int, error) {
	url, ok := s.QueueURLs[logicalID]
	if !ok {
		return 0, fmt.Errorf("devstack: no queue %s", logicalID)
	}
	out, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, fmt.Errorf("devstack: depth of %s: %w", logicalID, err)
	}
	n := 0
	for _, k := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, _ := strconv.Atoi(out.Attributes[string(k)])
		n += v
	}
	return n, nil
}
