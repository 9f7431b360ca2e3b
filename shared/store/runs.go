package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	skRun        = "RUN"
	skPlanPrefix = "PLAN#"
	// planPartSize is the compressed plan bytes per plan part item, well
	// below DynamoDB's 400 KB item limit.
	planPartSize = 300 * 1024
	// DefaultRunPageSize and MaxRunPageSize bound ListRuns.
	DefaultRunPageSize = 50
	MaxRunPageSize     = 500
)

// gsi2Runs is the one gsi2 partition: every run, for the list across
// profiles.
const gsi2Runs = "RUNS"

func pkRun(id string) string { return "RUN#" + id }

type runItem struct {
	PK          string  `dynamodbav:"pk"`
	SK          string  `dynamodbav:"sk"`
	GSI1PK      string  `dynamodbav:"gsi1pk"`
	GSI1SK      string  `dynamodbav:"gsi1sk"`
	GSI2PK      string  `dynamodbav:"gsi2pk"`
	GSI2SK      string  `dynamodbav:"gsi2sk"`
	Type        string  `dynamodbav:"type"`
	ID          string  `dynamodbav:"id"`
	ProfileID   string  `dynamodbav:"profile_id"`
	Trigger     string  `dynamodbav:"trigger,omitempty"`
	Mode        string  `dynamodbav:"mode,omitempty"`
	DryRun      bool    `dynamodbav:"dry_run"`
	TicketID    int64   `dynamodbav:"ticket_id,omitempty"`
	From        string  `dynamodbav:"from,omitempty"`
	To          string  `dynamodbav:"to,omitempty"`
	Status      string  `dynamodbav:"status"`
	QueuedAt    string  `dynamodbav:"queued_at"`
	StartedAt   string  `dynamodbav:"started_at,omitempty"`
	FinishedAt  string  `dynamodbav:"finished_at,omitempty"`
	DurationMS  int64   `dynamodbav:"duration_ms"`
	Counts      string  `dynamodbav:"counts"`                 // JSON Counts
	Error       string  `dynamodbav:"error_detail,omitempty"` // JSON ErrorDetail
	ItemErrors  string  `dynamodbav:"item_errors,omitempty"`  // JSON []ItemError
	Requester   string  `dynamodbav:"requester,omitempty"`
	Tickets     []int64 `dynamodbav:"tickets,omitempty"`
	MergedInto  string  `dynamodbav:"merged_into,omitempty"`
	RetryOf     string  `dynamodbav:"retry_of,omitempty"`
	Progress    string  `dynamodbav:"progress,omitempty"`    // JSON Progress
	Concurrency string  `dynamodbav:"concurrency,omitempty"` // JSON ConcurrencyTrace
	PlanGen     string  `dynamodbav:"plan_gen,omitempty"`
	PlanParts   int     `dynamodbav:"plan_parts,omitempty"`
	PlanEntries int     `dynamodbav:"plan_entries,omitempty"`
}

type planPartItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Type string `dynamodbav:"type"`
	Data []byte `dynamodbav:"data"`
}

func planSK(gen string, part int) string { return fmt.Sprintf("%s%s#%04d", skPlanPrefix, gen, part) }

func toRunItem(r timebridge.Run) (runItem, error) {
	newest := fmtTime(r.QueuedAt) + "#" + r.ID
	it := runItem{
		PK: pkRun(r.ID), SK: skRun,
		GSI1PK: "RUNS#" + r.ProfileID, GSI1SK: newest,
		GSI2PK: gsi2Runs, GSI2SK: newest,
		Type: "run",
		ID:   r.ID, ProfileID: r.ProfileID, Trigger: r.Trigger, Mode: string(r.Mode), DryRun: r.DryRun,
		TicketID: r.TicketID, From: fmtTimePtr(r.From), To: fmtTimePtr(r.To),
		Status: string(r.Status), QueuedAt: fmtTime(r.QueuedAt),
		StartedAt: fmtTimePtr(r.StartedAt), FinishedAt: fmtTimePtr(r.FinishedAt),
		DurationMS: r.DurationMS, Requester: r.Requester, Tickets: r.Tickets, MergedInto: r.MergedInto, RetryOf: r.RetryOf,
	}
	var err error
	if r.Progress != nil {
		if it.Progress, err = jsonString(r.Progress); err != nil {
			return it, err
		}
	}
	if it.Counts, err = jsonString(r.Counts); err != nil {
		return it, err
	}
	if r.Concurrency != nil {
		if it.Concurrency, err = jsonString(r.Concurrency); err != nil {
			return it, err
		}
	}
	if r.Error != nil {
		if it.Error, err = jsonString(r.Error); err != nil {
			return it, err
		}
	}
	if r.ItemErrors != nil {
		if it.ItemErrors, err = jsonString(r.ItemErrors); err != nil {
			return it, err
		}
	}
	return it, nil
}

