// Package webhook receives Zammad's webhook calls and turns each into a
// queued one-ticket run; the reconcile function does the work.
//
// The handler serves POST /webhooks/zammad/{profile_id}. In order:
//
//  1. The raw body is read with a 1 MiB limit (413 above it). API Gateway
//     may base64-encode a body; the httpadapter decodes it before this
//     handler sees the request, so the signature is always checked over the
//     bytes Zammad signed. Before that, a profile whose deliveries this
//     instance rejected RejectLimit times in the current minute gets 429
//     for deliveries without a well-formed signature, before anything is
//     read (rejections.go); well-formed signatures are always verified, so
//     real deliveries get through.
//  2. The profile is looked up (404 when unknown or when the id is not a
//     plausible profile id, which also keeps "/" and similar out of the
//     secret's name).
//  3. Its webhook secret (vault name profiles/<id>/webhook-secret) is read
//     and X-Hub-Signature ("sha1=<hex>", HMAC-SHA1 of the raw body, what
//     Zammad sends when the webhook has an "HMAC SHA1 Signature Token") is
//     verified with hmac.Equal before anything is parsed (401 when missing
//     or wrong). The MAC is computed on every path, also when the header is
//     absent or the profile has no secret, so the time of a 401 says nothing
//     about the secret or how close a guess was.
//  4. The JSON is parsed (400 when malformed) for the ticket id: ticket.id
//     of Zammad's default payload, or ticket_id of a custom payload, as a
//     number or a string (400 when absent).
//  5. A disabled profile answers 200 {"status":"ignored"}.
//  6. X-Zammad-Delivery is recorded with a conditional put (48 h TTL): a
//     redelivery (Zammad retries keep the id) answers 200
//     {"status":"duplicate"} and is not queued again. Only the id counts:
//     a custom payload such as {"ticket_id": 42} is the same body for every
//     real change, so bodies are never compared.
//  7. The ticket is throttled in slots of TicketInterval (30 s), because
//     the delivery header is not signed and a captured body could be
//     replayed under fresh ids: the first delivery of a slot queues a run
//     now, the next one a run delayed to the start of the following slot
//     (it reads Zammad after the change), and any further one answers 200
//     {"status":"coalesced"}, since a run that starts after it is already
//     queued. No change is ever dropped; a ticket costs at most about two
//     runs per slot.
//  8. The run is recorded as queued and sent to SQS (queue.Submit, with
//     the delay); the answer is 202 {"status":"queued","run_id":…}. If that
//     fails, the delivery is forgotten and the slot given back, so that
//     Zammad's retry is processed.
//
// Nothing is queued on any 4xx. Errors have the API's shape
// {"error":{"code","message"}}. The work is five DynamoDB/SQS calls and one
// cached secret read, well inside Zammad's 30 s read timeout.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/metrics"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
)

// Limits and header names.
const (
	// MaxBody is the largest body accepted. Zammad's default payload for a
	// ticket with many entries is tens of kilobytes.
	MaxBody = 1 << 20
	// DeliveryTTL is how long a delivery id is remembered. Zammad retries a
	// failed delivery a few times within hours; two days cover that.
	DeliveryTTL = 48 * time.Hour

	// TicketInterval is the throttle slot of one ticket: at most one run
	// starts per slot, plus one queued for the next slot start. Short
	// enough that a change shows in Kimai within a minute, long enough
	// that a burst of ticket updates (or a replayed body) costs two runs.
	TicketInterval = 30 * time.Second

	SignatureHeader = "X-Hub-Signature"
	DeliveryHeader  = "X-Zammad-Delivery"
	TriggerHeader   = "X-Zammad-Trigger"

	// Route is the handler's pattern (Go 1.22 ServeMux syntax, no method so
	// that other methods get a JSON 405 instead of the mux's plain text).
	Route = "/webhooks/zammad/{profile_id}"
)

// Store is the part of the store the webhook uses.
type Store interface {
	GetProfile(ctx context.Context, id string) (tb.Profile, error)
	RecordDelivery(ctx context.Context, id string, ttl time.Duration) (bool, error)
	ForgetDelivery(ctx context.Context, id string) error
	ClaimSlot(ctx context.Context, name string, slot int64, ttl time.Duration) (bool, error)
	ReleaseSlot(ctx context.Context, name string, slot int64) error
	queue.Runs
}

// Secrets is the part of the vault the webhook uses.
type Secrets interface {
	GetSecret(ctx context.Context, name string) (vault.Secret, error)
}

