package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/testkit/kumotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/timebridge/timebridge/shared/edge"
)

// startupEvents are the events of the first invocation: the samples in
// events/ (GET /api/health; a signed webhook for a profile that does not
// exist here, answered 404 after a table lookup; the scheduled tick, which
// finds no profiles) and an empty SQS batch.
var startupEvents = map[string]struct {
	file, inline string
	want         string // in the response payload
}{
	"api":       {file: "api-gateway-v2-request.json", want: `"statusCode":200`},
	"webhook":   {file: "webhook-request.json", want: `"statusCode":404`},
	"scheduler": {file: "scheduled-event.json"},
	"reconcile": {inline: `{"Records":[]}`, want: `batchItemFailures`},
}

// BenchmarkBootstrapStartup measures each function's bootstrap binary: its
// size built as SAM builds it (CGO_ENABLED=0, -tags lambda.norpc, -trimpath,
// -ldflags='-s -w') for linux/arm64, what AWS runs, zipped and unzipped, and
// for the local platform; and, on the local platform, its cold start: from
// starting the process to the answer of its first invocation through kumo's
// Lambda (process exec, Go runtime and package init, configuration, AWS
// clients, the first poll of the runtime API, the handler, the response).
// The function is registered in kumo with the template's environment and
// the table, queues and admin secret exist, as under make dev. The
// invocation is sent right after the process starts and waits in kumo until
// the process polls for it. One iteration is one cold start; the process is
// killed afterwards. init_p50_ms is the median time from process start to
// its first poll of the runtime API (measured by a pass-through proxy in
// front of kumo's runtime API).
//
//	go test -run '^$' -bench BenchmarkBootstrapStartup -benchtime 10x ./shared/devstack/
func BenchmarkBootstrapStartup(b *testing.B) {
	kumotest.KumoOnly(b)
	ctx := context.Background()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	env := kumotest.Start(b)
	tmpl, err := ParseTemplate(filepath.Join(root, "template.yaml"), stackName, region, account)
	if err != nil {
		b.Fatal(err)
	}
	s := &Stack{log: slog.New(slog.DiscardHandler), QueueURLs: map[string]string{}, Template: tmpl,
		URL: "http://127.0.0.1:8080", sqs: env.SQS, lambda: lambda.NewFromConfig(env.Config)}
	if err := s.createTables(ctx, env.DynamoDB); err != nil {
		b.Fatal(err)
	}
	if err := s.createQueues(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.createSecrets(ctx, env.Secrets, Options{AdminPassword: "bench-admin-password"}); err != nil {
		b.Fatal(err)
	}

	kumoURL, err := url.Parse(env.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	proxy := newRuntimeProxy(kumoURL)
	front := httptest.NewServer(proxy)
	b.Cleanup(front.Close)
	runtimeHost := strings.TrimPrefix(front.URL, "http://")

	binDir := b.TempDir()
	for _, f := range tmpl.Functions {
		ev, ok := startupEvents[f.Dir]
		if !ok {
			b.Fatalf("no start-up event for function %s (functions/%s)", f.LogicalID, f.Dir)
		}
		payload := []byte(ev.inline)
		if ev.file != "" {
			if payload, err = os.ReadFile(filepath.Join(root, "events", ev.file)); err != nil {
				b.Fatal(err)
			}
		}
		if f.Dir == "api" {
			payload = withOrigin(b, payload, s.origin)
		}
		arm := filepath.Join(binDir, f.Dir, "linux_arm64", "bootstrap")
		local := filepath.Join(binDir, f.Dir, "local", "bootstrap")
		buildBootstrap(b, root, f.Dir, "linux", "arm64", arm)
		buildBootstrap(b, root, f.Dir, runtime.GOOS, runtime.GOARCH, local)
		zipped, err := zipBootstrap(arm)
		if err != nil {
			b.Fatal(err)
		}
		localZip, err := zipBootstrap(local)
		if err != nil {
			b.Fatal(err)
		}

		name := "bench-" + f.LogicalID
		vars := map[string]string{}
		procEnv := s.env(f)
		for _, kv := range procEnv {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		_, _ = s.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		if _, err := s.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Role: aws.String("arn:aws:iam::" + account + ":role/lambda"), Code: &lambdatypes.FunctionCode{ZipFile: localZip},
			// A short timeout: an invocation lost to a dying process fails
			// the benchmark quickly instead of waiting out the template's.
			Timeout: aws.Int32(10), Environment: &lambdatypes.Environment{Variables: vars},
		}); err != nil {
			b.Fatalf("register %s: %v", name, err)
		}
		procEnv = append(append(os.Environ(), procEnv...),
			"AWS_LAMBDA_RUNTIME_API="+runtimeHost+"/_runtime/"+name,
			"AWS_LAMBDA_FUNCTION_NAME="+name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
		cs := &coldStarter{b: b, lambda: s.lambda, proxy: proxy, bin: local, env: procEnv, name: name, payload: payload, want: ev.want}
		// kumo accepts invocations of a function once a handler has polled
		// for it: one untimed start registers it (and warms the page cache).
		cs.run(true)

		sizes := map[string]float64{
			"arm64_MiB":     mib(fileSize(b, arm)),
			"arm64_zip_MiB": mib(int64(len(zipped))),
			"local_MiB":     mib(fileSize(b, local)),
		}
		b.Run(f.Dir, func(b *testing.B) {
			cs.b = b
			total := make([]time.Duration, 0, b.N)
			initT := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				it, tt := cs.run(false)
				total, initT = append(total, tt), append(initT, it)
			}
			b.StopTimer()
			slices.Sort(total)
			slices.Sort(initT)
			b.ReportMetric(ms(total[(len(total)-1)/2]), "p50_ms")
			b.ReportMetric(ms(total[len(total)-1]), "max_ms")
			b.ReportMetric(ms(initT[(len(initT)-1)/2]), "init_p50_ms")
			for unit, v := range sizes {
				b.ReportMetric(v, unit)
			}
		})
	}
}

// buildBootstrap builds functions/<dir> for goos/goarch as SAM does.
func buildBootstrap(b *testing.B, root, dir, goos, goarch, out string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./functions/"+dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s for %s/%s: %v\n%s", dir, goos, goarch, err, msg)
	}
}