func (it runItem) domain() (timebridge.Run, error) {
	var tp timeParser
	r := timebridge.Run{
		ID: it.ID, ProfileID: it.ProfileID, Trigger: it.Trigger, Mode: timebridge.RunMode(it.Mode),
		DryRun: it.DryRun, TicketID: it.TicketID, From: tp.ptr(it.From), To: tp.ptr(it.To),
		Status: timebridge.RunStatus(it.Status), QueuedAt: tp.t(it.QueuedAt),
		StartedAt: tp.ptr(it.StartedAt), FinishedAt: tp.ptr(it.FinishedAt),
		DurationMS: it.DurationMS, Requester: it.Requester, Tickets: it.Tickets, MergedInto: it.MergedInto, RetryOf: it.RetryOf,
	}
	if tp.err != nil {
		return r, tp.err
	}
	if err := fromJSON(it.Counts, &r.Counts); err != nil {
		return r, err
	}
	if it.Error != "" {
		r.Error = new(timebridge.ErrorDetail)
		if err := fromJSON(it.Error, r.Error); err != nil {
			return r, err
		}
	}
	if err := fromJSON(it.ItemErrors, &r.ItemErrors); err != nil {
		return r, err
	}
	if it.Progress != "" {
		r.Progress = new(timebridge.Progress)
		if err := fromJSON(it.Progress, r.Progress); err != nil {
			return r, err
		}
	}
	if it.Concurrency != "" {
		r.Concurrency = new(timebridge.ConcurrencyTrace)
		if err := fromJSON(it.Concurrency, r.Concurrency); err != nil {
			return r, err
		}
	}
	return r, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// normRun makes every time of r UTC, as it is returned after a round trip.
func normRun(r timebridge.Run) timebridge.Run {
	r.QueuedAt = r.QueuedAt.UTC()
	r.From, r.To = utcPtr(r.From), utcPtr(r.To)
	r.StartedAt, r.FinishedAt = utcPtr(r.StartedAt), utcPtr(r.FinishedAt)
	if r.Progress != nil {
		p := *r.Progress
		p.UpdatedAt = p.UpdatedAt.UTC()
		r.Progress = &p
	}
	if r.Plan != nil {
		plan := make([]timebridge.PlannedChange, len(r.Plan))
		for i, c := range r.Plan {
			c.Before, c.After = normTimesheetPtr(c.Before), normTimesheetPtr(c.After)
			plan[i] = c
		}
		r.Plan = plan
	}
	return r
}

// PutRun creates or replaces a run (unconditionally: a run has one writer,
// the worker executing it). QueuedAt is set to now when zero; an empty ID is
// assigned. A non-empty Plan, the Preview and the Outcomes are stored
// compressed in plan parts (see the package documentation); a run put
// without them has none afterwards. ListRuns returns none of them; GetRun
// all.
func (st *Store) PutRun(ctx context.Context, r timebridge.Run) (timebridge.Run, error) {
	const op = "store: put run"
	if r.QueuedAt.IsZero() {
		r.QueuedAt = st.now()
	}
	if r.ID == "" {
		r.ID = ident.New(r.QueuedAt)
	}
	if err := checkID(op, "run id", r.ID); err != nil {
		return r, err
	}
	if err := checkID(op, "profile id", r.ProfileID); err != nil {
		return r, err
	}
	r = normRun(r)
	it, err := toRunItem(r)
	if err != nil {
		return r, internal(op, err)
	}

	// Write the new plan generation first, then the run item pointing to it.
	var parts []avMap
	if len(r.Plan) > 0 || r.Preview != nil || len(r.Outcomes) > 0 {
		gz, err := compressJSON(planBlob{Preview: r.Preview, Changes: r.Plan, Outcomes: r.Outcomes})
		if err != nil {
			return r, internal(op, err)
		}
		it.PlanGen = ident.New(st.now())
		it.PlanEntries = len(r.Plan)
		for i := 0; i*planPartSize < len(gz); i++ {
			chunk := gz[i*planPartSize : min((i+1)*planPartSize, len(gz))]
			p, err := marshal(op, planPartItem{PK: pkRun(r.ID), SK: planSK(it.PlanGen, i), Type: "run_plan", Data: chunk})
			if err != nil {
				return r, err
			}
			parts = append(parts, p)
		}
		it.PlanParts = len(parts)
		reqs := make([]types.WriteRequest, len(parts))
		for i, p := range parts {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: p}}
		}
		if err := st.batchWrite(ctx, op, reqs); err != nil {
			return r, err
		}
	}
	item, err := marshal(op, it)
	if err != nil {
		return r, err
	}
	res, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:    aws.String(st.table),
		Item:         item,
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return r, classify(err, op)
	}
	// Delete the plan generation the run item pointed to before.
	if old := strAttr(res.Attributes, "plan_gen"); old != "" && old != it.PlanGen {
		if err := st.deletePlanGen(ctx, op, r.ID, old); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (st *Store) deletePlanGen(ctx context.Context, op, runID, gen string) error {
	var keys []avMap
	err := st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRun(runID)), ":prefix": avS(skPlanPrefix + gen + "#")},
		ProjectionExpression:      aws.String("pk, sk"),
		ConsistentRead:            aws.Bool(true),
	}, func(items []avMap) error { keys = append(keys, items...); return nil })
	if err != nil {
		return err
	}
	return st.batchDelete(ctx, op, keys)
}

