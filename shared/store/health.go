package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// A profile's health item (HEALTH#<pid> / HEALTH) holds the end of its
// latest successful run: the scheduler reads it to tell a stale profile
// (no successful run for twice its interval) from a quiet one, without
// access to runs or links.
func healthKey(pid string) avMap { return key("HEALTH#"+pid, "HEALTH") }

// RecordSuccess notes that a run of profile pid succeeded at at. An older
// time never replaces a newer one (runs may finish out of order).
func (st *Store) RecordSuccess(ctx context.Context, pid string, at time.Time, runID string) error {
	const op = "store: record success"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       healthKey(pid),
		UpdateExpression:          aws.String("SET last_success = :t, run_id = :r, #ty = :ty"),
		ConditionExpression:       aws.String("attribute_not_exists(last_success) OR last_success < :t"),
		ExpressionAttributeNames:  map[string]string{"#ty": "type"},
		ExpressionAttributeValues: avMap{":t": avS(fmtTime(at.UTC())), ":r": avS(runID), ":ty": avS("health")},
	})
	if isConditionFailed(err) {
		return nil // a later success is recorded already
	}
	return classify(err, op)
}

// LastSuccesses returns the end of the latest successful run of each of
// pids that has one (one consistent BatchGetItem per 100 profiles).
func (st *Store) LastSuccesses(ctx context.Context, pids []string) (map[string]time.Time, error) {
	const op = "store: last successes"
	out := map[string]time.Time{}
	for len(pids) > 0 {
		n := min(len(pids), 100)
		keys := make([]avMap, 0, n)
		for _, pid := range pids[:n] {
			if err := checkID(op, "profile id", pid); err != nil {
				return nil, err
			}
			keys = append(keys, healthKey(pid))
		}
		pids = pids[n:]
		err := st.batchGet(ctx, op, keys, func(it avMap) error {
			t, err := parseTime(strAttr(it, "last_success"))
			if err != nil {
				return internal(op, err)
			}
			out[strAttr(it, attrPK)[len("HEALTH#"):]] = t
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
