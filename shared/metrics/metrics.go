// Package metrics writes Timebridge's CloudWatch metrics as Embedded Metric
// Format (EMF) lines on standard output: Lambda sends them to CloudWatch Logs,
// which turns them into metrics, so recording a metric costs no API call on
// the hot path. One Doc is one set of dimensions and the metrics recorded
// under them (a run, a webhook delivery, a profile's staleness); a Sink
// writes Docs once, at the end of what they measure, under the stack's
// namespace.
//
// Every document publishes each metric twice, with its dimensions (e.g.
// ProfileId) and without any, so that the dashboard and the alarms have one
// series across profiles and the runbook can drill down per profile.
//
// Latencies are distributions: values are rounded to a bucket boundary (two
// significant digits) and written as {"Values", "Counts", "Max", "Min",
// "Count", "Sum"}, at most 100 distinct values per metric and document, from
// which CloudWatch computes p50/p95 (to within the bucket, 5%). That object
// is the form AWS's own EMF library writes for histograms, but the published
// EMF specification only describes numbers and arrays of numbers, so
// distributions go in documents of their own: should CloudWatch ever refuse
// one, the run's counts, which the alarms read, are in another. Counters are
// summed into one number.
//
// The metric names are constants here; template.yaml's dashboard and alarms
// name the same (a test in infra/samtemplate keeps them equal).
package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of a Sink made without one. The
// template gives each stack its own, Timebridge/<stack name>
// (TIMEBRIDGE_METRICS_NAMESPACE), so that two stacks in one account and
// region never add up in the alarms' series across profiles.
const Namespace = "Timebridge"

// Dimension names.
const (
	DimProfile = "ProfileId"
	DimClass   = "ErrorClass" // an apperr kind
	DimOutcome = "Outcome"
)

// Properties: logged with the metrics, searchable in CloudWatch Logs
// Insights, but no dimension (no series per value).
const (
	PropRun        = "RunId"
	PropErrorClass = "RunErrorClass" // the apperr kind a run failed with
)

// Metric names. Runs (reconcile, per run):
const (
	RunsFinished      = "RunsFinished"       // Count: every finished run (dry runs excluded)
	RunsFailed        = "RunsFailed"         // Count: runs that ended failed
	RunsFailedAuth    = "RunsFailedAuth"     // Count: runs failed because a token or permission was refused
	RunDuration       = "RunDuration"        // Milliseconds
	EntriesSeen       = "EntriesSeen"        // Count
	EntriesCreated    = "EntriesCreated"     // Count
	EntriesUpdated    = "EntriesUpdated"     // Count
	EntriesDeleted    = "EntriesDeleted"     // Count
	ConflictsOpened   = "ConflictsOpened"    // Count
	OpenConflicts     = "OpenConflicts"      // Count: open after the run (a gauge; Maximum)
	ItemsFailed       = "ItemsFailed"        // Count
	ItemsFailedBy     = "ItemsFailedByClass" // Count, per ErrorClass
	KimaiRequests     = "KimaiRequests"      // Count
	KimaiLatency      = "KimaiLatency"       // Milliseconds (distribution)
	ZammadRequests    = "ZammadRequests"     // Count
	ZammadLatency     = "ZammadLatency"      // Milliseconds (distribution)
	WebhookDeliveries = "WebhookDeliveries"  // Count, per Outcome
	// StalenessRatio (scheduler, per tick and enabled profile): intervals
	// since the profile's latest successful run; the alarm reads the
	// maximum across profiles.
	StalenessRatio = "StalenessRatio" // None
)

// Names lists every metric name above (the template test checks that the
// dashboard and the alarms name only these).
var Names = []string{RunsFinished, RunsFailed, RunsFailedAuth, RunDuration, EntriesSeen, EntriesCreated, EntriesUpdated,
	EntriesDeleted, ConflictsOpened, OpenConflicts, ItemsFailed, ItemsFailedBy, KimaiRequests, KimaiLatency, ZammadRequests, ZammadLatency,
	WebhookDeliveries, StalenessRatio}

// Webhook delivery outcomes (the Outcome dimension).
const (
	OutcomeAccepted  = "accepted"  // queued a run, or coalesced into one already queued
	OutcomeDuplicate = "duplicate" // a redelivery of a delivery id already seen
	OutcomeIgnored   = "ignored"   // nothing to sync in it
	OutcomeRejected  = "rejected"  // bad signature, unknown profile, throttled, malformed
	OutcomeFailed    = "failed"    // Timebridge could not take it (5xx)
)

// Outcomes lists every delivery outcome.
var Outcomes = []string{OutcomeAccepted, OutcomeDuplicate, OutcomeIgnored, OutcomeRejected, OutcomeFailed}

// Unit is a CloudWatch unit.
type Unit string

const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// Doc collects metrics under one set of dimensions. It is safe for
// concurrent use (a run's parallel requests record into one Doc).
type Doc struct {
	mu      sync.Mutex
	dims    [][2]string
	props   map[string]string // logged with the metrics, not dimensions
	metrics map[string]*series
}

type series struct {
	unit   Unit
	sum    float64         // counters
	counts map[float64]int // distributions: bucket value → count
}

// maxDimensions is EMF's limit of dimension keys per dimension set.
const maxDimensions = 30

// New returns a Doc with dimensions given as name, value pairs (at most
// 30, EMF's limit; more panic, as a programming error).
func New(dims ...string) *Doc {
	if len(dims)/2 > maxDimensions {
		panic("metrics: more than 30 dimensions")
	}
	d := &Doc{metrics: map[string]*series{}}
	for i := 0; i+1 < len(dims); i += 2 {
		d.dims = append(d.dims, [2]string{dims[i], dims[i+1]})
	}
	return d
}

