package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
)

// DefaultDeliveryTTL is how long RecordDelivery remembers a delivery when
// given no positive ttl.
const DefaultDeliveryTTL = 24 * time.Hour

type deliveryItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	Type       string `dynamodbav:"type"`
	ID         string `dynamodbav:"id"`
	ReceivedAt string `dynamodbav:"received_at"`
	ExpiresAt  int64  `dynamodbav:"expires_at"`
}

// RecordDelivery remembers a webhook delivery id for ttl (DynamoDB TTL on
// expires_at). first is true the first time an id is recorded and false for
// a redelivery within ttl (not an error). A delivery whose expiry has passed
// counts as new even if DynamoDB has not deleted it yet.
func (st *Store) RecordDelivery(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	const op = "store: record delivery"
	if err := checkName(op, "delivery id", id); err != nil {
		return false, err
	}
	if ttl <= 0 {
		ttl = DefaultDeliveryTTL
	}
	now := st.now()
	item, err := marshal(op, deliveryItem{
		PK: "DELIVERY#" + id, SK: "DELIVERY", Type: "delivery", ID: id,
		ReceivedAt: fmtTime(now), ExpiresAt: now.Add(ttl).Unix(),
	})
	if err != nil {
		return false, err
	}
	err = st.put(ctx, op, item, "attribute_not_exists(pk) OR expires_at <= :now", nil, avMap{":now": avN(now.Unix())})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return false, nil
		}
		return false, classify(err, op)
	}
	return true, nil
}

type leaseItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	Name      string `dynamodbav:"name"`
	Owner     string `dynamodbav:"owner"`
	UntilMS   int64  `dynamodbav:"until_ms"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

func leaseKey(name string) avMap { return key("LEASE#"+name, "LEASE") }

// AcquireLease takes the named lease for owner until now+ttl. It succeeds
// (true) when the lease is free, expired, or already held by owner (which
// renews it), and returns false without error when another owner holds it.
// Leases compare the callers' clocks: keep ttl well above the clock skew.
func (st *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	const op = "store: acquire lease"
	if err := checkName(op, "lease name", name); err != nil {
		return false, err
	}
	if owner == "" {
		return false, invalid(op, "lease owner is empty.")
	}
	if ttl <= 0 {
		return false, invalid(op, "lease ttl must be positive.")
	}
	now := st.now()
	until := now.Add(ttl)
	item, err := marshal(op, leaseItem{
		PK: "LEASE#" + name, SK: "LEASE", Type: "lease", Name: name, Owner: owner,
		UntilMS: until.UnixMilli(), ExpiresAt: until.Unix() + 1,
	})
	if err != nil {
		return false, err
	}
	err = st.put(ctx, op, item, "attribute_not_exists(pk) OR until_ms <= :now OR #owner = :owner",
		map[string]string{"#owner": "owner"}, avMap{":now": avN(now.UnixMilli()), ":owner": avS(owner)})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return false, nil
		}
		return false, classify(err, op)
	}
	return true, nil
}

// ReleaseLease releases the named lease if owner holds it. Releasing a
// lease that does not exist or has expired is not an error; releasing one
// that another owner now holds is apperr.Conflict.
func (st *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	const op = "store: release lease"
	if err := checkName(op, "lease name", name); err != nil {
		return err
	}
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 leaseKey(name),
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR #owner = :owner OR until_ms <= :now"),
		ExpressionAttributeNames:            map[string]string{"#owner": "owner"},
		ExpressionAttributeValues:           avMap{":owner": avS(owner), ":now": avN(st.now().UnixMilli())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return apperr.Wrap(err, apperr.Conflict, op, "The lease is held by another owner.")
		}
		return classify(err, op)
	}
	return nil
}

// ForgetDelivery removes a recorded delivery, so that the sender's retry is
// processed: used when the work a delivery asked for could not be queued.
// A missing record is not an error.
func (st *Store) ForgetDelivery(ctx context.Context, id string) error {
	const op = "store: forget delivery"
	if err := checkName(op, "delivery id", id); err != nil {
		return err
	}
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &st.table, Key: key("DELIVERY#"+id, "DELIVERY")})
	return classify(err, op)
}

// TakeLease takes the named lease for owner until now+ttl, or renews it
// when owner holds it and its term has not ended. ok is false (no error)
// when another owner holds it.
//
// gen is the lease's generation, a fencing token: it grows by one every
// time the lease is taken (never on renewal), and it never goes back,
// because the lease item is never deleted (EndLease only ends the term and
// the item carries no expires_at). A holder writes its gen with what it
// stores, so that a holder whose lease ended while a request was still in
// flight cannot overwrite what a later holder wrote (see PutLink).
func (st *Store) TakeLease(ctx context.Context, name, owner string, ttl time.Duration) (gen int64, ok bool, err error) {
	const op = "store: take lease"
	if err := checkName(op, "lease name", name); err != nil {
		return 0, false, err
	}
	if owner == "" {
		return 0, false, invalid(op, "lease owner is empty.")
	}
	if ttl <= 0 {
		return 0, false, invalid(op, "lease ttl must be positive.")
	}
	now := st.now()
	until := now.Add(ttl).UnixMilli()
	names := map[string]string{"#owner": "owner"}
	// Renewal first: the same owner within its term keeps its generation.
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       leaseKey(name),
		UpdateExpression:          aws.String("SET until_ms = :til"),
		ConditionExpression:       aws.String("#owner = :own AND until_ms > :tnow"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: avMap{":til": avN(until), ":own": avS(owner), ":tnow": avN(now.UnixMilli())},
		ReturnValues:              types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return leaseGen(res.Attributes), true, nil
	case !errors.As(err, &ccf):
		return 0, false, classify(err, op)
	}
	res, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.table),
		Key:                      leaseKey(name),
		UpdateExpression:         aws.String("SET #owner = :own, until_ms = :til, #type = :typ, #name = :nam REMOVE expires_at ADD gen :one"),
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR until_ms <= :tnow OR #owner = :own"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner", "#type": "type", "#name": "name"},
		ExpressionAttributeValues: avMap{":own": avS(owner), ":til": avN(until), ":typ": avS("lease"), ":nam": avS(name),
			":one": avN(1), ":tnow": avN(now.UnixMilli())},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if errors.As(err, &ccf) {
			return 0, false, nil
		}
		return 0, false, classify(err, op)
	}
	return leaseGen(res.Attributes), true, nil
}

// EndLease ends owner's term of the named lease (if owner still holds it)
// and keeps the item, so that its generation keeps counting.
func (st *Store) EndLease(ctx context.Context, name, owner string) error {
	const op = "store: end lease"
	if err := checkName(op, "lease name", name); err != nil {
		return err
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       leaseKey(name),
		UpdateExpression:          aws.String("SET until_ms = :zero"),
		ConditionExpression:       aws.String("#owner = :own"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: avMap{":zero": avN(0), ":own": avS(owner)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return classify(err, op)
	}
	return nil
}

func leaseGen(item avMap) int64 {
	if n, ok := item["gen"].(*types.AttributeValueMemberN); ok {
		v, _ := strconv.ParseInt(n.Value, 10, 64)
		return v
	}
	return 0
}