// GetRun returns a run with its plan, apperr.NotFound if there is none.
func (st *Store) GetRun(ctx context.Context, id string) (timebridge.Run, error) {
	const op = "store: get run"
	if err := checkID(op, "run id", id); err != nil {
		return timebridge.Run{}, err
	}
	// A concurrent PutRun may replace the plan generation between reading
	// the run item and its parts; read again in that case.
	for attempt := 0; ; attempt++ {
		var it runItem
		ok, err := st.getItem(ctx, op, key(pkRun(id), skRun), &it)
		if err != nil {
			return timebridge.Run{}, err
		}
		if !ok {
			return timebridge.Run{}, notFound(op, "run "+id)
		}
		r, err := conv(op, it.domain)
		if err != nil || it.PlanParts == 0 {
			return r, err
		}
		blob, complete, err := st.readPlan(ctx, op, id, it.PlanGen, it.PlanParts)
		if err != nil {
			return r, err
		}
		if complete {
			r.Plan, r.Preview, r.Outcomes = blob.Changes, blob.Preview, blob.Outcomes
			return r, nil
		}
		if attempt == 2 {
			return r, apperr.New(apperr.Internal, op, "The run's plan is incomplete; the details are in the logs.")
		}
	}
}

// planBlob is what the plan parts hold, gzip-compressed: a dry run's plan
// and its preview. Plans stored before previews existed are a bare array
// of changes.
type planBlob struct {
	Preview *timebridge.Preview        `json:"preview,omitempty"`
	Changes []timebridge.PlannedChange `json:"changes"`
	// Outcomes are a run's per-entry outcomes (runs that write).
	Outcomes []timebridge.EntryOutcome `json:"outcomes,omitempty"`
}

func (b *planBlob) UnmarshalJSON(data []byte) error {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		b.Preview = nil
		return json.Unmarshal(t, &b.Changes)
	}
	type plain planBlob // without this method
	return json.Unmarshal(data, (*plain)(b))
}

func (st *Store) readPlan(ctx context.Context, op, runID, gen string, parts int) (planBlob, bool, error) {
	var its []planPartItem
	err := st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkRun(runID)), ":prefix": avS(skPlanPrefix + gen + "#")},
		ConsistentRead:            aws.Bool(true),
	}, func(items []avMap) error {
		var page []planPartItem
		if err := attributevalue.UnmarshalListOfMaps(items, &page); err != nil {
			return internal(op, err)
		}
		its = append(its, page...)
		return nil
	})
	if err != nil {
		return planBlob{}, false, err
	}
	if len(its) != parts {
		return planBlob{}, false, nil
	}
	var gz bytes.Buffer
	for i, p := range its {
		if p.SK != planSK(gen, i) {
			return planBlob{}, false, nil
		}
		gz.Write(p.Data)
	}
	var blob planBlob
	if err := decompressJSON(gz.Bytes(), &blob); err != nil {
		return planBlob{}, false, internal(op, err)
	}
	return blob, true, nil
}

// ListRuns returns a page of a profile's runs, newest (QueuedAt) first,
// without their plans (GetRun has them). limit ≤ 0 means
// DefaultRunPageSize; it is capped at MaxRunPageSize. next is "" on the last
// page; otherwise pass it as cursor for the next page. The list is read from
// gsi1 and therefore eventually consistent.
func (st *Store) ListRuns(ctx context.Context, pid string, limit int, cursor string) ([]timebridge.Run, string, error) {
	const op = "store: list runs"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, "", err
	}
	return st.listRuns(ctx, op, indexGSI1, attrGSI1PK, attrGSI1SK, "RUNS#"+pid, RunWindow{}, limit, cursor)
}

