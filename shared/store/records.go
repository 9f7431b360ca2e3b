package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// The reconciliation report's entry records live in a partition of their
// own (REP#<pid>), packed into buckets: one per ticket (T#<ticket>: the
// engine's bookkeeping and the billed tag read one ticket's records with
// one GetItem) and one per day worked (D#<day>: a period's report is one
// Query over its days, a few items instead of one per entry). A bucket holds
// its records compressed (records_codec.go) and a version; writers read, change
// and put it on the condition that the version did not move. Day buckets
// are written before ticket buckets: the ticket buckets are what the next
// run compares with, so a run cut off in between rewrites both.
const (
	skObserved         = "OBSERVED"
	skTicketBucket     = "T#"
	skDayBucket        = "D#"
	maxBucketBytes     = 350 * 1024 // under DynamoDB's 400 KB item limit
	bucketWriteRetries = 8
)

func pkRecords(pid string) string { return "REP#" + pid }

type bucketItem struct {
	PK      string `dynamodbav:"pk"`
	SK      string `dynamodbav:"sk"`
	Type    string `dynamodbav:"type"`
	Version int64  `dynamodbav:"version"`
	Count   int    `dynamodbav:"count"`
	Data    []byte `dynamodbav:"data"` // encodeRecords, profile id left out
}

func ticketBucket(t int64) string { return skTicketBucket + pad(t) }
func dayBucket(day string) string { return skDayBucket + day }

func decodeBucket(op, pid string, it bucketItem) ([]tb.EntryRecord, error) {
	if len(it.Data) == 0 {
		return nil, nil
	}
	recs, err := decodeRecords(it.Data, pid)
	if err != nil {
		return nil, internal(op, fmt.Errorf("bucket %s: %w", it.SK, err))
	}
	return recs, nil
}

// WriteRecords stores puts and removes dels. A record is found by entry in
// the bucket of its ticket and in the bucket of its day: to move a record
// to another ticket or day, pass the old one in dels and the new one in
// puts. All records must belong to one profile.
func (st *Store) WriteRecords(ctx context.Context, puts, dels []tb.EntryRecord) error {
	const op = "store: write entry records"
	if len(puts)+len(dels) == 0 {
		return nil
	}
	pid := ""
	for _, r := range append(slices.Clip(puts), dels...) {
		if pid == "" {
			pid = r.ProfileID
		}
		if r.ProfileID != pid {
			return internal(op, fmt.Errorf("records of profiles %s and %s in one write", pid, r.ProfileID))
		}
		if r.Day == "" {
			return internal(op, fmt.Errorf("entry %d: record without a day", r.EntryID))
		}
	}
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	type change struct{ puts, dels []tb.EntryRecord }
	days, tickets := map[string]*change{}, map[string]*change{}
	at := func(m map[string]*change, k string) *change {
		if m[k] == nil {
			m[k] = &change{}
		}
		return m[k]
	}
	for _, r := range dels {
		at(days, dayBucket(r.Day)).dels = append(at(days, dayBucket(r.Day)).dels, r)
		at(tickets, ticketBucket(r.TicketID)).dels = append(at(tickets, ticketBucket(r.TicketID)).dels, r)
	}
	for _, r := range puts {
		at(days, dayBucket(r.Day)).puts = append(at(days, dayBucket(r.Day)).puts, r)
		at(tickets, ticketBucket(r.TicketID)).puts = append(at(tickets, ticketBucket(r.TicketID)).puts, r)
	}
	for _, m := range []map[string]*change{days, tickets} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(8)
		for _, sk := range slices.Sorted(maps.Keys(m)) {
			c := m[sk]
			g.Go(func() error { return st.changeBucket(gctx, op, pid, sk, c.puts, c.dels) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// changeBucket removes dels' entries from one bucket and puts puts' in,
// under the bucket's version (re-read and re-applied on a race).
func (st *Store) changeBucket(ctx context.Context, op, pid, sk string, puts, dels []tb.EntryRecord) error {
	for attempt := 0; ; attempt++ {
		var it bucketItem
		ok, err := st.getItem(ctx, op, key(pkRecords(pid), sk), &it)
		if err != nil {
			return err
		}
		recs, err := decodeBucket(op, pid, it)
		if err != nil {
			return err
		}
		byEntry := make(map[int64]tb.EntryRecord, len(recs)+len(puts))
		for _, r := range recs {
			byEntry[r.EntryID] = r
		}
		for _, r := range dels {
			delete(byEntry, r.EntryID)
		}
		for _, r := range puts {
			byEntry[r.EntryID] = r
		}
		next := make([]tb.EntryRecord, 0, len(byEntry))
		for _, e := range slices.Sorted(maps.Keys(byEntry)) {
			next = append(next, byEntry[e])
		}
		var cond string
		vals := avMap{}
		if ok {
			cond = "version = :v"
			vals[":v"] = avN(it.Version)
		} else {
			cond = "attribute_not_exists(pk)"
		}
		if len(next) == 0 {
			if !ok {
				return nil
			}
			_, err = st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.table), Key: key(pkRecords(pid), sk),
				ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals})
		} else {
			data, cerr := encodeRecords(next)
			if cerr != nil {
				return internal(op, cerr)
			}
			if len(data) > maxBucketBytes {
				return apperr.New(apperr.Validation, op, fmt.Sprintf("The report cannot hold %d entries on one %s; split the ticket.", len(next), bucketWhat(sk)))
			}
			item, merr := marshal(op, bucketItem{PK: pkRecords(pid), SK: sk, Type: "entry_records", Version: it.Version + 1, Count: len(next), Data: data})
			if merr != nil {
				return merr
			}
			_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.table), Item: item,
				ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals})
		}
		switch {
		case err == nil:
			return nil
		case isConditionFailed(err) && attempt < bucketWriteRetries:
			continue // another writer changed the bucket: apply again on its version
		default:
			return classify(err, op)
		}
	}
}

