package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

type runs struct{ saved []tb.Run }

func (r *runs) PutRun(_ context.Context, run tb.Run) (tb.Run, error) {
	r.saved = append(r.saved, run)
	return run, nil
}

type sink struct{ err error }

func (s sink) Send(context.Context, Message) error { return s.err }

type fakeSQS struct{ in *sqs.SendMessageInput }

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = in
	return &sqs.SendMessageOutput{}, nil
}

func TestSubmit(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := func(time.Time) string { return "run-1" }
	r := &runs{}
	run, err := Submit(context.Background(), r, sink{}, Message{ProfileID: "p", Mode: tb.ModeFull, Trigger: "manual", Actor: "admin"}, now, id)
	if err != nil || run.ID != "run-1" || run.Status != tb.RunQueued || !run.QueuedAt.Equal(now) || len(r.saved) != 1 {
		t.Fatalf("%+v %v", run, err)
	}
	// A failed send leaves a failed record, never a run that stays queued.
	r = &runs{}
	run, err = Submit(context.Background(), r, sink{err: apperr.New(apperr.Upstream, "q", "down")}, Message{ProfileID: "p", Mode: tb.ModeFull}, now, id)
	if err == nil || run.Status != tb.RunFailed || len(r.saved) != 2 || r.saved[1].Error == nil {
		t.Fatalf("%+v %v", r.saved, err)
	}
}

func TestDecode(t *testing.T) {
	if _, err := Decode(`{"run_id":"r","profile_id":"p","mode":"full"}`); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "{", `{"run_id":"r"}`, `[]`} {
		if _, err := Decode(bad); !apperr.Is(err, apperr.Validation) {
			t.Errorf("Decode(%q) = %v", bad, err)
		}
	}
}

func TestSenderFIFO(t *testing.T) {
	f := &fakeSQS{}
	if err := NewSender(f, "http://q/runs.fifo").Send(context.Background(), Message{RunID: "r", ProfileID: "p", Mode: tb.ModeFull}); err != nil {
		t.Fatal(err)
	}
	if f.in.MessageGroupId == nil || *f.in.MessageGroupId != "p" || *f.in.MessageDeduplicationId != "r" {
		t.Fatal("FIFO queues need group and dedup ids")
	}
	if err := NewSender(f, "http://q/runs").Send(context.Background(), Message{RunID: "r", ProfileID: "p"}); err != nil || f.in.MessageGroupId != nil {
		t.Fatal("standard queues take no group id")
	}

}

func TestSenderDelay(t *testing.T) {
	f := &fakeSQS{}
	for _, tt := range []struct {
		delay time.Duration
		want  int32
	}{{0, 0}, {1500 * time.Millisecond, 2}, {30 * time.Second, 30}, {time.Hour, 900}} {
		if err := NewSender(f, "http://q/runs").Send(context.Background(), Message{RunID: "r", ProfileID: "p", Mode: tb.ModeTicket, Delay: tt.delay}); err != nil {
			t.Fatal(err)
		}
		if f.in.DelaySeconds != tt.want {
			t.Errorf("delay %v → DelaySeconds %d, want %d", tt.delay, f.in.DelaySeconds, tt.want)
		}
		if strings.Contains(*f.in.MessageBody, "elay") {
			t.Errorf("the delay leaked into the body: %s", *f.in.MessageBody)
		}
	}
}
