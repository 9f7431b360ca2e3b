// Package devstack runs the whole product on one machine (`make dev`):
// kumo (DynamoDB, SQS, Secrets Manager, Lambda) with the resources declared
// in template.yaml, the four real bootstrap binaries running as Lambda
// functions against kumo's runtime API, the glue kumo lacks (SQS → reconcile
// delivery, the schedule tick), an HTTP front on 127.0.0.1:8080 that turns
// requests into API Gateway v2 events, and the Zammad and Kimai simulators
// with demo data. The end-to-end test starts the same stack.
package devstack

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
)

// Options configure a stack. Zero ports pick free ones (tests).
type Options struct {
	Root          string // repository root (template.yaml, functions/, web/dist)
	DataDir       string // kumo state; "" = in memory
	KumoBin       string
	KumoPort      int    // default 4566
	HTTPAddr      string // default 127.0.0.1:8080
	ZammadAddr    string // default 127.0.0.1:8081
	KimaiAddr     string // default 127.0.0.1:8082
	AdminPassword string // "" = generated
	// DemoTickets and DemoEntries size the demo Zammad (defaults 40 and 300).
	DemoTickets, DemoEntries int
	// DemoSpan is the period the demo entries are spread over, ending an
	// hour ago (default 27 days).
	DemoSpan time.Duration
	// Timeouts overrides functions' Lambda timeouts in seconds, by
	// function directory (e.g. "reconcile": 120 makes a long run continue
	// in new invocations sooner than the template's 900 s).
	Timeouts map[string]int
	// ScheduleEvery is the local schedule tick (default: the template's
	// rate, 5 minutes). The first tick fires at start.
	ScheduleEvery time.Duration
	// ProcessesPerFunction runs that many handler processes per function so
	// concurrent requests don't queue behind each other (default 2).
	ProcessesPerFunction int
	Logger               *slog.Logger
	// SimLatency delays every request to the demo Kimai (kimaisim's
	// Latency fault), so a browser test can watch a long run's progress.
	SimLatency time.Duration
	// SimFailCreates makes the demo Kimai answer the first n timesheet
	// creates (POST /api/timesheets, retries included) with a 500 without
	// committing them, so a run ends with failed entries to retry.
	SimFailCreates int
	// Output receives the functions' and kumo's output (default os.Stderr).
	Output io.Writer
}

// Stack is a running local stack.
type Stack struct {
	URL           string // the HTTP front
	KumoURL       string
	ZammadURL     string
	ZammadToken   string
	KimaiURL      string
	KimaiToken    string
	AdminUser     string
	AdminPassword string
	Template      *Template
	QueueURLs     map[string]string // logical id → URL
	Zammad        *zammadsim.Server
	Kimai         *kimaisim.Server

	log    *slog.Logger
	cancel context.CancelFunc
	procs  []*exec.Cmd
	// pids are the handler processes' ids by function directory.
	pids    map[string][]int
	servers []*http.Server
	wg      sync.WaitGroup
	lambda  *lambda.Client
	sqs     *sqs.Client
	// origin is the OriginSecret's value, which the front sends as
	// CloudFront does (edge.OriginHeader).
	origin string
}

const (
	stackName   = "timebridge-local"
	region      = "us-east-1"
	account     = "000000000000"
	demoZammad  = "demo-zammad-token"
	demoKimai   = "demo-kimai-token"
	adminSecret = "AdminSecret"
	// originSecret is the value CloudFront sends to the API; the front
	// plays CloudFront, so the api function checks it locally too.
	originSecret = "OriginSecret"
)