// RunWindow bounds a run list by QueuedAt: From inclusive, To exclusive;
// a zero bound is open.
type RunWindow struct{ From, To time.Time }

// ListRunsIn is ListRuns (pid set) or ListAllRuns (pid empty) restricted to
// runs queued inside w, with one key-condition Query per page.
func (st *Store) ListRunsIn(ctx context.Context, pid string, w RunWindow, limit int, cursor string) ([]timebridge.Run, string, error) {
	if pid == "" {
		return st.listRuns(ctx, "store: list all runs", indexGSI2, attrGSI2PK, attrGSI2SK, gsi2Runs, w, limit, cursor)
	}
	const op = "store: list runs"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, "", err
	}
	return st.listRuns(ctx, op, indexGSI1, attrGSI1PK, attrGSI1SK, "RUNS#"+pid, w, limit, cursor)
}

// ListAllRuns is ListRuns across all profiles: one page of every run,
// newest (QueuedAt, then id) first, read from gsi2. A cursor of one list
// is refused by the other (apperr.Validation).
func (st *Store) ListAllRuns(ctx context.Context, limit int, cursor string) ([]timebridge.Run, string, error) {
	return st.listRuns(ctx, "store: list all runs", indexGSI2, attrGSI2PK, attrGSI2SK, gsi2Runs, RunWindow{}, limit, cursor)
}

// listRuns reads one page of the index partition pkName = pkValue, newest
// first.
func (st *Store) listRuns(ctx context.Context, op, index, pkName, skName, pkValue string, w RunWindow, limit int, cursor string) ([]timebridge.Run, string, error) {
	limit = pageSize(limit, DefaultRunPageSize, MaxRunPageSize)
	keyNames := []string{pkName, skName, attrPK, attrSK}
	start, err := decodeCursor(op, cursor, map[string]string{pkName: pkValue}, keyNames...)
	if err != nil {
		return nil, "", err
	}
	// Sort keys are "<queued>#<id>": "<from>" sorts before every run queued
	// at from, "<to>" before every run queued at to.
	cond, names, values := "#pk = :pk", map[string]string{"#pk": pkName}, avMap{":pk": avS(pkValue)}
	switch {
	case !w.From.IsZero() && !w.To.IsZero():
		cond += " AND #sk BETWEEN :lo AND :hi"
		values[":lo"], values[":hi"] = avS(fmtTime(w.From)), avS(fmtTime(w.To))
	case !w.From.IsZero():
		cond += " AND #sk >= :lo"
		values[":lo"] = avS(fmtTime(w.From))
	case !w.To.IsZero():
		cond += " AND #sk < :hi"
		values[":hi"] = avS(fmtTime(w.To))
	}
	if len(values) > 1 {
		names["#sk"] = skName
	}
	res, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
		// One more than asked, to know whether another page exists.
		Limit: aws.Int32(int32(limit + 1)),
	})
	if err != nil {
		return nil, "", classify(err, op)
	}
	items := res.Items
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(items[limit-1], keyNames...)
	} else if len(res.LastEvaluatedKey) > 0 {
		// The backend stopped early (1 MB page limit): continue from there.
		next = encodeCursor(res.LastEvaluatedKey, keyNames...)
	}
	var its []runItem
	if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
		return nil, "", internal(op, err)
	}
	out := make([]timebridge.Run, 0, len(its))
	for _, it := range its {
		r, err := conv(op, it.domain)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

func pageSize(limit, def, maxSize int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, maxSize)
}

func compressJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decompressJSON(b []byte, v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer zr.Close()
	data, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// PutRunProgress stores a running run's counts and progress, leaving the
// rest of its record (its outcomes so far, kept across the invocations of
// a continued run) as it is. apperr.NotFound when there is no such run.
func (st *Store) PutRunProgress(ctx context.Context, id string, c timebridge.Counts, p timebridge.Progress) error {
	const op = "store: put run progress"
	if err := checkID(op, "run id", id); err != nil {
		return err
	}
	cs, err := jsonString(c)
	if err != nil {
		return internal(op, err)
	}
	p.UpdatedAt = p.UpdatedAt.UTC()
	ps, err := jsonString(p)
	if err != nil {
		return internal(op, err)
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       key(pkRun(id), skRun),
		UpdateExpression:          aws.String("SET #c = :c, #p = :p"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#c": "counts", "#p": "progress"},
		ExpressionAttributeValues: avMap{":c": avS(cs), ":p": avS(ps)},
	})
	if isConditionFailed(err) {
		return notFound(op, "run")
	}
	if err != nil {
		return classify(err, op)
	}
	return nil
}