// coldStarter starts one function's bootstrap and invokes it.
type coldStarter struct {
	b       *testing.B
	lambda  *lambda.Client
	proxy   *runtimeProxy
	bin     string
	env     []string
	name    string
	payload []byte
	want    string
}

// run starts the process, invokes the function, checks the answer, kills
// the process and returns the times from the start to the first poll and to
// the answer. Only the start and the invocation are timed. With warmup, the
// invocation is retried until kumo knows a handler for the function.
func (c *coldStarter) run(warmup bool) (initTime, total time.Duration) {
	b := c.b
	b.Helper()
	var out bytes.Buffer
	cmd := exec.Command(c.bin)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c.proxy.arm(c.name)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	res, err := c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(c.name), Payload: c.payload})
	for warmup && err != nil && strings.Contains(err.Error(), "no runtime handler") && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		res, err = c.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(c.name), Payload: c.payload})
	}
	total = time.Since(start)
	b.StopTimer()
	firstPoll := c.proxy.firstPoll(c.name)

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// The killed process's pending poll must be gone from the proxy (and so
	// from kumo) before the next start, or it could take that invocation.
	c.proxy.waitIdle(b, c.name)
	time.Sleep(20 * time.Millisecond)

	switch {
	case err != nil:
		b.Fatalf("invoke %s: %v\nprocess output:\n%s", c.name, err, out.Bytes())
	case res.FunctionError != nil:
		b.Fatalf("invoke %s: function error %s: %s\nprocess output:\n%s", c.name, *res.FunctionError, res.Payload, out.Bytes())
	case c.want != "" && !bytes.Contains(res.Payload, []byte(c.want)):
		b.Fatalf("invoke %s: answer %s lacks %s\nprocess output:\n%s", c.name, res.Payload, c.want, out.Bytes())
	case firstPoll.IsZero():
		b.Fatalf("invoke %s: answered without a poll through the proxy", c.name)
	}
	b.StartTimer()
	return firstPoll.Sub(start), total
}

// runtimeProxy passes the runtime API through to kumo and notes, per
// function, when the first poll after arm arrived and how many polls are
// pending.
type runtimeProxy struct {
	rp *httputil.ReverseProxy

	mu      sync.Mutex
	armed   map[string]bool
	first   map[string]time.Time
	pending map[string]int
}

func newRuntimeProxy(target *url.URL) *runtimeProxy {
	rp := httputil.NewSingleHostReverseProxy(target)
	// A killed process's poll ends in a "context canceled" proxy error.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	return &runtimeProxy{rp: rp, armed: map[string]bool{}, first: map[string]time.Time{}, pending: map[string]int{}}
}

func (p *runtimeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	fn := ""
	if parts := strings.Split(r.URL.Path, "/"); len(parts) > 2 && parts[1] == "_runtime" && strings.HasSuffix(r.URL.Path, "/invocation/next") {
		fn = parts[2]
	}
	if fn != "" {
		p.mu.Lock()
		if p.armed[fn] {
			p.armed[fn], p.first[fn] = false, now
		}
		p.pending[fn]++
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.pending[fn]--
			p.mu.Unlock()
		}()
	}
	p.rp.ServeHTTP(w, r)
}

func (p *runtimeProxy) arm(fn string) {
	p.mu.Lock()
	p.armed[fn], p.first[fn] = true, time.Time{}
	p.mu.Unlock()
}

func (p *runtimeProxy) firstPoll(fn string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first[fn]
}

func (p *runtimeProxy) waitIdle(b *testing.B, fn string) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n := p.pending[fn]
		p.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d polls still pending 5 s after the process was killed", fn, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fileSize(b *testing.B, path string) int64 {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// withOrigin adds what CloudFront sends with every request to an API
// Gateway event, as make dev's front does: the origin secret
// (edge.OriginHeader), without which the API refuses the request, and the
// viewer's address (edge.ViewerHeader).
func withOrigin(b *testing.B, payload []byte, origin string) []byte {
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		b.Fatal(err)
	}
	h, _ := ev["headers"].(map[string]any)
	if h == nil {
		h = map[string]any{}
	}
	h[strings.ToLower(edge.OriginHeader)] = origin
	h[strings.ToLower(edge.ViewerHeader)] = "198.51.100.23"
	ev["headers"] = h
	out, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