func bucketWhat(sk string) string {
	if strings.HasPrefix(sk, skDayBucket) {
		return "day"
	}
	return "ticket"
}

// TicketRecords returns one ticket's entry records (strongly consistent).
func (st *Store) TicketRecords(ctx context.Context, pid string, ticketID int64) ([]tb.EntryRecord, error) {
	const op = "store: ticket entry records"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	var it bucketItem
	if _, err := st.getItem(ctx, op, key(pkRecords(pid), ticketBucket(ticketID)), &it); err != nil {
		return nil, err
	}
	return decodeBucket(op, pid, it)
}

// AllRecords returns every entry record of a profile (strongly consistent).
func (st *Store) AllRecords(ctx context.Context, pid string) ([]tb.EntryRecord, error) {
	const op = "store: entry records"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	return st.queryBuckets(ctx, op, pid, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRecords(pid)), ":prefix": avS(skTicketBucket)},
		ConsistentRead:            aws.Bool(true),
	})
}

// EachRecords calls fn with the entry records of a profile, a page of
// ticket buckets at a time (strongly consistent), so that a caller looking
// for some of them never holds them all. An error from fn stops it.
func (st *Store) EachRecords(ctx context.Context, pid string, fn func([]tb.EntryRecord) error) error {
	const op = "store: entry records"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	return st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRecords(pid)), ":prefix": avS(skTicketBucket)},
		ConsistentRead:            aws.Bool(true),
	}, func(items []avMap) error {
		page, err := decodeBuckets(op, pid, items)
		if err != nil {
			return err
		}
		return fn(page)
	})
}

// decodeBuckets decodes the records of a page of bucket items.
func decodeBuckets(op, pid string, items []avMap) ([]tb.EntryRecord, error) {
	var out []tb.EntryRecord
	for _, item := range items {
		var it bucketItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, internal(op, err)
		}
		recs, err := decodeBucket(op, pid, it)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// RecordsByDay returns the entry records of the days from..to (YYYY-MM-DD,
// inclusive): one strongly consistent Query of the period's day buckets.
func (st *Store) RecordsByDay(ctx context.Context, pid, from, to string) ([]tb.EntryRecord, error) {
	const op = "store: entry records by day"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	return st.queryBuckets(ctx, op, pid, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRecords(pid)), ":lo": avS(dayBucket(from)), ":hi": avS(dayBucket(to))},
		ConsistentRead:            aws.Bool(true),
	})
}

func (st *Store) queryBuckets(ctx context.Context, op, pid string, in *dynamodb.QueryInput) ([]tb.EntryRecord, error) {
	var out []tb.EntryRecord
	err := st.queryPages(ctx, op, in, func(items []avMap) error {
		recs, err := decodeBuckets(op, pid, items)
		out = append(out, recs...)
		return err
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
