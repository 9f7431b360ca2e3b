package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/testkit/kumotest"

	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/testkit/devstack"
)

var (
	loadDuration   = flag.Duration("load.duration", 60*time.Second, "BenchmarkLoad: how long deliveries and reads are sent")
	loadDeliveries = flag.Int("load.deliveries", 50, "BenchmarkLoad: signed webhook deliveries per second")
	loadReads      = flag.Int("load.reads", 20, "BenchmarkLoad: console API reads per second")
	loadTickets    = flag.Int("load.tickets", 500, "BenchmarkLoad: tickets the deliveries are spread over")
	loadLatency    = flag.Duration("load.latency", 10*time.Millisecond, "BenchmarkLoad: latency of every Zammad and Kimai request")
	loadSettle     = flag.Duration("load.settle", 15*time.Minute, "BenchmarkLoad: how long Kimai may take to catch up after the load")
)

// BenchmarkLoad drives make dev's stack (kumo, the four real function
// binaries, the SQS and schedule glue, the HTTP front that plays CloudFront)
// only over HTTP, as Zammad and an admin would: after a first full sync of
// -load.tickets tickets, for -load.duration it sends -load.deliveries
// signed webhook deliveries per second (open loop: a slow answer does not
// slow the sender), each after a change in Zammad to a random ticket (an
// entry added, edited or deleted; one in twenty is a redelivery of an
// earlier delivery id with no change), while the console reads runs,
// conflicts, the audit log and profiles -load.reads times per second. Both
// simulators answer after -load.latency.
//
// Then it waits until Kimai holds exactly the Zammad state of every entry
// the load touched and no run is queued or running, and reports: webhook
// ack latency (p50/p95/p99 at the client), read latency, runs queued (202)
// against deliveries coalesced and duplicates, runs executed, the time from
// the last change in Zammad until Kimai had all changes, Kimai requests per
// changed entry, and errors (any 5xx or unexpected status, failed run or
// dead-lettered message; the benchmark fails on any).
//
// One iteration is the whole scenario (-benchtime=1x):
//
//	go test -run '^$' -bench BenchmarkLoad -benchtime=1x -timeout 30m ./shared/devstack/
func BenchmarkLoad(b *testing.B) {
	root, bin := stackBench(b)
	for range b.N {
		runLoad(b, root, bin)
	}
}