// Start brings the stack up. Close stops everything it started.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Output == nil {
		o.Output = os.Stderr
	}
	if o.KumoPort == 0 {
		o.KumoPort = 4566
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:8080"
	}
	if o.ZammadAddr == "" {
		o.ZammadAddr = "127.0.0.1:8081"
	}
	if o.KimaiAddr == "" {
		o.KimaiAddr = "127.0.0.1:8082"
	}
	if o.ProcessesPerFunction <= 0 {
		o.ProcessesPerFunction = 2
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{log: o.Logger, cancel: cancel, QueueURLs: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	tmpl, err := ParseTemplate(filepath.Join(o.Root, "template.yaml"), stackName, region, account)
	if err != nil {
		return nil, err
	}
	s.Template = tmpl

	// Simulators with demo data, first: the banner points users at them.
	if err := s.startSimulators(o); err != nil {
		return nil, err
	}
	// kumo
	s.KumoURL = fmt.Sprintf("http://127.0.0.1:%d", o.KumoPort)
	if err := s.startKumo(runCtx, o); err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL": s.KumoURL, "AWS_REGION": region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		os.Setenv(k, v)
	}
	cfg, _, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	ddb := awsconfig.DynamoDB(cfg)
	s.sqs = awsconfig.SQS(cfg)
	sm := awsconfig.SecretsManager(cfg)
	s.lambda = lambda.NewFromConfig(cfg)

	if err := s.createTables(ctx, ddb); err != nil {
		return nil, err
	}
	if err := s.createQueues(ctx); err != nil {
		return nil, err
	}
	if err := s.createSecrets(ctx, sm, o); err != nil {
		return nil, err
	}
	// The HTTP front's listener first, so the public URL is known before
	// the functions get their environment.
	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("devstack: listen %s: %w (is another make dev running?)", o.HTTPAddr, err)
	}
	s.URL = "http://" + ln.Addr().String()
	if err := s.startFunctions(ctx, runCtx, o); err != nil {
		ln.Close()
		return nil, err
	}
	front := &http.Server{Handler: s.front(o.Root), ReadHeaderTimeout: 10 * time.Second}
	s.serve(front, ln)
	s.startGlue(runCtx, o)
	return s, nil
}

// Close stops everything the stack started.
func (s *Stack) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if s.Zammad != nil {
		s.Zammad.Close()
	}
	if s.Kimai != nil {
		s.Kimai.Close()
	}
	for i := len(s.procs) - 1; i >= 0; i-- {
		stopProcess(s.procs[i])
	}
	s.wg.Wait()
}

func (s *Stack) serve(srv *http.Server, ln net.Listener) {
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

func (s *Stack) startSimulators(o Options) error {
	now := time.Now().UTC()
	s.Zammad = zammadsim.New()
	span := o.DemoSpan
	if span <= 0 {
		span = 27 * 24 * time.Hour
	}
	demo := s.Zammad.SeedDemo(zammadsim.DemoConfig{Seed: 1, Tickets: o.DemoTickets, Entries: o.DemoEntries, AdminToken: demoZammad,
		Start: now.Add(-span - 24*time.Hour).Truncate(time.Hour), Span: span})
	_ = demo
	s.ZammadToken = demoZammad
	s.Kimai = kimaisim.New()
	s.Kimai.AddUser(kimaisim.User{ID: 1, Username: "timebridge", Email: "timebridge@example.com", Timezone: "Europe/Berlin",
		Roles: []string{kimaisim.RoleSuperAdmin}, Enabled: true}, demoKimai)
	s.KimaiToken = demoKimai
	if f, ok := demoKimaiFaults(o); ok {
		s.Kimai.SetFaults(f)
	}
	for _, x := range []struct {
		addr string
		h    http.Handler
		url  *string
	}{{o.ZammadAddr, s.Zammad.Handler(), &s.ZammadURL}, {o.KimaiAddr, s.Kimai.Handler(), &s.KimaiURL}} {
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			return fmt.Errorf("devstack: listen %s: %w", x.addr, err)
		}
		*x.url = "http://" + ln.Addr().String()
		s.serve(&http.Server{Handler: x.h, ReadHeaderTimeout: 10 * time.Second}, ln)
	}
	return nil
}

// demoKimaiFaults is the demo Kimai's fault spec for SimLatency and
// SimFailCreates; false when neither is set.
func demoKimaiFaults(o Options) (kimaisim.Faults, bool) {
	if o.SimLatency <= 0 && o.SimFailCreates <= 0 {
		return kimaisim.Faults{}, false
	}
	f := kimaisim.Faults{Latency: max(o.SimLatency, 0)}
	if o.SimFailCreates > 0 {
		// Only creates fail; the latency still applies to every request.
		f.ErrorRate, f.Max = 1, o.SimFailCreates
		f.FaultOnly = func(method, path string) bool {
			return method == http.MethodPost && path == "/api/timesheets"
		}
	}
	return f, true
}

