package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		out = append(out, m)
	}
	return out
}

// write writes docs through a Sink under ns and returns the documents,
// each checked against the EMF specification.
func write(t *testing.T, ns string, now time.Time, docs ...*Doc) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := NewSink(&buf, ns).Write(now, docs...); err != nil {
		t.Fatal(err)
	}
	out := decodeLines(t, buf.Bytes())
	for _, d := range out {
		if err := checkSpec(d); err != nil {
			t.Errorf("%v: %v", err, d)
		}
	}
	return out
}

// units are the units the EMF schema allows.
var units = strings.Split("Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits Megabits "+
	"Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second "+
	"Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None", " ")

// checkSpec checks one document against the EMF specification
// (CloudWatch_Embedded_Metric_Format_Specification): _aws with an integer
// millisecond Timestamp and MetricDirectives of Namespace (1–1024
// characters), Dimensions (at least one DimensionSet of at most 30 keys,
// each a root member with a string value of at most 1024 characters) and
// at most 100 Metrics (Name a root member holding a number or at most 100
// numbers, Unit a CloudWatch unit). A distribution's histogram object
// (AWS's EMF library's form) must have at most 100 values, one count per
// value, and statistics that agree with them.
func checkSpec(d map[string]any) error {
	aws, ok := d["_aws"].(map[string]any)
	if !ok {
		return fmt.Errorf("no _aws object")
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts != float64(int64(ts)) || ts < 0 {
		return fmt.Errorf("Timestamp %v is not a millisecond count", aws["Timestamp"])
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return fmt.Errorf("no MetricDirectives")
	}
	for _, dir := range dirs {
		m := dir.(map[string]any)
		if ns, _ := m["Namespace"].(string); ns == "" || len(ns) > 1024 {
			return fmt.Errorf("Namespace %v", m["Namespace"])
		}
		sets, ok := m["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			return fmt.Errorf("Dimensions %v", m["Dimensions"])
		}
		for _, set := range sets {
			keys := set.([]any)
			if len(keys) > 30 {
				return fmt.Errorf("a DimensionSet of %d keys", len(keys))
			}
			for _, k := range keys {
				v, ok := d[k.(string)].(string)
				if !ok || len(v) > 1024 {
					return fmt.Errorf("dimension %v has no string value at the root", k)
				}
			}
		}
		defs, _ := m["Metrics"].([]any)
		if len(defs) == 0 || len(defs) > 100 {
			return fmt.Errorf("%d MetricDefinitions", len(defs))
		}
		for _, def := range defs {
			dm := def.(map[string]any)
			name, _ := dm["Name"].(string)
			if u, _ := dm["Unit"].(string); !slices.Contains(units, u) {
				return fmt.Errorf("%s: unit %q", name, u)
			}
			switch v := d[name].(type) {
			case float64:
			case []any:
				if len(v) > 100 {
					return fmt.Errorf("%s: %d values", name, len(v))
				}
			case map[string]any:
				if err := checkHistogram(v); err != nil {
					return fmt.Errorf("%s: %v", name, err)
				}
			default:
				return fmt.Errorf("metric %s has no numeric value at the root: %v", name, d[name])
			}
		}
	}
	return nil
}

func checkHistogram(h map[string]any) error {
	vals, _ := h["Values"].([]any)
	counts, _ := h["Counts"].([]any)
	if len(vals) == 0 || len(vals) > 100 || len(counts) != len(vals) {
		return fmt.Errorf("%d values, %d counts", len(vals), len(counts))
	}
	lo, hi, n, sum := vals[0].(float64), vals[0].(float64), 0.0, 0.0
	for i, v := range vals {
		f, c := v.(float64), counts[i].(float64)
		lo, hi, n, sum = min(lo, f), max(hi, f), n+c, sum+f*c
	}
	if h["Min"] != lo || h["Max"] != hi || h["Count"] != n || math.Abs(h["Sum"].(float64)-sum) > 1e-9*max(1, sum) {
		return fmt.Errorf("statistics %v disagree with the values (min %v max %v count %v sum %v)", h, lo, hi, n, sum)
	}
	return nil
}

// TestEMFDocument: a run's document, as written: the profile and the
// aggregate dimension sets, counters summed in one document, the latency
// distribution in one of its own, under the Sink's namespace.
func TestEMFDocument(t *testing.T) {
	d := New(DimProfile, "01JQ7Z3M2Y8K4T6V9B1C5D7F0H")
	d.Property("RunId", "01JQ7Z3M2Y8K4T6V9B1C5D7F0R")
	d.Add(EntriesCreated, Count, 3)
	d.Add(EntriesCreated, Count, 2)
	d.Add(RunDuration, Milliseconds, 1500)
	for _, ms := range []float64{10.4, 10.2, 55, 1234} {
		d.Observe(KimaiLatency, Milliseconds, ms)
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	docs := write(t, "Timebridge/timebridge-prod", now, d)
	if len(docs) != 2 {
		t.Fatalf("%d documents, want the counters' and the distribution's", len(docs))
	}
	for i, want := range []string{
		`{"EntriesCreated":5,"ProfileId":"01JQ7Z3M2Y8K4T6V9B1C5D7F0H","RunDuration":1500,"RunId":"01JQ7Z3M2Y8K4T6V9B1C5D7F0R",` +
			`"_aws":{"CloudWatchMetrics":[{"Dimensions":[["ProfileId"],[]],"Metrics":[{"Name":"EntriesCreated","Unit":"Count"},` +
			`{"Name":"RunDuration","Unit":"Milliseconds"}],"Namespace":"Timebridge/timebridge-prod"}],"Timestamp":1796378400000}}`,
		`{"KimaiLatency":{"Count":4,"Counts":[2,1,1],"Max":1200,"Min":10,"Sum":1275,"Values":[10,55,1200]},` +
			`"ProfileId":"01JQ7Z3M2Y8K4T6V9B1C5D7F0H","RunId":"01JQ7Z3M2Y8K4T6V9B1C5D7F0R",` +
			`"_aws":{"CloudWatchMetrics":[{"Dimensions":[["ProfileId"],[]],"Metrics":[{"Name":"KimaiLatency","Unit":"Milliseconds"}],` +
			`"Namespace":"Timebridge/timebridge-prod"}],"Timestamp":1796378400000}}`,
	} {
		got, _ := json.Marshal(docs[i]) // map keys sorted: a stable comparison
		if string(got) != want {
			t.Errorf("document %d:\n got %s\nwant %s", i, got, want)
		}
	}
	// Without a namespace, the default; without dimensions, only the aggregate.
	plain := New()
	plain.Add(WebhookDeliveries, Count, 1)
	cwm := write(t, "", now, plain)[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dims, _ := json.Marshal(cwm["Dimensions"]); cwm["Namespace"] != Namespace || string(dims) != `[[]]` {
		t.Errorf("namespace %v, dimensions %s", cwm["Namespace"], dims)
	}
	// Nothing recorded, nothing written; a nil Doc (no metrics in the
	// context) records and writes nothing; a nil Sink writes nothing.
	var nilDoc *Doc
	nilDoc.Add(EntriesSeen, Count, 1)
	nilDoc.Observe(KimaiLatency, Milliseconds, 1)
	nilDoc.Property("RunId", "r")
	if docs := write(t, "", now, New(DimProfile, "p"), nilDoc); len(docs) != 0 {
		t.Errorf("empty docs wrote %v", docs)
	}
	if err := NewSink(nil, "").Write(now, d); err != nil {
		t.Error(err)
	}
}

// TestTooManyDimensions: EMF allows 30 keys per dimension set; more is a
// programming error, refused at once rather than dropped by CloudWatch.
func TestTooManyDimensions(t *testing.T) {
	dims := make([]string, 0, 62)
	for i := range 31 {
		dims = append(dims, fmt.Sprintf("D%d", i), "v")
	}
	New(dims[:60]...) // 30: fine
	defer func() {
		if recover() == nil {
			t.Error("31 dimensions accepted")
		}
	}()
	New(dims...)
}

// TestEMFLimits: more than 100 distinct values of one metric, or more than
// 100 metrics, are split over documents; every value and count survives.
func TestEMFLimits(t *testing.T) {
	d := New()
	for i := range 250 {
		// 10, 11 … 99, 100, 110 … 990, 1000 …: 250 distinct buckets.
		d.Observe(ZammadLatency, Milliseconds, float64(10+i%90)*math.Pow(10, float64(i/90)))
	}
	for i := range 120 {
		d.Add("M"+strings.Repeat("x", i%10)+string(rune('a'+i/10)), Count, 1)
	}
	docs := write(t, "", time.Unix(0, 0), d)
	samples, metricsSeen := 0, map[string]bool{}
	for _, doc := range docs {
		cwm := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		defs := cwm["Metrics"].([]any)
		if dims, _ := json.Marshal(cwm["Dimensions"]); string(dims) != `[[]]` {
			t.Errorf("dimensionless doc has Dimensions %s", dims)
		}
		for _, def := range defs {
			name := def.(map[string]any)["Name"].(string)
			if name == ZammadLatency {
				if len(defs) != 1 {
					t.Errorf("a distribution shares its document with %d other metrics", len(defs)-1)
				}
				samples += int(doc[name].(map[string]any)["Count"].(float64))
			} else {
				metricsSeen[name] = true
			}
		}
	}
	// 120 counters in 2 documents, 250 buckets in 3.
	if samples != 250 || len(metricsSeen) != 120 || len(docs) != 5 {
		t.Fatalf("%d samples, %d counters across %d documents", samples, len(metricsSeen), len(docs))
	}
}

// TestConcurrentRecordingAndWriting: a run's parallel requests record into
// one Doc while other runs' Docs are written through the same Sink; every
// sample is counted and every line reaches the writer whole.
func TestConcurrentRecordingAndWriting(t *testing.T) {
	var out testWriter
	sink := NewSink(&out, "")
	d := New(DimProfile, "p")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 250 {
				d.Add(KimaiRequests, Count, 1)
				d.Observe(KimaiLatency, Milliseconds, float64(1+(i*250+j)%300))
			}
		})
		wg.Go(func() {
			other := New(DimProfile, fmt.Sprintf("q%d", i))
			for j := range 150 {
				other.Observe(ZammadLatency, Milliseconds, float64(j+1))
			}
			other.Add(RunsFinished, Count, 1)
			if err := sink.Write(time.Now(), other); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := sink.Write(time.Now(), d); err != nil {
		t.Fatal(err)
	}
	samples, requests := 0.0, 0.0
	for _, doc := range decodeLines(t, out.Bytes()) {
		if err := checkSpec(doc); err != nil {
			t.Fatal(err)
		}
		if doc[DimProfile] != "p" {
			continue
		}
		if h, ok := doc[KimaiLatency].(map[string]any); ok {
			samples += h["Count"].(float64)
		}
		if n, ok := doc[KimaiRequests].(float64); ok {
			requests += n
		}
	}
	if samples != 2000 || requests != 2000 {
		t.Fatalf("%v samples, %v requests, want 2000 each", samples, requests)
	}
}

// testWriter is a writer that fails the test on a concurrent Write (the
// Sink must serialise them) and keeps what was written.
type testWriter struct {
	mu      sync.Mutex
	busy    bool
	buf     bytes.Buffer
	overlap bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.busy {
		w.overlap = true
	}
	w.busy = true
	w.mu.Unlock()
	time.Sleep(50 * time.Microsecond) // widen the window for an overlapping writer
	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy = false
	return w.buf.Write(p)
}

func (w *testWriter) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.overlap {
		panic("two Writes at once")
	}
	return w.buf.Bytes()
}

func TestBucket(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0, 0}, {-5, 0}, {0.123, 0.12}, {1, 1}, {9.96, 10}, {10.4, 10}, {10.5, 11}, {99, 99}, {123, 120}, {1234, 1200}, {15678, 16000},
	} {
		if got := bucket(c.in); got != c.want && (got-c.want)/c.want > 1e-9 {
			t.Errorf("bucket(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestTransportRecordsIntoTheContextDoc: requests made with a Doc in their
// context count and time into it; requests without one are not recorded.
func TestTransportRecordsIntoTheContextDoc(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("{}")) }))
	defer srv.Close()
	c := Client(srv.Client(), KimaiRequests, KimaiLatency)
	d := New(DimProfile, "p")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(NewContext(context.Background(), d), "GET", srv.URL, nil)
			res, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
		})
	}
	wg.Wait()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
	}
	docs := write(t, "", time.Now(), d)
	if len(docs) != 2 || docs[0][KimaiRequests] != float64(20) {
		t.Fatalf("requests recorded: %v", docs)
	}
	if n := docs[1][KimaiLatency].(map[string]any)["Count"]; n != float64(20) {
		t.Fatalf("%v latency samples, want 20", n)
	}
}
