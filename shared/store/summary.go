package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/ident"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// The summary (see the package documentation) lives in a partition of its
// own per profile, as counters sharded by entry id so that concurrent link
// writes of one run rarely touch the same counter item in one transaction:
//
//	SUM#<pid>  DAY#<yyyy-mm-dd>#<shard>   entries, seconds of that day worked
//	SUM#<pid>  TOTAL#<shard>              entries, seconds over all days
//
// Its own partition keeps the counters' writes off the links' partition
// and a period's query to counters only.
const (
	skSumDayPrefix   = "DAY#"
	skSumTotalPrefix = "TOTAL#"
	sumShards        = 8
	attrTally        = "tally" // on a link: its stored Tally, "<day>/<seconds>"
)

func pkSummary(pid string) string { return "SUM#" + pid }

func sumDaySK(day string, shard int64) string {
	return skSumDayPrefix + day + "#" + strconv.FormatInt(shard, 10)
}

func sumTotalSK(shard int64) string { return skSumTotalPrefix + strconv.FormatInt(shard, 10) }

func encodeTally(t *timebridge.Tally) string {
	if t == nil {
		return ""
	}
	return t.Day + "/" + strconv.FormatInt(t.Seconds, 10)
}

func decodeTally(s string) (*timebridge.Tally, error) {
	if s == "" {
		return nil, nil
	}
	day, secs, ok := strings.Cut(s, "/")
	n, err := strconv.ParseInt(secs, 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("malformed tally %q", s)
	}
	return &timebridge.Tally{Day: day, Seconds: n}, nil
}

// sumUpdate is one counter item's change.
type sumUpdate struct {
	sk               string
	entries, seconds int64
}

// tallyUpdates is the change to the summary counters when a link of
// entryID goes from tally old to tally next: both nil, or equal, is none.
func tallyUpdates(entryID int64, old, next *timebridge.Tally) []sumUpdate {
	shard := entryID % sumShards
	byDay := map[string]*sumUpdate{}
	total := sumUpdate{sk: sumTotalSK(shard)}
	add := func(t *timebridge.Tally, sign int64) {
		if t == nil {
			return
		}
		u := byDay[t.Day]
		if u == nil {
			u = &sumUpdate{sk: sumDaySK(t.Day, shard)}
			byDay[t.Day] = u
		}
		u.entries += sign
		u.seconds += sign * t.Seconds
		total.entries += sign
		total.seconds += sign * t.Seconds
	}
	add(old, -1)
	add(next, 1)
	var out []sumUpdate
	for _, u := range byDay {
		if u.entries != 0 || u.seconds != 0 {
			out = append(out, *u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sk < out[j].sk })
	if total.entries != 0 || total.seconds != 0 {
		out = append(out, total)
	}
	return out
}

// tallyCond extends a link write's version condition (expect > 0) by the
// stored tally: the summary change is computed from the caller's previous
// link, so the write must fail rather than count from a tally that is not
// the stored one.
func tallyCond(cond string, names map[string]string, values avMap, prev *timebridge.Tally) string {
	names["#tl"] = attrTally
	if prev == nil {
		return cond + " AND attribute_not_exists(#tl)"
	}
	values[":tl"] = avS(encodeTally(prev))
	return cond + " AND #tl = :tl"
}

// writeLinkItem writes a link item under cond and applies the summary
// updates in the same transaction, so the summary changes exactly when the
// link does. Without updates it is a plain conditional put. A failed
// condition is classified by failure (NotFound or Conflict).
func (st *Store) writeLinkItem(ctx context.Context, op string, item avMap, cond string, names map[string]string, values avMap,
	updates []sumUpdate, failure func(error) error) error {
	if len(updates) == 0 {
		if err := st.put(ctx, op, item, cond, names, values); err != nil {
			return failure(err)
		}
		return nil
	}
	put := &types.Put{TableName: aws.String(st.table), Item: item, ConditionExpression: aws.String(cond),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	if len(names) > 0 {
		put.ExpressionAttributeNames = names
	}
	if len(values) > 0 {
		put.ExpressionAttributeValues = values
	}
	return st.transact(ctx, op, append([]types.TransactWriteItem{{Put: put}}, st.sumItems(strAttr(item, "profile_id"), updates)...), failure)
}

// deleteLinkItem deletes a link item under cond, with the summary updates
// in the same transaction (see writeLinkItem).
func (st *Store) deleteLinkItem(ctx context.Context, op, pid string, k avMap, cond string, names map[string]string, values avMap,
	updates []sumUpdate, failure func(error) error) error {
	if len(updates) == 0 {
		_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(st.table), Key: k,
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		if err != nil {
			return failure(err)
		}
		return nil
	}
	del := &types.Delete{TableName: aws.String(st.table), Key: k, ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	return st.transact(ctx, op, append([]types.TransactWriteItem{{Delete: del}}, st.sumItems(pid, updates)...), failure)
}

func (st *Store) sumItems(pid string, updates []sumUpdate) []types.TransactWriteItem {
	pk := pkSummary(pid)
	out := make([]types.TransactWriteItem, 0, len(updates))
	for _, u := range updates {
		out = append(out, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(st.table),
			Key:                       key(pk, u.sk),
			UpdateExpression:          aws.String("ADD entries :e, seconds :s SET #ty = :ty"),
			ExpressionAttributeNames:  map[string]string{"#ty": "type"},
			ExpressionAttributeValues: avMap{":e": avN(u.entries), ":s": avN(u.seconds), ":ty": avS("summary")},
		}})
	}
	return out
}

// Transaction retries: DynamoDB cancels a transaction that meets another
// one on the same item (TransactionConflict), which concurrent writers of
// one day's counter do now and then; that is retried, a failed condition is
// not.
const (
	transactAttempts = 8
	transactBackoff  = 10 * time.Millisecond
)

// transact runs a write transaction with an idempotency token, so that the
// SDK's own retry of a request whose answer was lost does not apply it
// twice or report its own success as a failed condition. The first item's
// failed condition is passed to failure as a ConditionalCheckFailedException
// carrying the stored item.
func (st *Store) transact(ctx context.Context, op string, items []types.TransactWriteItem, failure func(error) error) error {
	delay := transactBackoff
	for attempt := 1; ; attempt++ {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:      items,
			ClientRequestToken: aws.String(ident.New(st.now())),
		})
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return classify(err, op)
		}
		retry := false
		for i, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				if i == 0 {
					return failure(&types.ConditionalCheckFailedException{Message: r.Message, Item: r.Item})
				}
				return classify(err, op)
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				retry = true
			}
		}
		if !retry || attempt >= transactAttempts {
			return classify(err, op)
		}
		select {
		case <-ctx.Done():
			return classify(ctx.Err(), op)
		case <-time.After(delay/2 + rand.N(delay)):
		}
		delay = min(2*delay, time.Second)
	}
}

