package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/timebridge"
)

const (
	gsi1Audit = "AUDIT"
	// DefaultAuditPageSize and MaxAuditPageSize bound ListAudit.
	DefaultAuditPageSize = 100
	MaxAuditPageSize     = 1000
	// batchWriteSize is DynamoDB's BatchWriteItem limit.
	batchWriteSize = 25
)

func pkAudit(pid string) string {
	if pid == "" {
		pid = "-"
	}
	return "AUDIT#" + pid
}

type auditItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	GSI1PK    string `dynamodbav:"gsi1pk"`
	GSI1SK    string `dynamodbav:"gsi1sk"`
	Type      string `dynamodbav:"type"`
	ID        string `dynamodbav:"id"`
	Time      string `dynamodbav:"time"`
	ProfileID string `dynamodbav:"profile_id,omitempty"`
	RunID     string `dynamodbav:"run_id,omitempty"`
	Actor     string `dynamodbav:"actor,omitempty"`
	EventType string `dynamodbav:"event_type,omitempty"`
	Subject   string `dynamodbav:"subject,omitempty"`
	Message   string `dynamodbav:"message,omitempty"`
	Before    string `dynamodbav:"before,omitempty"` // JSON
	After     string `dynamodbav:"after,omitempty"`  // JSON
	ExpiresAt int64  `dynamodbav:"expires_at,omitempty"`
}

func (it auditItem) domain() (timebridge.AuditEvent, error) {
	t, err := parseTime(it.Time)
	e := timebridge.AuditEvent{
		ID: it.ID, Time: t, ProfileID: it.ProfileID, RunID: it.RunID, Actor: it.Actor,
		Type: it.EventType, Subject: it.Subject, Message: it.Message,
	}
	if it.Before != "" {
		e.Before = json.RawMessage(it.Before)
	}
	if it.After != "" {
		e.After = json.RawMessage(it.After)
	}
	return e, err
}

// AppendAudit stores audit events. Events without ID get a time-ordered one
// (NewID), events without Time get now. Before and After are stored as JSON
// and come back from ListAudit as json.RawMessage. Writing the same ID again
// replaces the event, so a retried append is idempotent when the IDs were
// assigned by the caller. Events are written with BatchWriteItem in chunks of
// 25; unprocessed items are retried with backoff.
func (st *Store) AppendAudit(ctx context.Context, events ...timebridge.AuditEvent) error {
	const op = "store: append audit"
	reqs := make([]types.WriteRequest, 0, len(events))
	for _, e := range events {
		if e.Time.IsZero() {
			e.Time = st.now()
		}
		if e.ID == "" {
			e.ID = ident.New(e.Time)
		}
		if e.ProfileID != "" {
			if err := checkID(op, "profile id", e.ProfileID); err != nil {
				return err
			}
		}
		if err := checkID(op, "audit event id", e.ID); err != nil {
			return err
		}
		ts := fmtTime(e.Time)
		it := auditItem{
			PK: pkAudit(e.ProfileID), SK: ts + "#" + e.ID,
			GSI1PK: gsi1Audit, GSI1SK: ts + "#" + e.ID,
			Type: "audit",
			ID:   e.ID, Time: ts, ProfileID: e.ProfileID, RunID: e.RunID, Actor: e.Actor,
			EventType: e.Type, Subject: e.Subject, Message: e.Message,
		}
		var err error
		if it.Before, err = jsonValue(e.Before); err != nil {
			return apperr.Wrap(err, apperr.Validation, op, "The audit event's before value cannot be encoded as JSON.")
		}
		if it.After, err = jsonValue(e.After); err != nil {
			return apperr.Wrap(err, apperr.Validation, op, "The audit event's after value cannot be encoded as JSON.")
		}
		if st.auditRetention > 0 {
			it.ExpiresAt = e.Time.Add(st.auditRetention).Unix()
		}
		item, err := marshal(op, it)
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return st.batchWrite(ctx, op, reqs)
}

// jsonValue encodes an audit before/after value; json.RawMessage and []byte
// holding JSON are kept as they are.
func jsonValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case json.RawMessage:
		if len(x) == 0 {
			return "", nil
		}
		if !json.Valid(x) {
			return "", &json.SyntaxError{}
		}
		return string(x), nil
	}
	return jsonString(v)
}

