package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The admin's server-side session state is one item, read with one
// GetItem per API request: the session version (bumped by signing out
// everywhere; tokens carry the version they were issued under) and the
// string set "revoked" of "<token id>:<expiry unix>" for tokens signed out
// one by one. Tokens live minutes, so the set holds only recent sign-outs;
// RevokeToken prunes expired entries.
var sessionKey = key("AUTH", "SESSION")

// SessionState returns the current session version (0 before the first
// sign-out everywhere) and whether tokenID ("" for none) was revoked, in
// one strongly consistent read.
func (st *Store) SessionState(ctx context.Context, tokenID string) (int64, bool, error) {
	const op = "store: read session state"
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(st.table), Key: sessionKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, false, classify(err, op)
	}
	version := numAttr(res.Item, "version")
	if tokenID == "" {
		return version, false, nil
	}
	now := st.now().Unix()
	for id, exp := range revokedSet(res.Item) {
		if id == tokenID && exp > now {
			return version, true, nil
		}
	}
	return version, false, nil
}

// revokedSet parses the "revoked" string set: token id → expiry (Unix s).
func revokedSet(item avMap) map[string]int64 {
	ss, ok := item["revoked"].(*types.AttributeValueMemberSS)
	if !ok {
		return nil
	}
	out := make(map[string]int64, len(ss.Value))
	for _, e := range ss.Value {
		id, exp, ok := strings.Cut(e, ":")
		if n, err := strconv.ParseInt(exp, 10, 64); ok && err == nil {
			out[id] = n
		}
	}
	return out
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

// RevokeToken records tokenID as revoked until until (its expiry) and drops
// entries whose tokens have expired anyway.
func (st *Store) RevokeToken(ctx context.Context, tokenID string, until time.Time) error {
	const op = "store: revoke token"
	if err := checkID(op, "token id", tokenID); err != nil {
		return err
	}
	if strings.Contains(tokenID, ":") {
		return invalid(op, "token id must not contain ':'.")
	}
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       sessionKey,
		UpdateExpression:          aws.String("ADD revoked :r SET #type = :type"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: avMap{":r": &types.AttributeValueMemberSS{Value: []string{tokenID + ":" + strconv.FormatInt(until.Unix(), 10)}}, ":type": avS("session")},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return classify(err, op)
	}
	var expired []string
	now := st.now().Unix()
	for id, exp := range revokedSet(res.Attributes) {
		if exp <= now {
			expired = append(expired, id+":"+strconv.FormatInt(exp, 10))
		}
	}
	if len(expired) == 0 {
		return nil
	}
	// A separate update: one expression may not ADD and DELETE one path.
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       sessionKey,
		UpdateExpression:          aws.String("DELETE revoked :e"),
		ExpressionAttributeValues: avMap{":e": &types.AttributeValueMemberSS{Value: expired}},
	})
	if err != nil {
		return classify(err, op)
	}
	return nil
}