// Property sets a member that is logged with the metrics but is not a
// dimension (a run id: searchable in the logs, no series per run).
func (d *Doc) Property(key, value string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.props == nil {
		d.props = map[string]string{}
	}
	d.props[key] = value
}

// Add adds v to counter name.
func (d *Doc) Add(name string, unit Unit, v float64) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.get(name, unit)
	s.sum += v
}

// Observe records one sample of distribution name.
func (d *Doc) Observe(name string, unit Unit, v float64) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.get(name, unit)
	if s.counts == nil {
		s.counts = map[float64]int{}
	}
	s.counts[bucket(v)]++
}

func (d *Doc) get(name string, unit Unit) *series {
	s := d.metrics[name]
	if s == nil {
		s = &series{unit: unit}
		d.metrics[name] = s
	}
	return s
}

// bucket rounds v to two significant digits (1.23 → 1.2, 1234 → 1200):
// at most ~90 distinct values per decade, within 5% of the sample.
func bucket(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Round(v/p) * p
}

// maxMetrics and maxValues are EMF's limits per document.
const (
	maxMetrics = 100
	maxValues  = 100
)

// histogram is a distribution's value in a document: the buckets and the
// statistics CloudWatch needs besides them (computed from the buckets, so
// that they are consistent with them).
type histogram struct {
	Values []float64 `json:"Values"`
	Counts []int     `json:"Counts"`
	Max    float64   `json:"Max"`
	Min    float64   `json:"Min"`
	Count  int       `json:"Count"`
	Sum    float64   `json:"Sum"`
}

type entry struct {
	name  string
	unit  Unit
	value any
}

// encode writes the Doc as EMF lines under namespace ns with timestamp
// now: the counters in documents of at most 100 metrics, then the
// distributions in documents of their own, more than one when a
// distribution has over 100 distinct values. An empty Doc writes nothing.
func (d *Doc) encode(enc *json.Encoder, ns string, now time.Time) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.metrics))
	for n := range d.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	var counters, dists []entry
	for _, n := range names {
		s := d.metrics[n]
		if s.counts == nil {
			counters = append(counters, entry{n, s.unit, s.sum})
			continue
		}
		vals := make([]float64, 0, len(s.counts))
		for v := range s.counts {
			vals = append(vals, v)
		}
		sort.Float64s(vals)
		for len(vals) > 0 { // one histogram per 100 distinct values
			k := min(len(vals), maxValues)
			h := histogram{Values: vals[:k], Counts: make([]int, k), Min: vals[0], Max: vals[k-1]}
			for i, v := range vals[:k] {
				c := s.counts[v]
				h.Counts[i] = c
				h.Count += c
				h.Sum += v * float64(c)
			}
			dists = append(dists, entry{n, s.unit, h})
			vals = vals[k:]
		}
	}
	for _, group := range [][]entry{counters, dists} {
		for len(group) > 0 {
			// A metric name appears at most once per document.
			var batch, rest []entry
			seen := map[string]bool{}
			for _, e := range group {
				if len(batch) < maxMetrics && !seen[e.name] {
					seen[e.name] = true
					batch = append(batch, e)
				} else {
					rest = append(rest, e)
				}
			}
			group = rest
			if err := enc.Encode(d.document(batch, ns, now)); err != nil {
				return err
			}
		}
	}
	return nil
}

// document is one EMF document: the metrics' values, the properties and
// the dimension values at the root, and the directive in _aws.
func (d *Doc) document(batch []entry, ns string, now time.Time) map[string]any {
	doc := make(map[string]any, len(batch)+len(d.props)+len(d.dims)+1)
	defs := make([]map[string]string, len(batch))
	for i, e := range batch {
		doc[e.name] = e.value
		defs[i] = map[string]string{"Name": e.name, "Unit": string(e.unit)}
	}
	for k, v := range d.props {
		doc[k] = v
	}
	dimNames := make([]string, len(d.dims))
	for i, dv := range d.dims {
		doc[dv[0]] = dv[1]
		dimNames[i] = dv[0]
	}
	sets := [][]string{{}}
	if len(dimNames) > 0 {
		sets = [][]string{dimNames, {}}
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace": ns, "Dimensions": sets, "Metrics": defs,
		}},
	}
	return doc
}

// Sink writes Docs as EMF lines to one writer (standard output in Lambda)
// under one namespace. It is safe for concurrent use: each Write's lines
// reach the writer in one call, whole, never interleaved with another's.
// A nil Sink writes nothing.
type Sink struct {
	mu sync.Mutex
	w  io.Writer
	ns string
}

// NewSink returns a Sink writing to w under namespace ns (Namespace when
// empty); nil when w is nil.
func NewSink(w io.Writer, ns string) *Sink {
	if w == nil {
		return nil
	}
	if ns == "" {
		ns = Namespace
	}
	return &Sink{w: w, ns: ns}
}

// Write writes docs (nil ones skipped) with timestamp now.
func (s *Sink) Write(now time.Time, docs ...*Doc) error {
	if s == nil {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range docs {
		if err := d.encode(enc, s.ns, now); err != nil {
			return err
		}
	}
	if buf.Len() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(buf.Bytes())
	return err
}

type ctxKey struct{}

// NewContext returns ctx carrying d, for the HTTP transport (Transport)
// to record upstream requests into.
func NewContext(ctx context.Context, d *Doc) context.Context {
	return context.WithValue(ctx, ctxKey{}, d)
}

// FromContext returns the Doc ctx carries, nil if none (recording into nil
// does nothing).
func FromContext(ctx context.Context) *Doc {
	d, _ := ctx.Value(ctxKey{}).(*Doc)
	return d
}
