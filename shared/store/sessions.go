package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The admin's server-side session state: one item with the session version
// (bumped by signing out everywhere; tokens carry the version they were
// issued under) and one item per revoked token id until the token would
// have expired anyway.
var sessionKey = key("AUTH", "SESSION")

func revokedKey(tokenID string) avMap { return key("REVOKED#"+tokenID, "REVOKED") }

// SessionState returns the current session version (0 before the first
// sign-out everywhere) and whether tokenID ("" for none) was revoked, in
// one strongly consistent read.
func (st *Store) SessionState(ctx context.Context, tokenID string) (int64, bool, error) {
	const op = "store: read session state"
	keys := []avMap{sessionKey}
	if tokenID != "" {
		if err := checkID(op, "token id", tokenID); err != nil {
			return 0, false, err
		}
		keys = append(keys, revokedKey(tokenID))
	}
	var version int64
	var revoked bool
	now := st.now().Unix()
	req := map[string]types.KeysAndAttributes{st.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for len(req) > 0 {
		res, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return 0, false, classify(err, op)
		}
		for _, item := range res.Responses[st.table] {
			switch strAttr(item, attrPK) {
			case "AUTH":
				version = numAttr(item, "version")
			default:
				if exp := numAttr(item, "expires_at"); exp == 0 || exp > now {
					revoked = true
				}
			}
		}
		req = res.UnprocessedKeys
		if err := ctx.Err(); err != nil {
			return 0, false, classify(err, op)
		}
	}
	return version, revoked, nil
}

// BumpSessionVersion increments the session version and returns it: every
// token issued before is invalid from now on.
func (st *Store) BumpSessionVersion(ctx context.Context) (int64, error) {
	const op = "store: bump session version"
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       sessionKey,
		UpdateExpression:          aws.String("ADD version :one SET #type = :type, updated_at = :now"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: avMap{":one": avN(1), ":type": avS("session"), ":now": avS(fmtTime(st.now()))},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, classify(err, op)
	}
	return numAttr(res.Attributes, "version"), nil
}

// RevokeToken records tokenID as revoked until until (its expiry); the item
// then expires.
func (st *Store) RevokeToken(ctx context.Context, tokenID string, until time.Time) error {
	const op = "store: revoke token"
	if err := checkID(op, "token id", tokenID); err != nil {
		return err
	}
	item := revokedKey(tokenID)
	item["type"] = avS("revoked_token")
	item["expires_at"] = avN(until.Unix() + 1)
	return st.put(ctx, op, item, "", nil, nil)
}