func runLoad(b *testing.B, root, bin string) {
	b.StopTimer()
	ctx := context.Background()
	logs := &levelCounter{}
	s, err := devstack.Start(ctx, devstack.Options{Root: root, KumoBin: bin, KumoPort: freePort(b),
		HTTPAddr: "127.0.0.1:0", ZammadAddr: "127.0.0.1:0", KimaiAddr: "127.0.0.1:0", AdminPassword: "load-password-1",
		DemoTickets: *loadTickets, DemoEntries: 2 * *loadTickets, ScheduleEvery: time.Hour, Output: logs})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	c, prof := newProfile(b, s)
	first := time.Now()
	run := c.runAndWaitFor(prof.ID, map[string]any{"mode": "full"}, 10*time.Minute)
	if run.Counts.Errors != 0 || run.Counts.Created == 0 {
		b.Fatalf("first full run %+v", run)
	}
	b.Logf("first full sync: %d timesheets created for %d entries over %d tickets in %v", run.Counts.Created, len(s.Zammad.Entries()),
		*loadTickets, time.Since(first).Round(time.Millisecond))

	s.Zammad.SetFaults(zammadsim.Faults{Latency: *loadLatency})
	s.Kimai.SetFaults(kimaisim.Faults{Latency: *loadLatency})
	kimaiBefore := total(s.Kimai.Requests())
	zammadBefore := total(s.Zammad.Requests())

	w := newWorkload(s, prof.WebhookURL, prof.WebhookSecret)
	reads := []string{"/api/runs?profile_id=" + prof.ID + "&limit=50", "/api/conflicts?status=open", "/api/audit?profile_id=" + prof.ID + "&limit=50",
		"/api/profiles", "/api/profiles/" + prof.ID, "/api/runs?limit=20"}
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	openLoop(&wg, stop, *loadDeliveries, func(i int) { w.deliver(i) })
	openLoop(&wg, stop, *loadReads, func(i int) { w.read(c.token, reads[i%len(reads)]) })
	time.Sleep(*loadDuration)
	close(stop)
	wg.Wait()
	sent := time.Since(start)

	// Kimai has caught up when every entry the load touched is there as
	// Zammad has it (and the deleted ones are gone).
	var converged time.Time
	deadline := time.Now().Add(*loadSettle)
	for {
		if missing := w.diff(); len(missing) == 0 {
			converged = time.Now()
			break
		} else if time.Now().After(deadline) {
			runs := c.settledRuns(prof.ID, 0)
			byStatus := map[string]int{}
			for _, r := range runs {
				byStatus[r.Trigger+"/"+r.Status]++
			}
			b.Fatalf("Kimai still differs from Zammad in %d entries %v after the load (e.g. %.10q); runs %v; function logs %s",
				len(missing), *loadSettle, missing, byStatus, logs.counts())
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.StopTimer()
	runs := c.settledRuns(prof.ID, 15*time.Minute)
	kimaiReqs := total(s.Kimai.Requests()) - kimaiBefore
	zammadReqs := total(s.Zammad.Requests()) - zammadBefore
	dead := c.deadLetters(s)

	w.mu.Lock()
	defer w.mu.Unlock()
	slices.Sort(w.acks)
	slices.Sort(w.readLat)
	byStatus := map[string]int{}
	finished, executed, failed := 0, 0, 0
	for _, r := range runs {
		if r.Trigger != "webhook" {
			continue
		}
		byStatus[r.Status]++
		finished++
		if r.MergedInto == "" {
			executed++ // carried out its own work (and maybe other runs')
		}
		if r.Status == "failed" || r.Counts.Errors > 0 {
			failed++
		}
	}
	changed := len(w.touched)
	b.ReportMetric(float64(len(w.acks))/sent.Seconds(), "deliveries/s")
	b.ReportMetric(ms(pct(w.acks, 50)), "ack-p50-ms")
	b.ReportMetric(ms(pct(w.acks, 95)), "ack-p95-ms")
	b.ReportMetric(ms(pct(w.acks, 99)), "ack-p99-ms")
	b.ReportMetric(ms(pct(w.readLat, 50)), "read-p50-ms")
	b.ReportMetric(ms(pct(w.readLat, 95)), "read-p95-ms")
	b.ReportMetric(float64(w.answers["queued"]), "runs-queued")
	b.ReportMetric(float64(w.answers["coalesced"]), "coalesced")
	b.ReportMetric(float64(w.answers["duplicate"]), "duplicates")
	b.ReportMetric(float64(executed), "runs-executed")
	b.ReportMetric(converged.Sub(w.lastChange).Seconds(), "s-to-last-change")
	b.ReportMetric(float64(kimaiReqs)/float64(changed), "kimai-req/changed")
	b.ReportMetric(float64(zammadReqs)/float64(executed), "zammad-req/run")
	b.ReportMetric(float64(w.errors+failed+dead), "errors")
	b.Logf("%d deliveries in %v (%v), %d reads; %d entries changed; webhook runs by status %v, %d carried out by others; log levels %v",
		len(w.acks), sent.Round(time.Millisecond), w.answers, len(w.readLat), changed, byStatus, finished-executed, logs.counts())
	for _, e := range w.errorSamples {
		b.Log(e)
	}
	if w.errors+failed+dead > 0 {
		b.Fatalf("%d request errors, %d failed webhook runs, %d dead-lettered messages", w.errors, failed, dead)
	}
	if finished != w.answers["queued"] {
		b.Fatalf("%d webhook runs queued, %d finished", w.answers["queued"], finished)
	}
}

// openLoop calls f perRate times a second on its own goroutine each, until
// stop closes, however long each call takes.
// stackBench returns the repository root and the kumo binary for a
// benchmark that starts make dev's stack (skipped without kumo).
func stackBench(b *testing.B) (root, bin string) {
	kumotest.KumoOnly(b)
	root, _ = filepath.Abs(filepath.Join("..", "..", ".."))
	bin = os.Getenv("TIMEBRIDGE_KUMO_BIN")
	if bin == "" {
		bin = filepath.Join(root, "bin", "kumo")
	}
	if _, err := os.Stat(bin); err != nil {
		b.Skip("kumo binary missing: run make kumo")
	}
	return root, bin
}

// profileView is what the benchmarks use of a created profile.
type profileView struct {
	ID            string `json:"id"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret"`
}

// newProfile logs in as the admin, adds the stack's Zammad and Kimai as
// connectors and creates an enabled profile that auto-creates customers,
// projects and activities.
func newProfile(b *testing.B, s *devstack.Stack) (*client, profileView) {
	c := &client{t: b, base: s.URL}
	var login struct{ Token string }
	c.do("POST", "/api/auth/login", map[string]string{"username": "admin", "password": "load-password-1"}, 200, &login)
	c.token = login.Token
	var zc, kc struct{ ID string }
	c.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "Zammad", "base_url": s.ZammadURL, "token": s.ZammadToken}, 201, &zc)
	c.do("POST", "/api/connectors", map[string]any{"kind": "kimai", "name": "Kimai", "base_url": s.KimaiURL, "token": s.KimaiToken}, 201, &kc)
	var prof profileView
	c.do("POST", "/api/profiles", map[string]any{"name": "Support", "zammad_connector_id": zc.ID, "kimai_connector_id": kc.ID,
		"enabled": true, "auto_create_customers": true, "auto_create_projects": true, "auto_create_activities": true}, 201, &prof)
	return c, prof
}

