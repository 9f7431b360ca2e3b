package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// TestEMFDocument checks the document against the EMF specification: the
// _aws member with a millisecond Timestamp and one CloudWatchMetrics
// directive (Namespace, Dimensions as arrays of dimension names present at
// the root, Metrics with Name and Unit), each metric's value at the root.
func TestEMFDocument(t *testing.T) {
	d := New(DimProfile, "01JQ7Z3M2Y8K4T6V9B1C5D7F0H")
	d.Add(EntriesCreated, Count, 3)
	d.Add(EntriesCreated, Count, 2)
	for _, ms := range []float64{10.4, 10.2, 55, 1234} {
		d.Observe(KimaiLatency, Milliseconds, ms)
	}
	var buf bytes.Buffer
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if err := d.WriteTo(&buf, now); err != nil {
		t.Fatal(err)
	}
	docs := decodeLines(t, buf.Bytes())
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	doc := docs[0]
	aws := doc["_aws"].(map[string]any)
	if aws["Timestamp"] != float64(now.UnixMilli()) {
		t.Errorf("Timestamp %v", aws["Timestamp"])
	}
	cwm := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if cwm["Namespace"] != Namespace {
		t.Errorf("Namespace %v", cwm["Namespace"])
	}
	dims, _ := json.Marshal(cwm["Dimensions"])
	if string(dims) != `[["ProfileId"],[]]` {
		t.Errorf("Dimensions %s: want the profile and the aggregate", dims)
	}
	if doc["ProfileId"] != "01JQ7Z3M2Y8K4T6V9B1C5D7F0H" {
		t.Errorf("dimension value %v", doc["ProfileId"])
	}
	defs, _ := json.Marshal(cwm["Metrics"])
	if string(defs) != `[{"Name":"EntriesCreated","Unit":"Count"},{"Name":"KimaiLatency","Unit":"Milliseconds"}]` {
		t.Errorf("Metrics %s", defs)
	}
	if doc["EntriesCreated"] != float64(5) {
		t.Errorf("counter %v, want the sum 5", doc["EntriesCreated"])
	}
	lat, _ := json.Marshal(doc["KimaiLatency"])
	if string(lat) != `{"Counts":[2,1,1],"Values":[10,55,1200]}` {
		t.Errorf("distribution %s", lat)
	}
	// Nothing recorded, nothing written.
	buf.Reset()
	if err := New(DimProfile, "p").WriteTo(&buf, now); err != nil || buf.Len() != 0 {
		t.Errorf("empty doc wrote %q, %v", buf.String(), err)
	}
	// A nil Doc (no metrics in the context) records and writes nothing.
	var nilDoc *Doc
	nilDoc.Add(EntriesSeen, Count, 1)
	nilDoc.Observe(KimaiLatency, Milliseconds, 1)
	if err := nilDoc.WriteTo(&buf, now); err != nil || buf.Len() != 0 {
		t.Error("nil doc wrote")
	}
}

// TestEMFLimits: more than 100 distinct values of one metric, or more than
// 100 metrics, are split over documents; every value and count survives.
func TestEMFLimits(t *testing.T) {
	d := New()
	for i := range 250 {
		d.Observe(ZammadLatency, Milliseconds, float64(100+i)) // 100…349: 250 distinct buckets
	}
	for i := range 120 {
		d.Add("M"+strings.Repeat("x", i%10)+string(rune('a'+i/10)), Count, 1)
	}
	var buf bytes.Buffer
	if err := d.WriteTo(&buf, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	docs := decodeLines(t, buf.Bytes())
	samples, metricsSeen := 0, map[string]bool{}
	for _, doc := range docs {
		cwm := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		defs := cwm["Metrics"].([]any)
		if len(defs) > 100 {
			t.Errorf("a document with %d metrics", len(defs))
		}
		if dims, _ := json.Marshal(cwm["Dimensions"]); string(dims) != `[[]]` {
			t.Errorf("dimensionless doc has Dimensions %s", dims)
		}
		for _, def := range defs {
			name := def.(map[string]any)["Name"].(string)
			if name == ZammadLatency {
				v := doc[name].(map[string]any)
				vals := v["Values"].([]any)
				if len(vals) > 100 {
					t.Errorf("%d values in one document", len(vals))
				}
				for _, c := range v["Counts"].([]any) {
					samples += int(c.(float64))
				}
			} else {
				metricsSeen[name] = true
			}
		}
	}
	if samples != 250 || len(metricsSeen) != 120 {
		t.Fatalf("%d samples, %d counters across %d documents", samples, len(metricsSeen), len(docs))
	}
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
	var buf bytes.Buffer
	if err := d.WriteTo(&buf, time.Now()); err != nil {
		t.Fatal(err)
	}
	doc := decodeLines(t, buf.Bytes())[0]
	if doc[KimaiRequests] != float64(20) {
		t.Fatalf("%v requests recorded, want 20", doc[KimaiRequests])
	}
	n := 0
	for _, c := range doc[KimaiLatency].(map[string]any)["Counts"].([]any) {
		n += int(c.(float64))
	}
	if n != 20 {
		t.Fatalf("%d latency samples, want 20", n)
	}
}
