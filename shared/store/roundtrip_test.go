package store_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/timebridge"
)

// filler sets every field of a value to a distinct non-zero value, so that
// a round trip through the store proves that every field is persisted — and
// fails when a field is added to a domain type but not to the store.
type filler struct{ n int64 }

var (
	timeType = reflect.TypeOf(time.Time{})
	decType  = reflect.TypeOf(decimal.Dec{})
)

func (f *filler) fill(v reflect.Value) {
	f.n++
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(t0.Add(time.Duration(f.n)*time.Hour + time.Duration(f.n)*time.Nanosecond)))
		return
	case decType:
		v.Set(reflect.ValueOf(decimal.MustParse(fmt.Sprintf("%d.125", f.n))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(f.n)
	case reflect.Ptr:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		f.fill(k)
		f.fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf(json.RawMessage(fmt.Sprintf(`{"k":%d}`, f.n))))
	default:
		panic("filler: unsupported kind " + v.Kind().String())
	}
}

func filled[T any]() T {
	var v T
	(&filler{}).fill(reflect.ValueOf(&v).Elem())
	return v
}

func assertEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("mismatch:\n got: %s\nwant: %s\n(got %#v)", g, w, got)
	}
}

func TestRoundTripEveryField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)

	t.Run("connector", func(t *testing.T) {
		in := filled[timebridge.Connector]()
		want := in
		want.Version, want.UpdatedAt = 1, t0
		assertEqual(t, must[timebridge.Connector](t)(f.st.CreateConnector(c, in)), want)
		assertEqual(t, must[timebridge.Connector](t)(f.st.GetConnector(c, in.ID)), want)
	})
	t.Run("profile", func(t *testing.T) {
		in := filled[timebridge.Profile]()
		want := in
		want.Version, want.UpdatedAt = 1, t0
		assertEqual(t, must[timebridge.Profile](t)(f.st.CreateProfile(c, in)), want)
		assertEqual(t, must[timebridge.Profile](t)(f.st.GetProfile(c, in.ID)), want)
	})
	t.Run("mapping", func(t *testing.T) {
		in := filled[timebridge.Mapping]()
		noErr(t, f.st.PutMapping(c, in))
		in.UpdatedAt = t0
		ms := must[[]timebridge.Mapping](t)(f.st.Mappings(c, in.ProfileID))
		if len(ms) != 1 {
			t.Fatalf("%d mappings", len(ms))
		}
		assertEqual(t, ms[0], in)
	})
	t.Run("link", func(t *testing.T) {
		in := filled[timebridge.Link]()
		in.State = timebridge.LinkSynced // so that it has a tally
		want := in
		want.Version, want.UpdatedAt = 1, t0
		want.Tally = &timebridge.Tally{Day: in.WorkedOn, Seconds: in.Baseline.Duration} // computed by the store
		assertEqual(t, must[timebridge.Link](t)(f.st.PutLink(c, in, nil)), want)
		assertEqual(t, must[timebridge.Link](t)(f.st.GetLink(c, in.ProfileID, in.TicketID, in.EntryID)), want)
		ls := must[[]timebridge.Link](t)(f.st.LinksByTicket(c, in.ProfileID, in.TicketID))
		if len(ls) != 1 {
			t.Fatalf("%d links by ticket", len(ls))
		}
		assertEqual(t, ls[0], want)
	})
	t.Run("cursor", func(t *testing.T) {
		in := filled[timebridge.Cursor]()
		noErr(t, f.st.PutCursor(c, in))
		got, ok, err := f.st.GetCursor(c, in.ProfileID)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		assertEqual(t, got, in)
	})
	t.Run("conflict", func(t *testing.T) {
		in := filled[timebridge.Conflict]()
		want := in
		want.ID, want.Version, want.UpdatedAt = timebridge.ConflictID(in.ProfileID, in.EntryID), 1, t0
		assertEqual(t, must[timebridge.Conflict](t)(f.st.PutConflict(c, in, 0)), want)
		assertEqual(t, must[timebridge.Conflict](t)(f.st.GetConflict(c, in.ProfileID, in.EntryID)), want)
		list := must[[]timebridge.Conflict](t)(f.st.ListConflicts(c, "", in.Status))
		if len(list) != 1 {
			t.Fatalf("%d conflicts", len(list))
		}
		assertEqual(t, list[0], want)
	})
	t.Run("run", func(t *testing.T) {
		in := filled[timebridge.Run]()
		assertEqual(t, must[timebridge.Run](t)(f.st.PutRun(c, in)), in)
		assertEqual(t, must[timebridge.Run](t)(f.st.GetRun(c, in.ID)), in)
		runs, _, err := f.st.ListRuns(c, in.ProfileID, 10, "")
		noErr(t, err)
		want := in
		want.Plan, want.Preview, want.Outcomes = nil, nil, nil
		if len(runs) != 1 {
			t.Fatalf("%d runs", len(runs))
		}
		assertEqual(t, runs[0], want)
	})
	t.Run("audit", func(t *testing.T) {
		in := filled[timebridge.AuditEvent]()
		noErr(t, f.st.AppendAudit(c, in))
		evs, _, err := f.st.ListAudit(c, timebridge.AuditQuery{ProfileID: in.ProfileID})
		noErr(t, err)
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		assertEqual(t, evs[0], in)
	})
}

// TestRunPlanStoredBeforePreviews: a plan written by a version without
// previews (a bare JSON array in the parts) still reads back.
func TestRunPlanStoredBeforePreviews(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	in := timebridge.Run{ID: "01JQ7Z3M2Y8K4T6V9B1C5D7F0H", ProfileID: "p", DryRun: true, Status: timebridge.RunSucceeded,
		Plan: []timebridge.PlannedChange{{Action: timebridge.ActionCreate, EntryID: 7, TicketID: 3}}}
	must[timebridge.Run](t)(f.st.PutRun(c, in))
	// Rewrite the stored part the way the old version did.
	out, err := f.db.Query(c, &dynamodb.QueryInput{TableName: aws.String(f.table),
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "RUN#" + in.ID}, ":p": &types.AttributeValueMemberS{Value: "PLAN#"}}})
	noErr(t, err)
	if len(out.Items) != 1 {
		t.Fatalf("%d plan parts", len(out.Items))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	noErr(t, json.NewEncoder(zw).Encode(in.Plan))
	noErr(t, zw.Close())
	item := out.Items[0]
	item["data"] = &types.AttributeValueMemberB{Value: gz.Bytes()}
	_, err = f.db.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: item})
	noErr(t, err)
	got := must[timebridge.Run](t)(f.st.GetRun(c, in.ID))
	if got.Preview != nil || len(got.Plan) != 1 || got.Plan[0].EntryID != 7 {
		t.Fatalf("old plan read as %+v / %+v", got.Plan, got.Preview)
	}
}