func openLoop(wg *sync.WaitGroup, stop <-chan struct{}, perSecond int, f func(i int)) {
	if perSecond <= 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second / time.Duration(perSecond))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
				wg.Add(1)
				go func() { defer wg.Done(); f(i) }()
			}
		}
	}()
}

// workload changes Zammad and sends the deliveries; it remembers every
// entry it touched to compare with Kimai afterwards.
type workload struct {
	s              *devstack.Stack
	url, secret    string
	tickets        []zammadsim.Ticket
	agents, types  []int64
	http           *http.Client
	deliverySerial atomic.Int64

	mu           sync.Mutex
	rng          *rand.Rand
	ours         map[int64][]int64 // ticket → live entries the load added
	touched      map[int64]bool    // entry → alive
	delivered    []string
	lastChange   time.Time
	acks         []time.Duration
	readLat      []time.Duration
	answers      map[string]int
	errors       int
	errorSamples []string
}

func newWorkload(s *devstack.Stack, url, secret string) *workload {
	w := &workload{s: s, url: url, secret: secret, tickets: s.Zammad.Tickets(), rng: rand.New(rand.NewPCG(1, 2)),
		ours: map[int64][]int64{}, touched: map[int64]bool{}, answers: map[string]int{},
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}}
	agents, types := map[int64]bool{}, map[int64]bool{}
	for _, e := range s.Zammad.Entries() {
		agents[e.CreatedByID] = true
		if e.TypeID != 0 {
			types[e.TypeID] = true
		}
	}
	for id := range agents {
		w.agents = append(w.agents, id)
	}
	for id := range types {
		w.types = append(w.types, id)
	}
	slices.Sort(w.agents)
	slices.Sort(w.types)
	return w
}