// Deps are the handler's collaborators.
type Deps struct {
	Store   Store
	Secrets Secrets
	Queue   queue.Sink
	Logger  *slog.Logger // nil discards
	// Now and NewID default to time.Now and ident.New.
	Now   func() time.Time
	NewID func(time.Time) string
	// DeliveryTTL defaults to DeliveryTTL.
	DeliveryTTL time.Duration
	// TicketInterval is the throttle slot per ticket (default
	// TicketInterval).
	TicketInterval time.Duration
	// Metrics receives one EMF line per delivery, counting it under its
	// outcome (standard output in Lambda; nil: none). The profile id is not
	// a dimension: an unsigned flood with made-up ids must not create series.
	Metrics io.Writer
	// MetricsNamespace is the metrics' CloudWatch namespace (empty:
	// metrics.Namespace).
	MetricsNamespace string
}

type handler struct {
	d Deps
	// dummyKey stands in for a missing secret so that a profile without a
	// secret takes the same path (and time) as a wrong signature.
	dummyKey []byte
	rejected rejections
	metrics  *metrics.Sink
}

// New returns the webhook handler. It answers every path: the webhook route,
// and a JSON 404 for anything else.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = ident.New
	}
	if d.DeliveryTTL <= 0 {
		d.DeliveryTTL = DeliveryTTL
	}
	if d.TicketInterval <= 0 {
		d.TicketInterval = TicketInterval
	}
	h := &handler{d: d, dummyKey: make([]byte, 32), metrics: metrics.NewSink(d.Metrics, d.MetricsNamespace)}
	_, _ = rand.Read(h.dummyKey)
	mux := http.NewServeMux()
	mux.HandleFunc(Route, h.counted(h.serve))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apperr.CodeNotFound, "No such endpoint; Zammad webhooks go to /webhooks/zammad/<profile id>.")
	})
	return mux
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	reqID := requestID(r)
	w.Header().Set("X-Request-Id", reqID)
	pid := r.PathValue("profile_id")
	log := h.d.Logger.With(slog.String("request_id", reqID))

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, apperr.CodeValidation, "Zammad webhooks are delivered with POST.")
		return
	}
	if !ident.Valid(pid) {
		writeError(w, http.StatusNotFound, apperr.CodeNotFound, "There is no sync profile with this id; copy the webhook URL from the profile.")
		return
	}
	log = log.With(slog.String("profile_id", pid))
	now := h.d.Now()
	if n := h.rejected.count(now, pid); n >= RejectLimit && !wellFormed(r.Header.Get(SignatureHeader)) {
		secs := int(windowEnd(now).Sub(now)/time.Second) + 1
		log.Warn("webhook rejected", slog.Int("status", http.StatusTooManyRequests),
			slog.String("reason", "unsigned, after too many rejected deliveries"), slog.Int("rejected_in_window", n))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, apperr.CodeRateLimited,
			"Too many deliveries for this profile were rejected in the last minute; sign deliveries with the profile's webhook secret (HMAC SHA1 Signature Token).")
		return
	}

	body, status, err := readBody(w, r)
	if err != nil {
		log.Warn("webhook rejected", slog.Int("status", status), slog.String("err", err.Error()))
		writeError(w, status, apperr.CodeValidation, apperr.MessageOf(err))
		return
	}

	p, err := h.d.Store.GetProfile(ctx, pid)
	if apperr.Is(err, apperr.NotFound) {
		log.Warn("webhook for unknown profile", slog.Int("status", http.StatusNotFound))
		writeError(w, http.StatusNotFound, apperr.CodeNotFound, "There is no sync profile with this id; copy the webhook URL from the profile.")
		return
	}
	if err != nil {
		h.fail(w, log, "load profile", err)
		return
	}

	secret, err := h.d.Secrets.GetSecret(ctx, vault.WebhookSecret(pid))
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		h.fail(w, log, "load webhook secret", err)
		return
	}
	// An empty secret would make the MAC computable by anyone: treat it as
	// missing.
	noSecret := err != nil || secret.Reveal() == ""
	key := h.dummyKey
	if !noSecret {
		key = []byte(secret.Reveal())
	}
	if !verify(key, body, r.Header.Get(SignatureHeader)) || noSecret {
		reason := "signature missing or wrong"
		if noSecret {
			reason = "profile has no webhook secret"
		}
		log.Warn("webhook rejected", slog.Int("status", http.StatusUnauthorized), slog.String("reason", reason),
			slog.Int("rejected_in_window", h.rejected.add(now, pid)))
		writeError(w, http.StatusUnauthorized, apperr.CodeUnauth,
			"The X-Hub-Signature header is missing or does not match; set the webhook's HMAC SHA1 Signature Token in Zammad to the profile's webhook secret.")
		return
	}

	ticketID, err := TicketID(body)
	if err != nil {
		log.Warn("webhook rejected", slog.Int("status", http.StatusBadRequest), slog.String("err", err.Error()))
		writeError(w, http.StatusBadRequest, apperr.CodeValidation, apperr.MessageOf(err))
		return
	}
	log = log.With(slog.Int64("ticket_id", ticketID))
	if !p.Enabled {
		log.Info("webhook ignored: profile disabled")
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored"})
		return
	}

	delivery := r.Header.Get(DeliveryHeader)
	var dkey string
	if delivery != "" {
		dkey = deliveryKey(pid, delivery)
		log = log.With(slog.String("delivery", dkey))
		first, err := h.d.Store.RecordDelivery(ctx, dkey, h.d.DeliveryTTL)
		if err != nil {
			h.fail(w, log, "record delivery", err)
			return
		}
		if !first {
			log.Info("webhook redelivery ignored", slog.Int64("duration_us", time.Since(start).Microseconds()))
			writeJSON(w, http.StatusOK, map[string]string{"status": "duplicate"})
			return
		}
	}
	forget := func() {
		if dkey == "" {
			return
		}
		if ferr := h.d.Store.ForgetDelivery(context.WithoutCancel(ctx), dkey); ferr != nil {
			log.Warn("forget delivery", slog.String("err", ferr.Error()))
		}
	}

	// Throttle per ticket, in slots of TicketInterval. The delivery header
	// is not signed, so a captured body can come back under fresh ids, and
	// a custom payload such as {"ticket_id": 42} is the same body for every
	// real change: neither may be forgotten, nor queue unbounded work. The
	// first delivery of a slot runs now; one more is queued for the start
	// of the next slot (it reads Zammad after every change of this one);
	// beyond that, a run that starts later is already queued.
	name := pid + "/ticket-" + strconv.FormatInt(ticketID, 10)
	slot := now.UnixMilli() / h.d.TicketInterval.Milliseconds()
	var delay time.Duration
	claimed, err := h.d.Store.ClaimSlot(ctx, name, slot, 3*h.d.TicketInterval)
	if err == nil && !claimed {
		slot++
		delay = time.UnixMilli(slot * h.d.TicketInterval.Milliseconds()).Sub(now)
		claimed, err = h.d.Store.ClaimSlot(ctx, name, slot, 3*h.d.TicketInterval)
	}
	if err != nil {
		forget()
		h.fail(w, log, "throttle ticket", err)
		return
	}
	if !claimed {
		log.Info("webhook coalesced: a later run of this ticket is queued", slog.Int64("duration_us", time.Since(start).Microseconds()))
		writeJSON(w, http.StatusOK, map[string]string{"status": "coalesced"})
		return
	}

	msg := queue.Message{ProfileID: pid, Mode: tb.ModeTicket, TicketID: ticketID, Trigger: "webhook", Actor: "webhook", Delay: delay}
	if validDelivery(delivery) {
		msg.Delivery = delivery
	}
	run, err := queue.Submit(ctx, h.d.Store, h.d.Queue, msg, now, h.d.NewID)
	if err != nil {
		// Forget the delivery and give the slot back so that Zammad's
		// retry (it retries 5xx up to four times) is processed rather
		// than taken for a duplicate.
		forget()
		if rerr := h.d.Store.ReleaseSlot(context.WithoutCancel(ctx), name, slot); rerr != nil {
			log.Warn("release slot", slog.String("err", rerr.Error()))
		}
		h.fail(w, log.With(slog.String("run_id", run.ID)), "queue run", err)
		return
	}
	log.Info("webhook queued", slog.String("run_id", run.ID), slog.String("trigger", clip(r.Header.Get(TriggerHeader), 100)),
		slog.Duration("delay", delay), slog.Int64("duration_us", time.Since(start).Microseconds()))
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "run_id": run.ID})
}

