package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
)

// DynamoDBAPI is the part of the DynamoDB client the Store uses. The
// *dynamodb.Client satisfies it; tests may stub it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store reads and writes Timebridge's table. It is safe for concurrent use.
type Store struct {
	db             DynamoDBAPI
	table          string
	now            func() time.Time
	auditRetention time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for timestamps, lease and TTL arithmetic.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithAuditRetention makes audit events expire (DynamoDB TTL) d after their
// time. Zero (the default) keeps them forever.
func WithAuditRetention(d time.Duration) Option {
	return func(s *Store) { s.auditRetention = d }
}

// New returns a Store on the given table.
func New(client DynamoDBAPI, table string, opts ...Option) *Store {
	s := &Store{db: client, table: table, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Attribute and index names.
const (
	attrPK      = "pk"
	attrSK      = "sk"
	attrGSI1PK  = "gsi1pk"
	attrGSI1SK  = "gsi1sk"
	attrGSI2PK  = "gsi2pk"
	attrGSI2SK  = "gsi2sk"
	attrVersion = "version"
	attrExpires = "expires_at"
	indexGSI1   = "gsi1"
	indexGSI2   = "gsi2"
)

// Messages shown to users (apperr.Message).
const (
	msgConflict = "The record was changed or created concurrently; reload it and try again."
	msgInternal = "The database request failed; the details are in the logs."
)

// Expression placeholders (#name, :value): none may be a prefix of another
// in the same request, because kumo substitutes them textually (":a1" would
// corrupt ":a10"). Hence the fixed-width ones in updateVersioned.

type avMap = map[string]types.AttributeValue

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
func key(pk, sk string) avMap           { return avMap{attrPK: avS(pk), attrSK: avS(sk)} }
func strAttr(m avMap, name string) string { // "" when absent or not a string
	if v, ok := m[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// classify turns a DynamoDB error into an apperr.Error.
func classify(err error, op string) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return apperr.Wrap(err, apperr.Conflict, op, msgConflict)
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				return apperr.Wrap(err, apperr.Conflict, op, msgConflict)
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				return apperr.Wrap(err, apperr.RateLimited, op, "The database is busy with concurrent writes; try again shortly.")
			}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return apperr.Wrap(err, apperr.Timeout, op, "The database did not answer in time; try again.")
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException":
			return apperr.Wrap(err, apperr.RateLimited, op, "The database is throttling requests; try again shortly.")
		case "ResourceNotFoundException":
			return apperr.Wrap(err, apperr.Internal, op, "The database table does not exist; check the deployment.")
		case "ItemCollectionSizeLimitExceededException":
			return apperr.Wrap(err, apperr.Validation, op, "Too much data for one profile.")
		case "InternalServerError", "ServiceUnavailable":
			return apperr.Wrap(err, apperr.Upstream, op, "The database failed; try again.")
		case "ValidationException":
			if strings.Contains(apiErr.ErrorMessage(), "size has exceeded") {
				return apperr.Wrap(err, apperr.Validation, op, "The record is too large to store.")
			}
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		if netErr.Timeout() {
			return apperr.Wrap(err, apperr.Timeout, op, "The database did not answer in time; try again.")
		}
		return apperr.Wrap(err, apperr.Connection, op, "The database could not be reached; try again.")
	}
	return apperr.Wrap(err, apperr.Internal, op, msgInternal)
}

func notFound(op, what string) error {
	return apperr.New(apperr.NotFound, op, what+" not found.")
}

func invalid(op, msg string) error { return apperr.New(apperr.Validation, op, msg) }

// checkID validates a record's id used inside keys: the one id rule
// (ident.Valid) that the API and the webhook also apply.
func checkID(op, what, id string) error {
	if !ident.Valid(id) {
		return invalid(op, what+" is not a valid id.")
	}
	return nil
}

// checkName validates a name used inside keys that is not a record's id (a
// lease, throttle slot or counter name, a delivery id, a kind or status):
// non-empty, no '#', which separates key parts.
func checkName(op, what, name string) error {
	if name == "" {
		return invalid(op, what+" is empty.")
	}
	if strings.Contains(name, "#") {
		return invalid(op, what+" must not contain '#'.")
	}
	return nil
}

func checkNum(op, what string, v int64) error {
	if v < 0 {
		return invalid(op, what+" must not be negative.")
	}
	return nil
}

// ---- generic item operations ----

func (st *Store) getItem(ctx context.Context, op string, k avMap, out any) (bool, error) {
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(st.table),
		Key:            k,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, classify(err, op)
	}
	if len(res.Item) == 0 {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, apperr.Wrap(err, apperr.Internal, op, msgInternal)
	}
	return true, nil
}

func marshal(op string, item any) (avMap, error) {
	m, err := attributevalue.MarshalMap(item)
	if err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, op, msgInternal)
	}
	return m, nil
}

