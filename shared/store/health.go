package store

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A profile's health item (HEALTH#<pid> / HEALTH) holds the end of its
// latest successful run and its open conflicts as counted after its latest
// run: the scheduler reads it every tick to publish how stale each profile
// is (no successful run for twice its interval) and how many conflicts it
// has open, without access to runs, links or conflicts, and without
// counting conflicts every tick.
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

// RecordOpenConflicts notes that profile pid had n open conflicts when
// they were counted at at. An older count never replaces a newer one (runs
// may finish out of order).
func (st *Store) RecordOpenConflicts(ctx context.Context, pid string, n int, at time.Time) error {
	const op = "store: record open conflicts"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       healthKey(pid),
		UpdateExpression:          aws.String("SET open_conflicts = :n, conflicts_at = :t, #ty = :ty"),
		ConditionExpression:       aws.String("attribute_not_exists(conflicts_at) OR conflicts_at < :t"),
		ExpressionAttributeNames:  map[string]string{"#ty": "type"},
		ExpressionAttributeValues: avMap{":n": avN(int64(n)), ":t": avS(fmtTime(at.UTC())), ":ty": avS("health")},
	})
	if isConditionFailed(err) {
		return nil // a later count is recorded already
	}
	return classify(err, op)
}

// Health is what a profile's health item holds.
type Health struct {
	LastSuccess time.Time // zero: no successful run recorded
	// OpenConflicts as counted at ConflictsAt (zero: never counted).
	OpenConflicts int
	ConflictsAt   time.Time
}

// LastSuccesses returns the end of the latest successful run of each of
// pids that has one (one consistent BatchGetItem per 100 profiles).
func (st *Store) LastSuccesses(ctx context.Context, pids []string) (map[string]time.Time, error) {
	hs, err := st.Health(ctx, pids)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for pid, h := range hs {
		if !h.LastSuccess.IsZero() {
			out[pid] = h.LastSuccess
		}
	}
	return out, nil
}

// Health returns the health of each of pids that has a health item (one
// consistent BatchGetItem per 100 profiles).
func (st *Store) Health(ctx context.Context, pids []string) (map[string]Health, error) {
	const op = "store: profile health"
	out := map[string]Health{}
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
			var h Health
			var err error
			if h.LastSuccess, err = parseTime(strAttr(it, "last_success")); err != nil {
				return internal(op, err)
			}
			if h.ConflictsAt, err = parseTime(strAttr(it, "conflicts_at")); err != nil {
				return internal(op, err)
			}
			if n, ok := it["open_conflicts"].(*types.AttributeValueMemberN); ok {
				if h.OpenConflicts, err = strconv.Atoi(n.Value); err != nil {
					return internal(op, err)
				}
			}
			out[strAttr(it, attrPK)[len("HEALTH#"):]] = h
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
