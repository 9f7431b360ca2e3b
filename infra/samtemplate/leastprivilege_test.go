package samtemplate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/schedule"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/webhook"
)

// call is one DynamoDB request: its action and the partition keys it
// touches ("" for an index query, which tableKeys never allows).
type call struct {
	action string
	keys   []string
}

// recorder is store.DynamoDBAPI around kumo, recording every call.
type recorder struct {
	store.DynamoDBAPI
	mu    sync.Mutex
	calls []call
}

func (r *recorder) rec(action string, keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{action, keys})
}

func pkOf(m map[string]types.AttributeValue) string {
	if v, ok := m["pk"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return "?"
}

func (r *recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.rec("GetItem", pkOf(in.Key))
	return r.DynamoDBAPI.GetItem(ctx, in, o...)
}

func (r *recorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.rec("PutItem", pkOf(in.Item))
	return r.DynamoDBAPI.PutItem(ctx, in, o...)
}

func (r *recorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.rec("UpdateItem", pkOf(in.Key))
	return r.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

func (r *recorder) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.rec("DeleteItem", pkOf(in.Key))
	return r.DynamoDBAPI.DeleteItem(ctx, in, o...)
}

var keyCondPK = regexp.MustCompile(`\bpk\s*=\s*(:\w+)`)

func (r *recorder) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	pk := ""
	if in.IndexName == nil {
		if m := keyCondPK.FindStringSubmatch(aws.ToString(in.KeyConditionExpression)); m != nil {
			pk = pkOf(map[string]types.AttributeValue{"pk": in.ExpressionAttributeValues[m[1]]})
		}
	}
	r.rec("Query", pk)
	return r.DynamoDBAPI.Query(ctx, in, o...)
}

func (r *recorder) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	var keys []string
	for _, reqs := range in.RequestItems {
		for _, w := range reqs {
			if w.PutRequest != nil {
				keys = append(keys, pkOf(w.PutRequest.Item))
			}
			if w.DeleteRequest != nil {
				keys = append(keys, pkOf(w.DeleteRequest.Key))
			}
		}
	}
	r.rec("BatchWriteItem", keys...)
	return r.DynamoDBAPI.BatchWriteItem(ctx, in, o...)
}

func (r *recorder) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	var keys []string
	for _, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			keys = append(keys, pkOf(k))
		}
	}
	r.rec("BatchGetItem", keys...)
	return r.DynamoDBAPI.BatchGetItem(ctx, in, o...)
}

// likeMatch is IAM's StringLike: * is any run of characters, ? one.
func likeMatch(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// allowed reports whether tableKeys allow c: its action, and every key it
// touches matching one of the action's patterns (ForAllValues).
func allowed(tableKeys map[string][]string, c call) bool {
	patterns, ok := tableKeys[c.action]
	if !ok || len(c.keys) == 0 {
		return false
	}
	for _, k := range c.keys {
		match := false
		for _, p := range patterns {
			match = match || likeMatch(p, k)
		}
		if !match {
			return false
		}
	}
	return true
}

// failingSink fails every send while fail is set.
type failingSink struct {
	mu   sync.Mutex
	fail bool
	sent int
}

func (s *failingSink) Send(context.Context, queue.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("sqs down")
	}
	s.sent++
	return nil
}

func (s *failingSink) setFail(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = v
}

