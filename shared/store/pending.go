package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/timebridge"
)

// skPending is the item, in the profile's partition, whose string set
// "runs" holds the ticket runs handed to whichever run holds the profile's
// lease. Members are "<ticket>/<run id>".
const skPending = "PENDING"

// PendingRun is a queued ticket run waiting for the profile's lease holder.
type PendingRun struct {
	RunID    string
	TicketID int64
}

func (p PendingRun) member() string { return strconv.FormatInt(p.TicketID, 10) + "/" + p.RunID }

func parsePending(m string) (PendingRun, bool) {
	t, id, ok := strings.Cut(m, "/")
	n, err := strconv.ParseInt(t, 10, 64)
	if !ok || err != nil || n <= 0 || id == "" {
		return PendingRun{}, false
	}
	return PendingRun{RunID: id, TicketID: n}, true
}

// AddPending adds ticket runs to the profile's pending set (one atomic ADD;
// adding a run twice keeps one).
func (st *Store) AddPending(ctx context.Context, profileID string, runs []PendingRun) error {
	const op = "store: add pending runs"
	if err := checkID(op, "profile id", profileID); err != nil {
		return err
	}
	if len(runs) == 0 {
		return nil
	}
	set := make([]string, 0, len(runs))
	for _, r := range runs {
		if err := checkID(op, "run id", r.RunID); err != nil {
			return err
		}
		if r.TicketID <= 0 {
			return invalid(op, "a pending run needs a ticket id.")
		}
		set = append(set, r.member())
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       key(pkProfileData(profileID), skPending),
		UpdateExpression:          aws.String("ADD runs :r SET #type = :type"),
		ExpressionAttributeNames:  map[string]string{"#type": "type"},
		ExpressionAttributeValues: avMap{":r": &types.AttributeValueMemberSS{Value: set}, ":type": avS("pending")},
	})
	if err != nil {
		return classify(err, op)
	}
	return nil
}

// TakePending removes and returns every pending ticket run of the profile
// in one atomic update, ordered by ticket: two takers never get the same
// run.
func (st *Store) TakePending(ctx context.Context, profileID string) ([]PendingRun, error) {
	const op = "store: take pending runs"
	if err := checkID(op, "profile id", profileID); err != nil {
		return nil, err
	}
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(st.table),
		Key:                 key(pkProfileData(profileID), skPending),
		UpdateExpression:    aws.String("REMOVE runs"),
		ConditionExpression: aws.String("attribute_exists(runs)"),
		ReturnValues:        types.ReturnValueAllOld,
	})
	if err != nil {
		if isConditionFailed(err) {
			return nil, nil
		}
		return nil, classify(err, op)
	}
	return pendingRuns(res.Attributes), nil
}

// HasPending reports whether the profile has pending ticket runs (a
// strongly consistent read).
func (st *Store) HasPending(ctx context.Context, profileID string) (bool, error) {
	const op = "store: read pending runs"
	if err := checkID(op, "profile id", profileID); err != nil {
		return false, err
	}
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(st.table), Key: key(pkProfileData(profileID), skPending),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("runs"),
	})
	if err != nil {
		return false, classify(err, op)
	}
	return len(pendingRuns(res.Item)) > 0, nil
}

func pendingRuns(item avMap) []PendingRun {
	ss, _ := item["runs"].(*types.AttributeValueMemberSS)
	if ss == nil {
		return nil
	}
	out := make([]PendingRun, 0, len(ss.Value))
	for _, m := range ss.Value {
		if p, ok := parsePending(m); ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b PendingRun) int {
		if a.TicketID != b.TicketID {
			return int(a.TicketID - b.TicketID)
		}
		return strings.Compare(a.RunID, b.RunID)
	})
	return out
}

// MarkMerged finishes the records of queued runs that another run (into)
// carried out: status, start, end and merged_into, only while they are
// queued, running or failed (a failed merged run's runs are retried). Runs
// that are gone or succeeded are left alone.
func (st *Store) MarkMerged(ctx context.Context, runIDs []string, into string, status timebridge.RunStatus, started, finished time.Time) error {
	const op = "store: mark merged runs"
	if err := checkID(op, "run id", into); err != nil {
		return err
	}
	for _, id := range runIDs {
		if err := checkID(op, "run id", id); err != nil {
			return err
		}
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(st.table),
			Key:       key(pkRun(id), skRun),
			UpdateExpression: aws.String("SET #status = :status, merged_into = :into, started_at = :started, " +
				"finished_at = :finished, duration_ms = :ms"),
			ConditionExpression:      aws.String("attribute_exists(pk) AND #status IN (:queued, :running, :failed)"),
			ExpressionAttributeNames: map[string]string{"#status": "status"},
			ExpressionAttributeValues: avMap{":status": avS(string(status)), ":into": avS(into), ":started": avS(fmtTime(started)),
				":finished": avS(fmtTime(finished)), ":ms": avN(finished.Sub(started).Milliseconds()),
				":queued": avS(string(timebridge.RunQueued)), ":running": avS(string(timebridge.RunRunning)),
				":failed": avS(string(timebridge.RunFailed))},
		})
		if err != nil && !isConditionFailed(err) {
			return fmt.Errorf("%s %s: %w", op, id, classify(err, op))
		}
	}
	return nil
}