// deliver makes one change (or picks a redelivery) and sends its delivery.
func (w *workload) deliver(i int) {
	w.mu.Lock()
	t := w.tickets[w.rng.IntN(len(w.tickets))]
	var delivery string
	if len(w.delivered) > 0 && w.rng.IntN(20) == 0 {
		delivery = w.delivered[w.rng.IntN(len(w.delivered))]
	} else {
		delivery = fmt.Sprintf("load-%d", w.deliverySerial.Add(1))
		w.delivered = append(w.delivered, delivery)
		mine := w.ours[t.ID]
		minutes := decimal.MustParse(fmt.Sprint(1 + w.rng.IntN(90)))
		switch op := w.rng.IntN(10); {
		case op < 3 && len(mine) > 0: // edit
			id := mine[w.rng.IntN(len(mine))]
			w.s.Zammad.UpdateEntry(id, func(e *zammadsim.Entry) { e.TimeUnit = minutes })
		case op == 3 && len(mine) > 0: // delete
			k := w.rng.IntN(len(mine))
			w.s.Zammad.DeleteEntry(mine[k])
			w.touched[mine[k]] = false
			w.ours[t.ID] = slices.Delete(mine, k, k+1)
		default: // add
			e := w.s.Zammad.AddEntry(zammadsim.Entry{TicketID: t.ID, CreatedByID: w.agents[w.rng.IntN(len(w.agents))],
				TypeID: w.types[w.rng.IntN(len(w.types))], TimeUnit: minutes})
			w.ours[t.ID] = append(mine, e.ID)
			w.touched[e.ID] = true
		}
		w.lastChange = time.Now()
	}
	w.mu.Unlock()

	body := w.s.Zammad.WebhookPayload(t.ID)
	req, _ := http.NewRequest("POST", w.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Zammad User Agent")
	req.Header.Set("X-Zammad-Trigger", "Timebridge")
	req.Header.Set("X-Zammad-Delivery", delivery)
	req.Header.Set("X-Hub-Signature", zammadsim.Sign(w.secret, body))
	status, data, lat, err := w.call(req)
	var answer struct{ Status string }
	_ = json.Unmarshal(data, &answer)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.acks = append(w.acks, lat)
	switch {
	case err != nil:
		w.fail(fmt.Sprintf("delivery %s: %v", delivery, err))
	case status == http.StatusAccepted && answer.Status == "queued",
		status == http.StatusOK && (answer.Status == "coalesced" || answer.Status == "duplicate"):
		w.answers[answer.Status]++
	default:
		w.fail(fmt.Sprintf("delivery %s: %d %.200s", delivery, status, data))
	}
}

// call sends req and returns the answer's status and body, and how long
// the answer (its headers) took.
func (w *workload) call(req *http.Request) (status int, body []byte, latency time.Duration, err error) {
	start := time.Now()
	resp, err := w.http.Do(req)
	latency = time.Since(start)
	if err != nil {
		return 0, nil, latency, err
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, body, latency, nil
}

// read is one console read.
func (w *workload) read(token, path string) {
	req, _ := http.NewRequest("GET", w.s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	status, data, lat, err := w.call(req)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readLat = append(w.readLat, lat)
	switch {
	case err != nil:
		w.fail(fmt.Sprintf("GET %s: %v", path, err))
	case status != http.StatusOK:
		w.fail(fmt.Sprintf("GET %s: %d %.200s", path, status, data))
	}
}

func (w *workload) fail(msg string) {
	w.errors++
	if len(w.errorSamples) < 10 {
		w.errorSamples = append(w.errorSamples, msg)
	}
}

// diff counts the touched entries whose Kimai state differs from Zammad's:
// a live entry needs exactly one timesheet of its duration, a deleted one
// none.
func (w *workload) diff() []string {
	sheets := map[int64][]kimaisim.Sheet{}
	for _, sh := range w.s.Kimai.Sheets() {
		if _, id, ok := plan.ParseMarker(sh.Description); ok {
			sheets[id] = append(sheets[id], sh)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var missing []string
	for id, alive := range w.touched {
		got := sheets[id]
		if !alive {
			if len(got) != 0 {
				missing = append(missing, fmt.Sprintf("deleted entry %d has %d timesheets", id, len(got)))
			}
			continue
		}
		e, ok := w.s.Zammad.Entry(id)
		secs, _ := e.TimeUnit.Seconds()
		if !ok || len(got) != 1 || got[0].Duration != secs {
			missing = append(missing, fmt.Sprintf("entry %d of ticket %d (%d s): %d timesheets", id, e.TicketID, secs, len(got)))
		}
	}
	slices.Sort(missing)
	return missing
}

// settledRuns waits until no run of the profile is queued or running and
// returns them all.
func (c *client) settledRuns(profileID string, within time.Duration) []runView {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var all []runView
		cursor := ""
		for {
			var page struct {
				Items      []runView `json:"items"`
				NextCursor string    `json:"next_cursor"`
			}
			c.do("GET", "/api/runs?profile_id="+profileID+"&limit=200&cursor="+cursor, nil, 200, &page)
			all = append(all, page.Items...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		open := 0
		for _, r := range all {
			if r.Status == "queued" || r.Status == "running" {
				open++
			}
		}
		if open == 0 || !time.Now().Before(deadline) {
			if open > 0 && within > 0 {
				c.t.Fatalf("%d runs still queued or running", open)
			}
			return all
		}
		time.Sleep(time.Second)
	}
}

// deadLetters counts the messages in the dead-letter queues.
func (c *client) deadLetters(s *devstack.Stack) int {
	c.t.Helper()
	n := 0
	for _, q := range s.Template.Queues {
		if q.DeadLetter == "" {
			continue
		}
		got, err := s.QueueDepth(context.Background(), q.DeadLetter)
		if err != nil {
			c.t.Fatal(err)
		}
		n += got
	}
	return n
}

func (c *client) runAndWaitFor(profileID string, body map[string]any, within time.Duration) runView {
	c.t.Helper()
	var acc struct{ ID, Status string }
	c.do("POST", "/api/profiles/"+profileID+"/runs", body, 202, &acc)
	deadline := time.Now().Add(within)
	for {
		var r runView
		c.do("GET", "/api/runs/"+acc.ID, nil, 200, &r)
		switch r.Status {
		case "succeeded", "partial":
			return r
		case "failed":
			c.t.Fatalf("run %s failed: %+v", acc.ID, r.Error)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s still %s after %v", acc.ID, r.Status, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[(len(sorted)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// levelCounter takes the stack's output and counts the functions' JSON log
// lines by level, keeping nothing else (a load run writes a lot).
type levelCounter struct {
	mu     sync.Mutex
	byLvl  map[string]int
	sample []string
	rest   []byte
}

func (l *levelCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byLvl == nil {
		l.byLvl = map[string]int{}
	}
	data := append(l.rest, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := string(data[:i])
		data = data[i+1:]
		_, rest, ok := strings.Cut(line, "] {")
		if !ok {
			continue
		}
		var ev struct{ Level, Msg string }
		if json.Unmarshal([]byte("{"+rest), &ev) == nil {
			l.byLvl[ev.Level]++
			if ev.Level != "INFO" || strings.Contains(ev.Msg, "busy") {
				l.byLvl[ev.Msg]++
			}
			if ev.Level == "ERROR" && len(l.sample) < 5 {
				l.sample = append(l.sample, line)
			}
		}
	}
	l.rest = append(l.rest[:0], data...)
	return len(p), nil
}

func (l *levelCounter) counts() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%v %q", l.byLvl, l.sample)
}