// put writes item with an optional condition. values and names may be nil.
func (st *Store) put(ctx context.Context, op string, item avMap, cond string, names map[string]string, values avMap) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: item}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		if len(names) > 0 {
			in.ExpressionAttributeNames = names
		}
		if len(values) > 0 {
			in.ExpressionAttributeValues = values
		}
	}
	_, err := st.db.PutItem(ctx, in)
	return err
}

// versionFailure classifies a failed version condition: NotFound when the
// item does not exist (any more), Conflict otherwise. old is the item
// returned with the ConditionalCheckFailedException, if the backend returns
// it; without it, the item is read once to tell the two apart.
func (st *Store) versionFailure(ctx context.Context, err error, op, what string, k avMap) error {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return classify(err, op)
	}
	exists := len(ccf.Item) > 0
	if !exists {
		res, gerr := st.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(st.table), Key: k, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String(attrPK),
		})
		if gerr != nil {
			return classify(err, op)
		}
		exists = len(res.Item) > 0
	}
	if !exists {
		return apperr.Wrap(err, apperr.NotFound, op, what+" not found.")
	}
	return apperr.Wrap(err, apperr.Conflict, op, what+" was changed concurrently (stale version); reload it and try again.")
}

// putVersioned writes item when the stored version equals expect (expect 0:
// the item must not exist).
func (st *Store) putVersioned(ctx context.Context, op, what string, item avMap, expect int64) error {
	var err error
	if expect == 0 {
		err = st.put(ctx, op, item, "attribute_not_exists(pk)", nil, nil)
		if err != nil {
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				return apperr.Wrap(err, apperr.Conflict, op, what+" already exists.")
			}
			return classify(err, op)
		}
		return nil
	}
	err = st.put(ctx, op, item, "#v = :expect", map[string]string{"#v": attrVersion}, avMap{":expect": avN(expect)})
	if err != nil {
		return st.versionFailure(ctx, err, op, what, avMap{attrPK: item[attrPK], attrSK: item[attrSK]})
	}
	return nil
}

// deleteVersioned deletes the item at k when its version equals expect.
func (st *Store) deleteVersioned(ctx context.Context, op, what string, k avMap, expect int64) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 k,
		ConditionExpression:                 aws.String("attribute_exists(pk) AND #v = :expect"),
		ExpressionAttributeNames:            map[string]string{"#v": attrVersion},
		ExpressionAttributeValues:           avMap{":expect": avN(expect)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return st.versionFailure(ctx, err, op, what, k)
	}
	return nil
}

// deleteExisting deletes the item at k, NotFound when there is none.
func (st *Store) deleteExisting(ctx context.Context, op, what string, k avMap) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:           aws.String(st.table),
		Key:                 k,
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return apperr.Wrap(err, apperr.NotFound, op, what+" not found.")
		}
		return classify(err, op)
	}
	return nil
}

// updateVersioned replaces every attribute of item except the keys and
// created_at (kept from the stored item) when the stored version equals
// expect, and returns the new item.
func (st *Store) updateVersioned(ctx context.Context, op, what string, item avMap, expect int64) (avMap, error) {
	k := avMap{attrPK: item[attrPK], attrSK: item[attrSK]}
	names := map[string]string{"#v": attrVersion}
	values := avMap{":expect": avN(expect)}
	var sets []string
	i := 0
	for name, v := range item {
		if name == attrPK || name == attrSK {
			continue
		}
		// Fixed width: no placeholder is a prefix of another (kumo
		// substitutes placeholders textually).
		nk, vk := fmt.Sprintf("#a%03d", i), fmt.Sprintf(":a%03d", i)
		i++
		names[nk] = name
		values[vk] = v
		if name == "created_at" {
			sets = append(sets, nk+" = if_not_exists("+nk+", "+vk+")")
		} else {
			sets = append(sets, nk+" = "+vk)
		}
	}
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 k,
		UpdateExpression:                    aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND #v = :expect"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return nil, st.versionFailure(ctx, err, op, what, k)
	}
	return res.Attributes, nil
}

// queryAll runs in until exhausted and calls fn with each page's items.
func (st *Store) queryPages(ctx context.Context, op string, in *dynamodb.QueryInput, fn func([]avMap) error) error {
	in.TableName = aws.String(st.table)
	for {
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return classify(err, op)
		}
		if len(res.Items) > 0 {
			if err := fn(res.Items); err != nil {
				return err
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// queryPrefix returns all items of partition pk whose sort key starts with
// prefix, strongly consistent, unmarshalled into []T.
func queryPrefix[T any](ctx context.Context, st *Store, op, pk, prefix string) ([]T, error) {
	var out []T
	err := st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pk), ":prefix": avS(prefix)},
		ConsistentRead:            aws.Bool(true),
	}, func(items []avMap) error {
		var page []T
		if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
			return apperr.Wrap(err, apperr.Internal, op, msgInternal)
		}
		out = append(out, page...)
		return nil
	})
	return out, err
}

// isConditionFailed reports whether err is a failed condition expression.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
