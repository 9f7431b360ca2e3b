// Package kumotest runs integration tests against an AWS emulator.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		env := kumotest.Get(t)          // skips (or fails) without an emulator
//		st := store.New(env.DynamoDB, env.NewTable(t))
//		…
//	}
//
// Run uses the emulator named by AWS_ENDPOINT_URL when that is set (kumo or
// LocalStack started elsewhere). Otherwise it starts the kumo binary — from
// TIMEBRIDGE_KUMO_BIN, or bin/kumo found by walking up from the working
// directory to the repository root (build it with "make kumo") — bound to
// 127.0.0.1 on a free port, in memory (no KUMO_DATA_DIR), and stops it when
// the tests are done. Either way it exports AWS_ENDPOINT_URL, AWS_REGION
// (us-east-1) and test credentials to the test process, so that code under
// test configured through awsconfig.Load reaches the emulator.
//
// The Env's DynamoDB client, and every client made from Env.Config, refuses
// the requests AWS and LocalStack reject but kumo accepts (strict.go:
// unused or undefined expression names and values, reserved words, a
// consistent read on a global index, empty key values), so a suite that
// passes on kumo does not fail on LocalStack for those reasons.
//
// Without an emulator, tests calling Get are skipped with a hint, unless
// TIMEBRIDGE_REQUIRE_KUMO is set (as "make test" and CI do): then Run fails.
package kumotest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamodbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/store"
)

// Environment variables.
const (
	EnvKumoBin     = "TIMEBRIDGE_KUMO_BIN"
	EnvRequireKumo = "TIMEBRIDGE_REQUIRE_KUMO"
	// EnvEmulator names the emulator at AWS_ENDPOINT_URL when it is not
	// kumo ("localstack", as make test-localstack sets it): tests that need
	// kumo itself (its binary, its Lambda runtime) then skip (KumoOnly).
	EnvEmulator = "TIMEBRIDGE_EMULATOR"
)

// Module path of the repository root, used to stop the search for bin/kumo.
const rootModule = "github.com/timebridge/timebridge"

// Env is a running emulator and clients for it.
type Env struct {
	Endpoint string // e.g. http://127.0.0.1:41234
	Region   string
	// Started is true when this process started the emulator.
	Started bool

	Config   aws.Config
	DynamoDB *dynamodb.Client
	Secrets  *secretsmanager.Client
	SQS      *sqs.Client

	proc *process
}

var current struct {
	sync.Mutex
	env    *Env
	reason string // why there is no env
}

// Run starts or finds the emulator, runs setup functions (e.g. to create
// shared tables), runs the tests, stops the emulator if it started it, and
// returns the exit code for os.Exit.
func Run(m *testing.M, setup ...func(ctx context.Context, env *Env) error) int {
	env, err := start(nil)
	if err != nil {
		if required() {
			fmt.Fprintf(os.Stderr, "kumotest: %v\nkumotest: %s is set, so integration tests must run; build the emulator with \"make kumo\"\n", err, EnvRequireKumo)
			return 1
		}
		current.Lock()
		current.reason = err.Error()
		current.Unlock()
		return m.Run()
	}
	defer env.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	for _, fn := range setup {
		if err := fn(ctx, env); err != nil {
			cancel()
			fmt.Fprintf(os.Stderr, "kumotest: setup: %v\n", err)
			return 1
		}
	}
	cancel()
	current.Lock()
	current.env = env
	current.Unlock()
	code := m.Run()
	current.Lock()
	current.env = nil
	current.Unlock()
	if code != 0 && env.proc != nil {
		// The emulator's warnings (panics, refused requests) explain
		// failures that surface as "the database could not be reached".
		fmt.Fprintf(os.Stderr, "kumotest: tests failed%s\n", env.proc.logTail())
	}
	return code
}

// Get returns the Env that Run set up. Without one it skips the test (or
// fails it when TIMEBRIDGE_REQUIRE_KUMO is set); if Run was not used it
// falls back to Start.
func Get(tb testing.TB) *Env {
	tb.Helper()
	current.Lock()
	env, reason := current.env, current.reason
	current.Unlock()
	if env != nil {
		return env
	}
	if reason != "" {
		unavailable(tb, errors.New(reason))
		return nil
	}
	return Start(tb)
}