// fail answers a failure of Timebridge's own dependencies (DynamoDB,
// Secrets Manager, SQS) with the status of its kind — 5xx in practice, so
// that Zammad retries the delivery.
func (h *handler) fail(w http.ResponseWriter, log *slog.Logger, what string, err error) {
	kind := apperr.KindOf(err)
	status := apperr.HTTPStatus(kind)
	if status < 500 {
		// A 4xx here would tell Zammad the request was wrong, which it was
		// not; make it retry instead.
		status, kind = http.StatusServiceUnavailable, apperr.Upstream
	}
	log.Error("webhook failed", slog.String("step", what), slog.Int("status", status),
		slog.String("class", string(apperr.KindOf(err))), slog.String("err", err.Error()))
	writeError(w, status, apperr.Code(kind), "Timebridge could not accept the webhook right now ("+what+"); Zammad will retry it.")
}

// verify reports whether header is "sha1=<hex>" of the HMAC-SHA1 of body
// under key. The MAC is always computed, and compared in constant time.
func verify(key, body []byte, header string) bool {
	m := hmac.New(sha1.New, key)
	m.Write(body)
	want := m.Sum(nil)
	prefix, hexsig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(prefix, "sha1") {
		return false
	}
	got, err := hex.DecodeString(hexsig)
	if err != nil {
		return false
	}
	return hmac.Equal(want, got)
}