// Summary returns what profile pid holds in Kimai: synced entries and
// seconds over all time, and per day worked from from to to (YYYY-MM-DD,
// inclusive) the days with synced time. Two strongly consistent queries of
// the profile's partition, whatever the number of entries.
func (st *Store) Summary(ctx context.Context, pid, from, to string) (timebridge.Summary, error) {
	const op = "store: summary"
	out := timebridge.Summary{ProfileID: pid, Days: []timebridge.DayTotal{}}
	if err := checkID(op, "profile id", pid); err != nil {
		return out, err
	}
	for _, d := range []string{from, to} {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return out, invalid(op, fmt.Sprintf("%q is not a date (YYYY-MM-DD).", d))
		}
	}
	type counter struct {
		SK      string `dynamodbav:"sk"`
		Entries int64  `dynamodbav:"entries"`
		Seconds int64  `dynamodbav:"seconds"`
	}
	// The totals: one consistent batch read of the shards.
	keys := make([]avMap, sumShards)
	for i := range keys {
		keys[i] = key(pkSummary(pid), sumTotalSK(int64(i)))
	}
	err := st.batchGet(ctx, op, keys, func(it avMap) error {
		out.Entries += numAttr(it, "entries")
		out.Seconds += numAttr(it, "seconds")
		return nil
	})
	if err != nil {
		return out, err
	}
	days := map[string]*timebridge.DayTotal{}
	err = st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: avMap{":pk": avS(pkSummary(pid)),
			":from": avS(skSumDayPrefix + from), ":to": avS(skSumDayPrefix + to + "#~")},
		ConsistentRead: aws.Bool(true),
	}, func(items []avMap) error {
		for _, it := range items {
			var c counter
			if err := attributevalue.UnmarshalMap(it, &c); err != nil {
				return internal(op, err)
			}
			day, _, _ := strings.Cut(strings.TrimPrefix(c.SK, skSumDayPrefix), "#")
			d := days[day]
			if d == nil {
				d = &timebridge.DayTotal{Day: day}
				days[day] = d
			}
			d.Entries += c.Entries
			d.Seconds += c.Seconds
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	for _, d := range days {
		if d.Entries != 0 || d.Seconds != 0 {
			out.Days = append(out.Days, *d)
		}
	}
	sort.Slice(out.Days, func(i, j int) bool { return out.Days[i].Day < out.Days[j].Day })
	return out, nil
}
