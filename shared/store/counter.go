package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxCountNames bounds one Counts call (BatchGetItem reads at most 100 keys).
const maxCountNames = 100

func countKey(name string) avMap { return key("COUNT#"+name, "COUNT") }

// AddCount atomically adds delta to the named counter and returns its new
// value; every instance of every function shares it. The counter expires
// at expiresAt (TTL). Callers put their time window into the name, so a
// counter whose window has passed is never read again even while DynamoDB
// has not deleted it yet.
func (st *Store) AddCount(ctx context.Context, name string, delta int64, expiresAt time.Time) (int64, error) {
	const op = "store: add to counter"
	if err := checkName(op, "counter name", name); err != nil {
		return 0, err
	}
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.table),
		Key:                      countKey(name),
		UpdateExpression:         aws.String("ADD #n :d SET #type = :type, expires_at = :exp"),
		ExpressionAttributeNames: map[string]string{"#n": "n", "#type": "type"},
		ExpressionAttributeValues: avMap{
			":d":    &types.AttributeValueMemberN{Value: strconv.FormatInt(delta, 10)},
			":type": avS("count"),
			":exp":  avN(expiresAt.Unix()),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, classify(err, op)
	}
	return numAttr(res.Attributes, "n"), nil
}

// Counts returns the values of the named counters in one strongly
// consistent read; an absent or expired counter is 0.
func (st *Store) Counts(ctx context.Context, names ...string) (map[string]int64, error) {
	const op = "store: read counters"
	if len(names) > maxCountNames {
		return nil, invalid(op, "too many counters in one read.")
	}
	out := make(map[string]int64, len(names))
	keys := make([]avMap, 0, len(names))
	for _, n := range names {
		if err := checkName(op, "counter name", n); err != nil {
			return nil, err
		}
		if _, dup := out[n]; dup {
			continue
		}
		out[n] = 0
		keys = append(keys, countKey(n))
	}
	if len(keys) == 0 {
		return out, nil
	}
	now := st.now().Unix()
	err := st.batchGet(ctx, op, keys, func(item avMap) error {
		if exp := numAttr(item, "expires_at"); exp == 0 || exp > now {
			out[strAttr(item, attrPK)[len("COUNT#"):]] = numAttr(item, "n")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchGet reads keys (at most 100) consistently with BatchGetItem and
// calls fn with each item found. Unprocessed keys come back under
// throttling; the SDK's retryer has already backed off, so they are asked
// for again until none are left.
func (st *Store) batchGet(ctx context.Context, op string, keys []avMap, fn func(avMap) error) error {
	req := map[string]types.KeysAndAttributes{st.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for len(req) > 0 {
		res, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return classify(err, op)
		}
		for _, it := range res.Responses[st.table] {
			if err := fn(it); err != nil {
				return err
			}
		}
		req = res.UnprocessedKeys
		if err := ctx.Err(); err != nil {
			return classify(err, op)
		}
	}
	return nil
}

// numAttr reads a number attribute; 0 when absent or not a number.
func numAttr(m avMap, name string) int64 {
	if v, ok := m[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}
