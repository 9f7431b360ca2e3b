package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// The reconciliation report's entry records live in a partition of their
// own (REP#<pid>), keyed by ticket and entry so that one ticket's records
// are one strongly consistent Query (the engine's bookkeeping and billing),
// and indexed by the day worked on gsi1 (REPD#<pid>, "<day>#<entry>") so
// that a period's report reads only that period's records.
const (
	skObserved     = "OBSERVED"
	skRecordPrefix = "T#"
)

func pkRecords(pid string) string     { return "REP#" + pid }
func gsiRecordDays(pid string) string { return "REPD#" + pid }
func recordSK(ticket, entry int64) string {
	return fmt.Sprintf("%s%s#%s", skRecordPrefix, pad(ticket), pad(entry))
}

type recordItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	GSI1PK       string `dynamodbav:"gsi1pk"`
	GSI1SK       string `dynamodbav:"gsi1sk"`
	Type         string `dynamodbav:"type"`
	ProfileID    string `dynamodbav:"profile_id"`
	EntryID      int64  `dynamodbav:"entry_id"`
	TicketID     int64  `dynamodbav:"ticket_id"`
	TicketNumber string `dynamodbav:"ticket_number,omitempty"`
	TicketTitle  string `dynamodbav:"ticket_title,omitempty"`
	Day          string `dynamodbav:"day"`
	AgentID      int64  `dynamodbav:"agent_id,omitempty"`
	Agent        string `dynamodbav:"agent,omitempty"`
	CustomerID   int64  `dynamodbav:"customer_id,omitempty"`
	Customer     string `dynamodbav:"customer,omitempty"`
	ProjectID    int64  `dynamodbav:"project_id,omitempty"`
	Project      string `dynamodbav:"project,omitempty"`
	ActivityID   int64  `dynamodbav:"activity_id,omitempty"`
	Activity     string `dynamodbav:"activity,omitempty"`
	Zammad       int64  `dynamodbav:"zammad_seconds"`
	Written      int64  `dynamodbav:"written_seconds"`
	Kimai        int64  `dynamodbav:"kimai_seconds"`
	Status       string `dynamodbav:"status"`
	Reason       string `dynamodbav:"reason,omitempty"`
	TimesheetID  int64  `dynamodbav:"timesheet_id,omitempty"`
	Exported     bool   `dynamodbav:"exported,omitempty"`
	KimaiGone    bool   `dynamodbav:"kimai_gone,omitempty"`
}

func toRecordItem(r tb.EntryRecord) recordItem {
	return recordItem{
		PK: pkRecords(r.ProfileID), SK: recordSK(r.TicketID, r.EntryID),
		GSI1PK: gsiRecordDays(r.ProfileID), GSI1SK: r.Day + "#" + pad(r.EntryID), Type: "entry_record",
		ProfileID: r.ProfileID, EntryID: r.EntryID, TicketID: r.TicketID, TicketNumber: r.TicketNumber, TicketTitle: r.TicketTitle,
		Day: r.Day, AgentID: r.AgentID, Agent: r.Agent, CustomerID: r.CustomerID, Customer: r.Customer,
		ProjectID: r.ProjectID, Project: r.Project, ActivityID: r.ActivityID, Activity: r.Activity,
		Zammad: r.Zammad, Written: r.Written, Kimai: r.Kimai, Status: string(r.Status), Reason: r.Reason,
		TimesheetID: r.TimesheetID, Exported: r.Exported, KimaiGone: r.KimaiGone,
	}
}

func (it recordItem) domain() tb.EntryRecord {
	return tb.EntryRecord{ProfileID: it.ProfileID, EntryID: it.EntryID, TicketID: it.TicketID, TicketNumber: it.TicketNumber,
		TicketTitle: it.TicketTitle, Day: it.Day, AgentID: it.AgentID, Agent: it.Agent, CustomerID: it.CustomerID,
		Customer: it.Customer, ProjectID: it.ProjectID, Project: it.Project, ActivityID: it.ActivityID, Activity: it.Activity,
		Zammad: it.Zammad, Written: it.Written, Kimai: it.Kimai, Status: tb.RecordStatus(it.Status), Reason: it.Reason,
		TimesheetID: it.TimesheetID, Exported: it.Exported, KimaiGone: it.KimaiGone}
}