// Start starts an emulator for one test (or reuses the one Run started) and
// stops it when the test ends. It sets the AWS environment with tb.Setenv,
// so the test must not be parallel; prefer Run in TestMain.
func Start(tb testing.TB) *Env {
	tb.Helper()
	current.Lock()
	env := current.env
	current.Unlock()
	if env != nil {
		return env
	}
	env, err := start(tb)
	if err != nil {
		unavailable(tb, err)
		return nil
	}
	tb.Cleanup(env.stop)
	return env
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if required() {
		tb.Fatalf("kumotest: no AWS emulator: %v (%s is set; run \"make kumo\")", err, EnvRequireKumo)
	}
	tb.Skipf("kumotest: no AWS emulator: %v; run \"make kumo\" to build bin/kumo, or set AWS_ENDPOINT_URL", err)
}

func required() bool {
	v := os.Getenv(EnvRequireKumo)
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// start finds or starts the emulator and sets the environment: with
// os.Setenv when tb is nil (TestMain), else with tb.Setenv.
func start(tb testing.TB) (*Env, error) {
	setenv := os.Setenv
	if tb != nil {
		setenv = func(k, v string) error { tb.Setenv(k, v); return nil }
	}
	env := &Env{}
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" {
		env.Endpoint = ep
		// An emulator started just before the tests (docker run -d …)
		// may not answer yet.
		if err := waitExternal(ep, os.Getenv(EnvEmulator), ExternalWait); err != nil {
			return nil, err
		}
		if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			_ = setenv("AWS_REGION", "us-east-1")
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			_ = setenv("AWS_ACCESS_KEY_ID", "test")
			_ = setenv("AWS_SECRET_ACCESS_KEY", "test")
		}
	} else {
		bin, err := FindBinary()
		if err != nil {
			return nil, err
		}
		p, err := startProcess(bin)
		if err != nil {
			return nil, err
		}
		env.proc, env.Started, env.Endpoint = p, true, p.endpoint
		// Point everything at the emulator we started, whatever the
		// developer's shell says.
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "AWS_ENDPOINT_URL_") || k == "AWS_PROFILE" || k == "AWS_SESSION_TOKEN" ||
				k == "AWS_DEFAULT_REGION" || k == "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" {
				if tb != nil {
					tb.Setenv(k, "")
				}
				_ = os.Unsetenv(k)
			}
		}
		_ = setenv("AWS_ENDPOINT_URL", p.endpoint)
		_ = setenv("AWS_REGION", "us-east-1")
		_ = setenv("AWS_ACCESS_KEY_ID", "test")
		_ = setenv("AWS_SECRET_ACCESS_KEY", "test")
		_ = setenv("AWS_EC2_METADATA_DISABLED", "true")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, opts, err := awsconfig.Load(ctx)
	if err != nil {
		env.stop()
		return nil, err
	}
	// DynamoDB as strict as AWS and LocalStack where kumo is lenient
	// (strict.go); tables are described by a client without the check.
	plain := awsconfig.DynamoDB(cfg)
	cfg.APIOptions = append(slices.Clip(cfg.APIOptions), strictDynamoDB(func(ctx context.Context, table string) (*dynamodbtypes.TableDescription, error) {
		out, err := plain.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return nil, err
		}
		return out.Table, nil
	}))
	env.Config, env.Region = cfg, opts.Region
	env.DynamoDB = awsconfig.DynamoDB(cfg)
	env.Secrets = awsconfig.SecretsManager(cfg)
	env.SQS = awsconfig.SQS(cfg)
	return env, nil
}

// stop stops the emulator if this Env started it.
func (e *Env) stop() {
	if e != nil && e.proc != nil {
		e.proc.stop()
		e.proc = nil
	}
}

// ExternalWait is how long Run waits for an emulator at AWS_ENDPOINT_URL
// to answer.
var ExternalWait = 90 * time.Second

