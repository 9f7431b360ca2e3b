// Package queue is how work reaches the reconcile function: every run
// (manual, scheduled, webhook) is recorded as "queued" in the store and sent
// as one SQS message; the reconcile function consumes it and runs the
// engine. Nothing long runs inside an API call or a webhook.
package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Message asks for one run. RunID names the run record created on submit.
type Message struct {
	RunID     string     `json:"run_id"`
	ProfileID string     `json:"profile_id"`
	Mode      tb.RunMode `json:"mode"`
	TicketID  int64      `json:"ticket_id,omitempty"`
	// Tickets are more tickets a ticket run syncs with TicketID (a retry
	// of failed entries).
	Tickets []int64 `json:"tickets,omitempty"`
	// RetryOf names the run whose failed entries this run retries.
	RetryOf string     `json:"retry_of,omitempty"`
	From    *time.Time `json:"from,omitempty"`
	To      *time.Time `json:"to,omitempty"`
	DryRun  bool       `json:"dry_run,omitempty"`
	Trigger string     `json:"trigger"` // manual, schedule, webhook
	Actor   string     `json:"actor,omitempty"`
	// Resume continues a range run after this ticket: the run stopped
	// before its invocation's deadline (engine.Continuation).
	Resume int64 `json:"resume_after,omitempty"`
	// Part numbers the invocations of a continued run (the first is 0), so
	// that a continuation SQS delivers twice is recognised and dropped.
	Part int `json:"part,omitempty"`
	// Delivery is the Zammad webhook delivery id, for logs.
	Delivery string `json:"delivery,omitempty"`
	// Delay holds the message back before a consumer sees it (SQS
	// DelaySeconds, whole seconds rounded up, at most 15 min; standard
	// queues only). Not part of the body.
	Delay time.Duration `json:"-"`
}

// MaxDelay is the longest delay SQS allows on a message.
const MaxDelay = 15 * time.Minute

// Decode parses a message body, rejecting unknown or incomplete messages so
// that a poison message is recognisable.
func Decode(body string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, apperr.Wrap(err, apperr.Validation, "queue: decode", "The queue message is not valid JSON.")
	}
	if m.RunID == "" || m.ProfileID == "" || m.Mode == "" {
		return m, apperr.New(apperr.Validation, "queue: decode", "The queue message lacks run_id, profile_id or mode.")
	}
	return m, nil
}

// SQSAPI is the part of the SQS client the sender uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Sender sends messages to one queue.
type Sender struct {
	client SQSAPI
	url    string
}

// NewSender returns a Sender for queue url.
func NewSender(client SQSAPI, url string) *Sender { return &Sender{client: client, url: url} }

// Send sends m. Runs of one profile are grouped (FIFO queues use the group;
// standard queues ignore it) so that the per-profile lease is rarely hit.
func (s *Sender) Send(ctx context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return apperr.Wrap(err, apperr.Internal, "queue: encode", "")
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(s.url), MessageBody: aws.String(string(b))}
	if len(s.url) > 5 && s.url[len(s.url)-5:] == ".fifo" {
		in.MessageGroupId = aws.String(m.ProfileID)
		// A continuation is the same run, but not a duplicate.
		dedup := m.RunID
		if m.Part > 0 {
			dedup = fmt.Sprintf("%s-%d", m.RunID, m.Part)
		}
		in.MessageDeduplicationId = aws.String(dedup)
	} else if m.Delay > 0 {
		secs := min((m.Delay+time.Second-1)/time.Second, MaxDelay/time.Second)
		in.DelaySeconds = int32(secs)
	}
	if _, err := s.client.SendMessage(ctx, in); err != nil {
		return apperr.Wrap(err, apperr.Upstream, fmt.Sprintf("queue: send run %s", m.RunID),
			"The run could not be queued; try again in a moment.")
	}
	return nil
}

// Runs is the part of the store Submit writes.
type Runs interface {
	PutRun(ctx context.Context, r tb.Run) (tb.Run, error)
}

// Sink is anything that accepts messages (the Sender, or a test fake).
type Sink interface {
	Send(ctx context.Context, m Message) error
}

// Submit records the run as queued and sends its message. The record comes
// first so that a run id handed to a user always exists; if the send fails
// the record is marked failed with the reason.
func Submit(ctx context.Context, runs Runs, sink Sink, m Message, now time.Time, newID func(time.Time) string) (tb.Run, error) {
	if m.RunID == "" {
		m.RunID = newID(now)
	}
	r := tb.Run{ID: m.RunID, ProfileID: m.ProfileID, Trigger: m.Trigger, Mode: m.Mode, DryRun: m.DryRun,
		TicketID: m.TicketID, From: m.From, To: m.To, Status: tb.RunQueued, QueuedAt: now, Requester: m.Actor, RetryOf: m.RetryOf}
	if len(m.Tickets) > 0 {
		r.Tickets = append([]int64{m.TicketID}, m.Tickets...)
	}
	stored, err := runs.PutRun(ctx, r)
	if err != nil {
		return r, fmt.Errorf("queue: record run %s: %w", m.RunID, err)
	}
	if err := sink.Send(ctx, m); err != nil {
		stored.Status = tb.RunFailed
		stored.Error = &tb.ErrorDetail{Class: string(apperr.KindOf(err)), Message: apperr.MessageOf(err)}
		_, _ = runs.PutRun(context.WithoutCancel(ctx), stored)
		return stored, err
	}
	return stored, nil
}