// batchWrite writes requests in chunks of 25 and retries unprocessed items
// with exponential backoff.
func (st *Store) batchWrite(ctx context.Context, op string, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		chunk := reqs[:min(batchWriteSize, len(reqs))]
		reqs = reqs[len(chunk):]
		pending := map[string][]types.WriteRequest{st.table: chunk}
		for attempt := 0; len(pending[st.table]) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return apperr.New(apperr.RateLimited, op, "The database kept throttling a batch write; try again shortly.")
				}
				d := min(25*time.Millisecond<<attempt, 2*time.Second)
				select {
				case <-ctx.Done():
					return classify(ctx.Err(), op)
				case <-time.After(d):
				}
			}
			res, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return classify(err, op)
			}
			pending = res.UnprocessedItems
			if pending == nil {
				break
			}
		}
	}
	return nil
}

// batchDelete deletes the items with the given keys (maps holding pk and sk).
func (st *Store) batchDelete(ctx context.Context, op string, keys []avMap) error {
	reqs := make([]types.WriteRequest, 0, len(keys))
	for _, k := range keys {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{
			Key: avMap{attrPK: k[attrPK], attrSK: k[attrSK]},
		}})
	}
	return st.batchWrite(ctx, op, reqs)
}

// ListAudit returns a page of audit events, newest first. q.ProfileID
// reads that profile's partition (strongly consistent); without it the
// global log is read through gsi1. q.From (inclusive) and q.To (exclusive)
// bound the event time; q.Type filters by exact event type. q.Limit ≤ 0
// means DefaultAuditPageSize (capped at MaxAuditPageSize). Filtered pages
// are filled up to the limit, so next is "" exactly when nothing follows.
func (st *Store) ListAudit(ctx context.Context, q timebridge.AuditQuery) ([]timebridge.AuditEvent, string, error) {
	const op = "store: list audit"
	limit := pageSize(q.Limit, DefaultAuditPageSize, MaxAuditPageSize)
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		ScanIndexForward:          aws.Bool(false),
		ExpressionAttributeValues: avMap{},
		ExpressionAttributeNames:  map[string]string{},
	}
	pkName, skName := attrPK, attrSK
	keyNames := []string{attrPK, attrSK}
	var pkValue string
	if q.ProfileID != "" {
		if err := checkID(op, "profile id", q.ProfileID); err != nil {
			return nil, "", err
		}
		pkValue = pkAudit(q.ProfileID)
		in.ConsistentRead = aws.Bool(true)
	} else {
		pkName, skName = attrGSI1PK, attrGSI1SK
		keyNames = []string{attrGSI1PK, attrGSI1SK, attrPK, attrSK}
		pkValue = gsi1Audit
		in.IndexName = aws.String(indexGSI1)
	}
	in.ExpressionAttributeNames["#pk"] = pkName
	in.ExpressionAttributeValues[":pk"] = avS(pkValue)
	cond := "#pk = :pk"
	if !q.From.IsZero() || !q.To.IsZero() {
		in.ExpressionAttributeNames["#sk"] = skName
		switch {
		case !q.From.IsZero() && !q.To.IsZero():
			if !q.From.Before(q.To) {
				return nil, "", nil
			}
			// sk is "<time>#<id>": BETWEEN from AND to is [from, to).
			cond += " AND #sk BETWEEN :from AND :to"
			in.ExpressionAttributeValues[":from"] = avS(fmtTime(q.From))
			in.ExpressionAttributeValues[":to"] = avS(fmtTime(q.To))
		case !q.From.IsZero():
			cond += " AND #sk >= :from"
			in.ExpressionAttributeValues[":from"] = avS(fmtTime(q.From))
		default:
			cond += " AND #sk < :to"
			in.ExpressionAttributeValues[":to"] = avS(fmtTime(q.To))
		}
	}
	in.KeyConditionExpression = aws.String(cond)
	if q.Type != "" {
		in.FilterExpression = aws.String("#type = :type")
		in.ExpressionAttributeNames["#type"] = "event_type"
		in.ExpressionAttributeValues[":type"] = avS(q.Type)
	}
	start, err := decodeCursor(op, q.Cursor, map[string]string{pkName: pkValue}, keyNames...)
	if err != nil {
		return nil, "", err
	}
	in.ExclusiveStartKey = start

	// Collect limit+1 matching items (to know whether more follow).
	var items []avMap
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(items)))
		if q.Type != "" {
			// Filters apply after Limit: read more per request.
			in.Limit = aws.Int32(int32(max(limit+1-len(items), 100)))
		}
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", classify(err, op)
		}
		items = append(items, res.Items...)
		if len(items) > limit || len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(items[limit-1], keyNames...)
	}
	var its []auditItem
	if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
		return nil, "", internal(op, err)
	}
	out := make([]timebridge.AuditEvent, 0, len(its))
	for _, it := range its {
		e, err := conv(op, it.domain)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, next, nil
}