// TestRestrictedRolesCoverTheCode drives the webhook and scheduler code
// through their paths (success, redelivery, throttled, queue failures that
// give back deliveries, slots and leases) against kumo and checks that
// every DynamoDB call they make is one their narrowed role allows
// (want[…].tableKeys, which the grants test holds equal to the template),
// and that the narrowing keeps them away from connectors, links and the
// profiles' run leases.
func TestRestrictedRolesCoverTheCode(t *testing.T) {
	env := kumotest.Get(t)
	for fn, exercise := range map[string]func(t *testing.T, st *store.Store, setup *store.Store){
		"WebhookFunction":   exerciseWebhook,
		"SchedulerFunction": exerciseScheduler,
	} {
		t.Run(fn, func(t *testing.T) {
			keys := want[fn].tableKeys
			for _, forbidden := range []call{
				{"PutItem", []string{"CONNECTOR"}}, {"UpdateItem", []string{"CONNECTOR"}},
				{"PutItem", []string{"PROFILE"}}, {"UpdateItem", []string{"PROFILE"}},
				{"PutItem", []string{"P#01J0000000000000000000000"}}, {"DeleteItem", []string{"P#01J0000000000000000000000"}},
				{"UpdateItem", []string{"LEASE#profile-01J0000000000000000000000"}},
				{"PutItem", []string{"LEASE#profile-01J0000000000000000000000"}},
			} {
				if allowed(keys, forbidden) {
					t.Errorf("%s may %s %v", fn, forbidden.action, forbidden.keys)
				}
			}
			table := env.NewTable(t)
			rec := &recorder{DynamoDBAPI: env.DynamoDB}
			exercise(t, store.New(rec, table), store.New(env.DynamoDB, table))
			if len(rec.calls) == 0 {
				t.Fatal("no DynamoDB calls recorded")
			}
			seen := map[string]bool{}
			for _, c := range rec.calls {
				seen[c.action] = true
				if !allowed(keys, c) {
					t.Errorf("%s calls %s on %v, which its role does not allow", fn, c.action, c.keys)
				}
			}
			// Every granted action is used: the grant is not wider than the code.
			for a := range keys {
				if !seen[a] {
					t.Errorf("%s is granted %s, which the exercised code never called", fn, a)
				}
			}
		})
	}
}

func exerciseWebhook(t *testing.T, st, setup *store.Store) {
	ctx := context.Background()
	env := kumotest.Get(t)
	p, err := setup.CreateProfile(ctx, tb.Profile{Name: "Demo", ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(env.Secrets, "tb-lp/"+kumotest.UniqueName(t), time.Minute)
	const secret = "least-privilege-secret"
	if err := v.Put(ctx, vault.WebhookSecret(p.ID), secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), vault.WebhookSecret(p.ID)) })
	sink := &failingSink{}
	now := time.Now()
	h := webhook.New(webhook.Deps{Store: st, Secrets: v, Queue: sink, Now: func() time.Time { return now }})
	deliver := func(ticket int, delivery string, want int) {
		t.Helper()
		body := []byte(fmt.Sprintf(`{"ticket":{"id":%d}}`, ticket))
		req := httptest.NewRequest(http.MethodPost, "/webhooks/zammad/"+p.ID, bytes.NewReader(body))
		req.SetPathValue("profile_id", p.ID)
		req.Header.Set(webhook.SignatureHeader, zammadsim.Sign(secret, body))
		req.Header.Set(webhook.DeliveryHeader, delivery)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("delivery %s: %d %s, want %d", delivery, w.Code, w.Body, want)
		}
	}
	deliver(1, "d1", http.StatusAccepted) // queued now
	deliver(1, "d1", http.StatusOK)       // redelivery
	deliver(1, "d2", http.StatusAccepted) // delayed to the next slot
	deliver(1, "d3", http.StatusOK)       // coalesced
	sink.setFail(true)
	deliver(2, "d4", http.StatusInternalServerError) // delivery forgotten, slot given back
	sink.setFail(false)
	deliver(2, "d4", http.StatusAccepted)
}

func exerciseScheduler(t *testing.T, st, setup *store.Store) {
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := setup.CreateProfile(ctx, tb.Profile{Name: fmt.Sprint("P", i), ZammadConnectorID: "zc", KimaiConnectorID: "kc", Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range must(setup.ListProfiles(ctx)) {
		if err := setup.RecordSuccess(ctx, p.ID, time.Now().Add(-time.Hour), "run-1"); err != nil {
			t.Fatal(err)
		}
	}
	sink := &failingSink{fail: true}
	var emf bytes.Buffer
	s := schedule.New(schedule.Deps{Store: st, Queue: sink, Metrics: &emf})
	// The queue is down: the leases are given back (DeleteItem).
	if err := s.Handle(ctx, events.EventBridgeEvent{}); err == nil {
		t.Fatal("scheduler succeeded with the queue down")
	}
	sink.setFail(false)
	if err := s.Handle(ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if sink.sent == 0 {
		t.Fatal("nothing queued")
	}
	if !strings.Contains(emf.String(), `"StalenessRatio"`) {
		t.Fatalf("no staleness published: %q", emf.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