func (s *Stack) startKumo(ctx context.Context, o Options) error {
	bin := o.KumoBin
	if bin == "" {
		bin = filepath.Join(o.Root, "bin", "kumo")
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("devstack: kumo binary %s missing: run make kumo", bin)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "KUMO_HOST=127.0.0.1", "KUMO_PORT="+strconv.Itoa(o.KumoPort), "KUMO_LOG_LEVEL=warn")
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, "KUMO_DATA_DIR="+o.DataDir)
	}
	if err := s.spawn(cmd, o.Output, "kumo"); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.KumoURL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devstack: kumo did not start on port %d: %w", o.KumoPort, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Stack) createTables(ctx context.Context, ddb *dynamodb.Client) error {
	for _, t := range s.Template.Tables {
		in := &dynamodb.CreateTableInput{TableName: aws.String(t.Name), BillingMode: ddbtypes.BillingModePayPerRequest}
		names := make([]string, 0, len(t.Attributes))
		for n := range t.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ddbtypes.ScalarAttributeType(t.Attributes[n])})
		}
		in.KeySchema = keySchema(t.HashKey, t.RangeKey)
		for _, ix := range t.Indexes {
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{IndexName: aws.String(ix.Name),
				KeySchema: keySchema(ix.HashKey, ix.RangeKey), Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll}})
		}
		if _, err := ddb.CreateTable(ctx, in); err != nil {
			var inUse *ddbtypes.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("devstack: create table %s: %w", t.Name, err)
			}
			if err := checkIndexes(ctx, ddb, t); err != nil {
				return err
			}
		}
		if t.TTLAttr != "" {
			_, _ = ddb.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(t.Name),
				TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(t.TTLAttr), Enabled: aws.Bool(true)}})
		}
	}
	return nil
}

// checkIndexes compares a table kept from an earlier make dev with the
// template: kumo cannot add an index to an existing table, so a missing one
// is an error that says how to start afresh.
func checkIndexes(ctx context.Context, ddb *dynamodb.Client, t Table) error {
	out, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.Name)})
	if err != nil {
		return fmt.Errorf("devstack: describe table %s: %w", t.Name, err)
	}
	have := map[string]bool{}
	for _, ix := range out.Table.GlobalSecondaryIndexes {
		have[aws.ToString(ix.IndexName)] = true
	}
	var missing []string
	for _, ix := range t.Indexes {
		if !have[ix.Name] {
			missing = append(missing, ix.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("devstack: the local table %s was made from an older template.yaml and lacks index %s, which the emulator cannot add; run \"make dev-reset\" to start with fresh local data",
			t.Name, strings.Join(missing, ", "))
	}
	return nil
}

func keySchema(hash, rng string) []ddbtypes.KeySchemaElement {
	ks := []ddbtypes.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: ddbtypes.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, ddbtypes.KeySchemaElement{AttributeName: aws.String(rng), KeyType: ddbtypes.KeyTypeRange})
	}
	return ks
}

func (s *Stack) createQueues(ctx context.Context) error {
	// Dead-letter queues first: the others point at them.
	qs := append([]Queue(nil), s.Template.Queues...)
	sort.SliceStable(qs, func(i, j int) bool { return qs[i].DeadLetter == "" && qs[j].DeadLetter != "" })
	for _, q := range qs {
		out, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.Name)})
		if err != nil {
			return fmt.Errorf("devstack: create queue %s: %w", q.Name, err)
		}
		s.QueueURLs[q.LogicalID] = aws.ToString(out.QueueUrl)
	}
	return nil
}

func (s *Stack) queueByID(id string) (Queue, bool) {
	for _, q := range s.Template.Queues {
		if q.LogicalID == id {
			return q, true
		}
	}
	return Queue{}, false
}

