package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DeleteProfileData removes everything stored for a profile except its
// audit events: mappings, links, the cursor and conflicts (partition
// P#<pid>), its summary, report records and health, and its runs with their
// plans. It works in batches of 25, is
// idempotent, and does not touch the profile item itself (DeleteProfile
// calls it after deleting that).
func (st *Store) DeleteProfileData(ctx context.Context, pid string) error {
	const op = "store: delete profile data"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	// The profile partition and its summary's.
	for _, pk := range []string{pkProfileData(pid), pkSummary(pid), pkRecords(pid), "HEALTH#" + pid} {
		if err := st.deletePartition(ctx, op, pk); err != nil {
			return err
		}
	}
	// Runs: find their ids through gsi1, then delete each run partition
	// (the run item and its plan parts).
	var runPKs []string
	err := st.queryPages(ctx, op, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: avMap{":pk": avS("RUNS#" + pid)},
		ProjectionExpression:      aws.String("pk"),
	}, func(items []avMap) error {
		for _, it := range items {
			runPKs = append(runPKs, strAttr(it, attrPK))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, pk := range runPKs {
		if err := st.deletePartition(ctx, op, pk); err != nil {
			return err
		}
	}
	return nil
}

// deletePartition deletes every item of partition pk, page by page.
func (st *Store) deletePartition(ctx context.Context, op, pk string) error {
	return st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: avMap{":pk": avS(pk)},
		ProjectionExpression:      aws.String("pk, sk"),
		ConsistentRead:            aws.Bool(true),
	}, func(items []avMap) error { return st.batchDelete(ctx, op, items) })
}
