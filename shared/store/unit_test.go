package store_test

// Tests that need no emulator: they stub DynamoDBAPI.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// flakyBatch accepts only the first `accept` requests of each
// BatchWriteItem call and returns the rest as unprocessed.
type flakyBatch struct {
	store.DynamoDBAPI // nil: other methods are not called
	accept            int
	mu                sync.Mutex
	calls             int
	written           map[string]int
}

func (f *flakyBatch) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	out := &dynamodb.BatchWriteItemOutput{}
	for table, reqs := range in.RequestItems {
		if len(reqs) > 25 {
			return nil, fmt.Errorf("batch of %d", len(reqs))
		}
		for i, r := range reqs {
			if i >= f.accept {
				if out.UnprocessedItems == nil {
					out.UnprocessedItems = map[string][]types.WriteRequest{}
				}
				out.UnprocessedItems[table] = append(out.UnprocessedItems[table], r)
				continue
			}
			id := r.PutRequest.Item["id"].(*types.AttributeValueMemberS).Value
			f.written[id]++
		}
	}
	return out, nil
}

func TestAppendAuditRetriesUnprocessedItems(t *testing.T) {
	t.Parallel()
	stub := &flakyBatch{accept: 10, written: map[string]int{}}
	st := store.New(stub, "t")
	evs := make([]timebridge.AuditEvent, 60)
	for i := range evs {
		evs[i] = timebridge.AuditEvent{ID: fmt.Sprintf("e%02d", i), Type: "x"}
	}
	if err := st.AppendAudit(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if len(stub.written) != 60 {
		t.Fatalf("%d events written", len(stub.written))
	}
	for id, n := range stub.written {
		if n != 1 {
			t.Fatalf("%s written %d times", id, n)
		}
	}
	// 60 = 25 + 25 + 10; at 10 per call: 3+3+1 calls.
	if stub.calls != 7 {
		t.Fatalf("%d calls", stub.calls)
	}
}

func TestAppendAuditGivesUp(t *testing.T) {
	t.Parallel()
	stub := &flakyBatch{accept: 0, written: map[string]int{}}
	st := store.New(stub, "t")
	c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := st.AppendAudit(c, timebridge.AuditEvent{Type: "x"})
	if !apperr.Is(err, apperr.Timeout) && !apperr.Is(err, apperr.RateLimited) {
		t.Fatalf("err = %v", err)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	t.Parallel()
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	tests := []struct {
		err  error
		want apperr.Kind
	}{
		{&types.ConditionalCheckFailedException{}, apperr.Conflict},
		{&types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: ptr("None")}, {Code: ptr("ConditionalCheckFailed")}}}, apperr.Conflict},
		{&types.ProvisionedThroughputExceededException{}, apperr.RateLimited},
		{api("ThrottlingException"), apperr.RateLimited},
		{api("ResourceNotFoundException"), apperr.Internal},
		{api("InternalServerError"), apperr.Upstream},
		{&smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}, apperr.Validation},
		{context.DeadlineExceeded, apperr.Timeout},
		{fmt.Errorf("wrapped: %w", context.Canceled), apperr.Timeout},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, apperr.Connection},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, apperr.Timeout},
		{errors.New("boom"), apperr.Internal},
		{apperr.New(apperr.NotFound, "x", "y"), apperr.NotFound},
	}
	for _, tc := range tests {
		if got := apperr.KindOf(store.ClassifyErr(tc.err, "op")); got != tc.want {
			t.Errorf("classify(%T %v) = %s, want %s", tc.err, tc.err, got, tc.want)
		}
	}
	if store.ClassifyErr(nil, "op") != nil {
		t.Error("classify(nil) != nil")
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeCursorRejectsForeignOrBrokenCursors(t *testing.T) {
	t.Parallel()
	names := []string{"pk", "sk"}
	tests := []string{
		"%%%",
		"e30",                                 // {}
		"eyJwayI6IkFVRElUI3AxIn0",             // {"pk":"AUDIT#p1"}: sk missing
		"eyJwayI6IkFVRElUI3AyIiwic2siOiJ4In0", // {"pk":"AUDIT#p2","sk":"x"}: other partition
	}
	for _, cur := range tests {
		_, err := store.DecodeCursor("op", cur, map[string]string{"pk": "AUDIT#p1"}, names...)
		if !apperr.Is(err, apperr.Validation) {
			t.Errorf("cursor %q: err = %v", cur, err)
		}
	}
	key, err := store.DecodeCursor("op", "eyJwayI6IkFVRElUI3AxIiwic2siOiJ4In0", map[string]string{"pk": "AUDIT#p1"}, names...)
	if err != nil || key["sk"].(*types.AttributeValueMemberS).Value != "x" {
		t.Fatalf("valid cursor: %v %v", key, err)
	}
}

func TestParseConflictID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id    string
		pid   string
		entry int64
		ok    bool
	}{
		{"p1.42", "p1", 42, true},
		{"a.b.7", "a.b", 7, true},
		{timebridge.ConflictID("x", 0), "x", 0, true},
		{"p1", "", 0, false},
		{".5", "", 0, false},
		{"p1.", "", 0, false},
		{"p1.x", "", 0, false},
		{"p1.-3", "", 0, false},
	}
	for _, tc := range tests {
		pid, entry, err := store.ParseConflictID(tc.id)
		if (err == nil) != tc.ok || pid != tc.pid || entry != tc.entry {
			t.Errorf("ParseConflictID(%q) = %q, %d, %v", tc.id, pid, entry, err)
		}
	}
}