func (s *Stack) createSecrets(ctx context.Context, sm *secretsmanager.Client, o Options) error {
	for _, sec := range s.Template.Secrets {
		if sec.LogicalID == originSecret {
			s.origin = generatePassword()
			if err := putSecret(ctx, sm, sec.Name, s.origin); err != nil {
				return fmt.Errorf("devstack: origin secret: %w", err)
			}
			continue
		}
		if sec.LogicalID != adminSecret {
			continue
		}
		s.AdminUser = "admin"
		if v := s.Template.Parameters["AdminUsername"]; v != "" {
			s.AdminUser = v
		}
		pw := o.AdminPassword
		if pw == "" {
			pw = os.Getenv("TIMEBRIDGE_ADMIN_PASSWORD")
		}
		if pw == "" {
			pw = generatePassword()
		}
		s.AdminPassword = pw
		value, err := auth.NewAdminSecret(s.AdminUser, pw)
		if err != nil {
			return err
		}
		if err := putSecret(ctx, sm, sec.Name, value); err != nil {
			return fmt.Errorf("devstack: admin secret: %w", err)
		}
	}
	return nil
}

// putSecret creates the secret, or sets its value when it exists (a kumo
// that outlived an earlier stack).
func putSecret(ctx context.Context, sm *secretsmanager.Client, name, value string) error {
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		if _, perr := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)}); perr != nil {
			return perr
		}
	}
	return nil
}

// env is a function's environment on the local stack: the template's
// variables with queue URLs filled in, plus local-only settings.
func (s *Stack) env(f Function) []string {
	vars := map[string]string{}
	for k, v := range f.Env {
		if strings.HasPrefix(v, "queue:") {
			name := strings.TrimPrefix(v, "queue:")
			for _, q := range s.Template.Queues {
				if q.Name == name {
					v = s.QueueURLs[q.LogicalID]
				}
			}
		}
		vars[k] = v
	}
	// Local-only settings override the template's cloud values.
	vars["TIMEBRIDGE_LOCAL_MODE"] = "1"
	vars["TIMEBRIDGE_PUBLIC_URL"] = s.URL
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func (s *Stack) startFunctions(ctx, runCtx context.Context, o Options) error {
	binDir := filepath.Join(o.Root, ".local", "bin")
	for _, f := range s.Template.Functions {
		out := filepath.Join(binDir, f.Dir, "bootstrap")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, "./functions/"+f.Dir)
		build.Dir = o.Root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("devstack: build %s: %w\n%s", f.Dir, err, msg)
		}
		zipped, err := zipBootstrap(out)
		if err != nil {
			return err
		}
		env := s.env(f)
		vars := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		timeout := f.Timeout
		if t, ok := o.Timeouts[f.Dir]; ok {
			timeout = t
		}
		_, _ = s.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(f.LogicalID)})
		_, err = s.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(f.LogicalID), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
			Role: aws.String("arn:aws:iam::" + account + ":role/lambda"), Code: &lambdatypes.FunctionCode{ZipFile: zipped},
			Timeout: aws.Int32(int32(timeout)), Environment: &lambdatypes.Environment{Variables: vars},
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureX8664},
		})
		if err != nil {
			return fmt.Errorf("devstack: register function %s: %w", f.LogicalID, err)
		}
		for i := 0; i < o.ProcessesPerFunction; i++ {
			cmd := exec.Command(out)
			cmd.Env = append(os.Environ(), env...)
			cmd.Env = append(cmd.Env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:"+strconv.Itoa(o.KumoPort)+"/_runtime/"+f.LogicalID,
				"AWS_LAMBDA_FUNCTION_NAME="+f.LogicalID, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST")
			if err := s.spawn(cmd, o.Output, f.Dir); err != nil {
				return err
			}
			if s.pids == nil {
				s.pids = map[string][]int{}
			}
			s.pids[f.Dir] = append(s.pids[f.Dir], cmd.Process.Pid)
		}
	}
	return nil
}

func zipBootstrap(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PIDs are the process ids of a function's handler processes (by its
// directory under functions/).
func (s *Stack) PIDs(dir string) []int { return s.pids[dir] }

// spawn starts a child process in its own process group, prefixing its
// output, and kills the group when the stack closes.
func (s *Stack) spawn(cmd *exec.Cmd, out io.Writer, name string) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	pw := &prefixWriter{prefix: "[" + name + "] ", w: out}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("devstack: start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