// readBody reads at most MaxBody bytes; larger bodies are a 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	const op = "webhook: read body"
	tooLarge := apperr.New(apperr.Validation, op, fmt.Sprintf("The body is larger than %d bytes (1 MiB).", MaxBody))
	if r.ContentLength > MaxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, apperr.Wrap(err, apperr.Validation, op, "The body could not be read.")
	}
	return body, 0, nil
}

// TicketID extracts the ticket id of a webhook payload: ticket.id of
// Zammad's default payload, or ticket_id of a custom payload, as a JSON
// number or a string holding one. It must be a positive integer. Errors are
// apperr.Validation with a message for the admin who set up the trigger.
func TicketID(body []byte) (int64, error) {
	const op = "webhook: ticket id"
	bad := func(msg string) error { return apperr.New(apperr.Validation, op, msg) }
	var p struct {
		Ticket *struct {
			ID json.RawMessage `json:"id"`
		} `json:"ticket"`
		TicketID json.RawMessage `json:"ticket_id"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return 0, bad("The body is not a JSON object; use Zammad's default payload or a custom one with ticket_id.")
	}
	if err := json.Unmarshal(trimmed, &p); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field == "ticket" {
			return 0, bad("The payload's ticket is not an object.")
		}
		return 0, bad("The body is not valid JSON.")
	}
	raw, field := p.TicketID, "ticket_id"
	if p.Ticket != nil && len(p.Ticket.ID) > 0 && string(p.Ticket.ID) != "null" {
		raw, field = p.Ticket.ID, "ticket.id"
	}
	if len(raw) == 0 || string(raw) == "null" {
		return 0, bad(`The payload has no ticket.id or ticket_id; use Zammad's default payload or add "ticket_id": "#{ticket.id}".`)
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, bad("The payload's " + field + " is not a valid string.")
		}
		s = strings.TrimSpace(s)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, bad("The payload's " + field + " must be a positive integer.")
	}
	return id, nil
}

// deliveryKey is the id under which a delivery is remembered. It is scoped
// to the profile, because two profiles may receive the same Zammad payload.
// A header that can't be stored verbatim is remembered by its hash.
func deliveryKey(pid, delivery string) string {
	if validDelivery(delivery) {
		return pid + "/" + delivery
	}
	sum := sha256.Sum256([]byte(delivery))
	return pid + "/sha256-" + hex.EncodeToString(sum[:])
}

// validDelivery accepts what Zammad sends (a UUID) and similar ids, and
// nothing that could confuse a DynamoDB key or a log line.
func validDelivery(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// requestID names the request in logs: API Gateway's request id, else the
// Lambda request id, else a new id.
func requestID(r *http.Request) string {
	if rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context()); ok && rc.RequestID != "" {
		return rc.RequestID
	}
	if lc, ok := lambdacontext.FromContext(r.Context()); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return ident.New(time.Now())
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if o, ok := w.(*outcomeWriter); ok {
		if m, ok := v.(map[string]string); ok {
			o.answer = m["status"]
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// outcomeWriter remembers the status code and the "status" of a
// delivery's answer, for the delivery metric.
type outcomeWriter struct {
	http.ResponseWriter
	code   int
	answer string // "queued", "coalesced", "duplicate", "ignored"
}

func (o *outcomeWriter) WriteHeader(code int) {
	o.code = code
	o.ResponseWriter.WriteHeader(code)
}

// counted writes the delivery metric after next answered.
func (h *handler) counted(next http.HandlerFunc) http.HandlerFunc {
	if h.metrics == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		o := &outcomeWriter{ResponseWriter: w, code: http.StatusOK}
		next(o, r)
		doc := metrics.New(metrics.DimOutcome, deliveryOutcome(o.code, o.answer))
		doc.Add(metrics.WebhookDeliveries, metrics.Count, 1)
		if err := h.metrics.Write(h.d.Now(), doc); err != nil {
			h.d.Logger.Warn("delivery metric not written", slog.String("err", err.Error()))
		}
	}
}

// deliveryOutcome names what became of a delivery.
func deliveryOutcome(code int, answer string) string {
	switch {
	case code >= 500:
		return metrics.OutcomeFailed
	case code >= 400:
		return metrics.OutcomeRejected
	case answer == "duplicate":
		return metrics.OutcomeDuplicate
	case answer == "ignored":
		return metrics.OutcomeIgnored
	}
	return metrics.OutcomeAccepted
}

// compile-time check that the real store and vault fit.
var (
	_ Store   = (*store.Store)(nil)
	_ Secrets = (*vault.Vault)(nil)
)