// WriteRecords stores puts and deletes dels (by profile, ticket and entry),
// in batches of 25.
func (st *Store) WriteRecords(ctx context.Context, puts, dels []tb.EntryRecord) error {
	const op = "store: write entry records"
	reqs := make([]types.WriteRequest, 0, len(puts)+len(dels))
	for _, r := range puts {
		if err := checkID(op, "profile id", r.ProfileID); err != nil {
			return err
		}
		if r.Day == "" {
			return internal(op, fmt.Errorf("entry %d: record without a day", r.EntryID))
		}
		item, err := marshal(op, toRecordItem(r))
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	for _, r := range dels {
		if err := checkID(op, "profile id", r.ProfileID); err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(pkRecords(r.ProfileID), recordSK(r.TicketID, r.EntryID))}})
	}
	return st.batchWrite(ctx, op, reqs)
}

// TicketRecords returns one ticket's entry records (strongly consistent).
func (st *Store) TicketRecords(ctx context.Context, pid string, ticketID int64) ([]tb.EntryRecord, error) {
	const op = "store: ticket entry records"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	return st.queryRecords(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRecords(pid)), ":prefix": avS(fmt.Sprintf("%s%s#", skRecordPrefix, pad(ticketID)))},
		ConsistentRead:            aws.Bool(true),
	})
}

// AllRecords returns every entry record of a profile (strongly consistent).
func (st *Store) AllRecords(ctx context.Context, pid string) ([]tb.EntryRecord, error) {
	const op = "store: entry records"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	return st.queryRecords(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRecords(pid)), ":prefix": avS(skRecordPrefix)},
		ConsistentRead:            aws.Bool(true),
	})
}

// RecordsByDay returns the entry records of the days from..to (YYYY-MM-DD,
// inclusive), from gsi1 (eventually consistent: a report may trail the
// latest run by a moment).
func (st *Store) RecordsByDay(ctx context.Context, pid, from, to string) ([]tb.EntryRecord, error) {
	const op = "store: entry records by day"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	return st.queryRecords(ctx, op, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :pk AND gsi1sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: avMap{":pk": avS(gsiRecordDays(pid)), ":lo": avS(from + "#"), ":hi": avS(to + "#~")},
	})
}

func (st *Store) queryRecords(ctx context.Context, op string, in *dynamodb.QueryInput) ([]tb.EntryRecord, error) {
	var out []tb.EntryRecord
	err := st.queryPages(ctx, op, in, func(items []avMap) error {
		var its []recordItem
		if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
			return internal(op, err)
		}
		for _, it := range its {
			out = append(out, it.domain())
		}
		return nil
	})
	return out, err
}

type observedItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	At   string `dynamodbav:"observed_at"`
}

// Observed returns when the engine last read what Kimai holds for the
// profile (zero: never).
func (st *Store) Observed(ctx context.Context, pid string) (time.Time, error) {
	const op = "store: get observed"
	if err := checkID(op, "profile id", pid); err != nil {
		return time.Time{}, err
	}
	var it observedItem
	ok, err := st.getItem(ctx, op, key(pkRecords(pid), skObserved), &it)
	if err != nil || !ok {
		return time.Time{}, err
	}
	var tp timeParser
	at := tp.t(it.At)
	if tp.err != nil {
		return time.Time{}, internal(op, tp.err)
	}
	return at, nil
}

// SetObserved records when the engine last read what Kimai holds; an
// older instant never replaces a newer one.
func (st *Store) SetObserved(ctx context.Context, pid string, at time.Time) error {
	const op = "store: set observed"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	item, err := marshal(op, observedItem{PK: pkRecords(pid), SK: skObserved, Type: "observed", At: fmtTime(at)})
	if err != nil {
		return err
	}
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(st.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR observed_at < :at"),
		ExpressionAttributeValues: avMap{":at": avS(fmtTime(at))},
	})
	if err != nil && !isConditionFailed(err) {
		return classify(err, op)
	}
	return nil
}
