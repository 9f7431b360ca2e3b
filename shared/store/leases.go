package store

import (
	"context"
	"errors"
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
	if err := checkID(op, "delivery id", id); err != nil {
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
	if err := checkID(op, "lease name", name); err != nil {
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
	if err := checkID(op, "lease name", name); err != nil {
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
	if err := checkID(op, "delivery id", id); err != nil {
		return err
	}
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &st.table, Key: key("DELIVERY#"+id, "DELIVERY")})
	return classify(err, op)
}