// waitExternal waits until the emulator at endpoint answers: LocalStack
// when its health endpoint says 200, any other emulator when it answers
// HTTP at all.
func waitExternal(endpoint, emulator string, timeout time.Duration) error {
	url, healthy := strings.TrimSuffix(endpoint, "/")+"/", func(int) bool { return true }
	if strings.EqualFold(emulator, "localstack") {
		url, healthy = url+"_localstack/health", func(code int) bool { return code == http.StatusOK }
	}
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		res, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if healthy(res.StatusCode) {
				return nil
			}
			err = fmt.Errorf("%s answers %s", url, res.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no emulator answers at AWS_ENDPOINT_URL=%s within %v (%v); start it first, e.g. docker run -d -p 4566:4566 localstack/localstack:4.14.0", endpoint, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// KumoOnly skips a test that needs kumo itself (its binary or its Lambda
// runtime, as the local stack does) when the tests run against another
// emulator (EnvEmulator).
func KumoOnly(tb testing.TB) {
	tb.Helper()
	if e := os.Getenv(EnvEmulator); e != "" && e != "kumo" {
		tb.Skipf("needs kumo itself (its binary or its Lambda runtime); the emulator here is %s", e)
	}
}

// FindBinary returns the kumo binary: $TIMEBRIDGE_KUMO_BIN, or bin/kumo in
// the working directory or one of its parents up to the repository root.
func FindBinary() (string, error) {
	if p := os.Getenv(EnvKumoBin); p != "" {
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvKumoBin, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "bin", "kumo")
		if isExecutable(p) == nil {
			return p, nil
		}
		if isRepoRoot(dir) {
			return "", fmt.Errorf("%s not found", p)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bin/kumo not found in the working directory or its parents")
		}
		dir = parent
	}
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

var moduleLine = regexp.MustCompile(`(?m)^module\s+(\S+)`)

func isRepoRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	m := moduleLine.FindSubmatch(b)
	return m != nil && string(m[1]) == rootModule
}

// ---- the kumo process ----

type process struct {
	cmd      *exec.Cmd
	endpoint string
	log      *os.File
	exited   chan struct{}
	once     sync.Once
}

// startProcess starts kumo on a free loopback port and waits until it
// answers. A port taken between choosing and binding it is retried.
func startProcess(bin string) (*process, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := tryStart(bin)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStart(bin string) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp("", "kumo-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(filteredEnviron(),
		"KUMO_HOST=127.0.0.1",
		"KUMO_PORT="+strconv.Itoa(port),
		"KUMO_LOG_LEVEL=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.Remove(logf.Name())
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, endpoint: "http://127.0.0.1:" + strconv.Itoa(port), log: logf, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(15 * time.Second); err != nil {
		tail := p.logTail()
		p.stop()
		return nil, fmt.Errorf("%s did not start: %w%s", bin, err, tail)
	}
	return p, nil
}

// filteredEnviron is the environment for kumo: ours without KUMO_* (no
// persistence, no inherited host/port).
func filteredEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUMO_") {
			out = append(out, kv)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *process) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %v", p.cmd.ProcessState)
		default:
		}
		res, err := client.Get(p.endpoint + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s within %v: %w", p.endpoint, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (p *process) logTail() string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil || len(b) == 0 {
		return ""
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\nkumo log:\n" + strings.Join(lines, "\n")
}

// stop terminates kumo (politely, then by force) and removes its log.
func (p *process) stop() {
	p.once.Do(func() {
		if p.cmd.Process != nil {
			_ = terminate(p.cmd.Process)
			select {
			case <-p.exited:
			case <-time.After(3 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
		p.log.Close()
		os.Remove(p.log.Name())
	})
}

// ---- helpers for tests ----

// SQS queue names are the narrowest: letters, digits, - and _ (AWS and
// LocalStack refuse a dot, which kumo accepts), at most 80 characters.
var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// UniqueName returns a name derived from the test name with a random
// suffix, valid as a DynamoDB table, SQS queue or secret name component.
func UniqueName(tb testing.TB) string {
	base := unsafeName.ReplaceAllString(tb.Name(), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.Trim("t-"+base, "-") + "-" + hex.EncodeToString(b[:])
}

// NewTable creates a uniquely named table with store.CreateTable and
// deletes it when the test ends.
func (e *Env) NewTable(tb testing.TB) string {
	tb.Helper()
	name := UniqueName(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.CreateTable(ctx, e.DynamoDB, name); err != nil {
		tb.Fatalf("kumotest: create table %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := e.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			tb.Logf("kumotest: delete table %s: %v", name, err)
		}
	})
	return name
}

// NewStore returns a store.Store on a new table (see NewTable).
func (e *Env) NewStore(tb testing.TB, opts ...store.Option) *store.Store {
	tb.Helper()
	return store.New(e.DynamoDB, e.NewTable(tb), opts...)
}
