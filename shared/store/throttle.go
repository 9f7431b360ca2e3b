package store

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type slotItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	Name      string `dynamodbav:"name"`
	Slot      int64  `dynamodbav:"slot"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

func slotKey(name string) avMap { return key("SLOT#"+name, "SLOT") }

// ClaimSlot claims time slot number slot of the named throttle: it succeeds
// (true) when no later-or-equal slot has been claimed, and returns false
// without error otherwise. Slots only move forward, so each is claimed at
// most once. The item expires through expires_at once ttl has passed; an
// expired item counts as absent, as DynamoDB deletes lazily.
func (st *Store) ClaimSlot(ctx context.Context, name string, slot int64, ttl time.Duration) (bool, error) {
	const op = "store: claim slot"
	if err := checkName(op, "throttle name", name); err != nil {
		return false, err
	}
	if err := checkNum(op, "slot", slot); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, invalid(op, "slot ttl must be positive.")
	}
	now := st.now()
	item, err := marshal(op, slotItem{PK: "SLOT#" + name, SK: "SLOT", Type: "slot", Name: name, Slot: slot,
		ExpiresAt: now.Add(ttl).Unix()})
	if err != nil {
		return false, err
	}
	err = st.put(ctx, op, item, "attribute_not_exists(pk) OR slot < :slot OR expires_at <= :tnow", nil,
		avMap{":slot": avN(slot), ":tnow": avN(now.Unix())})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return false, nil
		}
		return false, classify(err, op)
	}
	return true, nil
}

// ReleaseSlot gives back slot if it is still the named throttle's latest
// claim (the work it was claimed for could not be queued), so that a retry
// can claim it again. The earlier slot counts as claimed afterwards.
func (st *Store) ReleaseSlot(ctx context.Context, name string, slot int64) error {
	const op = "store: release slot"
	if err := checkName(op, "throttle name", name); err != nil {
		return err
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       slotKey(name),
		UpdateExpression:          aws.String("SET slot = :prev"),
		ConditionExpression:       aws.String("slot = :slot"),
		ExpressionAttributeValues: avMap{":prev": avN(slot - 1), ":slot": avN(slot)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return classify(err, op)
	}
	return nil
}
