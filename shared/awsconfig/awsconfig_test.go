package awsconfig_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// isolate clears the AWS environment of the test (the emulator's included)
// and sets static credentials.
func isolate(t *testing.T) {
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantEndpoint string
		wantDDBFix   bool
		wantIdle     time.Duration
	}{
		{"aws", nil, "", false, awsconfig.IdleConnTimeout},
		{"global override", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, "http://127.0.0.1:4566", true, awsconfig.EmulatorIdleConnTimeout},
		{"dynamodb override only", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:4566"}, "", true, awsconfig.EmulatorIdleConnTimeout},
		{"sqs override only", map[string]string{"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4566"}, "", false, awsconfig.EmulatorIdleConnTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, opts, err := awsconfig.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if opts.Region != "eu-central-1" || cfg.Region != "eu-central-1" {
				t.Errorf("region = %q", opts.Region)
			}
			if opts.Endpoint != tc.wantEndpoint || opts.Emulated() != (tc.wantEndpoint != "") {
				t.Errorf("endpoint = %q", opts.Endpoint)
			}
			if got := awsconfig.DynamoDB(cfg).Options().DisableValidateResponseChecksum; got != tc.wantDDBFix {
				t.Errorf("DisableValidateResponseChecksum = %v, want %v", got, tc.wantDDBFix)
			}
			hc, ok := cfg.HTTPClient.(awsconfig.HTTPClient)
			if !ok || hc.GetTimeout() != awsconfig.RequestTimeout {
				t.Errorf("http client = %T", cfg.HTTPClient)
			}
			if hc.GetTransport().ResponseHeaderTimeout != awsconfig.ResponseHeaderTimeout {
				t.Errorf("response header timeout = %v", hc.GetTransport().ResponseHeaderTimeout)
			}
			if got := hc.GetTransport().IdleConnTimeout; got != tc.wantIdle {
				t.Errorf("idle connection timeout = %v, want %v", got, tc.wantIdle)
			}
			if r := cfg.Retryer(); r.MaxAttempts() != 3 {
				t.Errorf("retryer max attempts = %d", r.MaxAttempts())
			}
			if awsconfig.SecretsManager(cfg) == nil || awsconfig.SQS(cfg) == nil {
				t.Error("nil client")
			}
		})
	}
}

func TestLoadWithoutRegion(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_REGION", "")
	os.Unsetenv("AWS_REGION")
	if _, _, err := awsconfig.Load(context.Background()); err == nil {
		t.Fatal("no error without a region")
	}
}

func TestEndpointFromEnv(t *testing.T) {
	isolate(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://global")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm")
	if got := awsconfig.EndpointFromEnv("Secrets Manager"); got != "http://sm" {
		t.Errorf("secrets manager = %q", got)
	}
	if got := awsconfig.EndpointFromEnv("DynamoDB"); got != "http://global" {
		t.Errorf("dynamodb = %q", got)
	}
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
	if got := awsconfig.EndpointFromEnv("DynamoDB"); got != "" {
		t.Errorf("ignored = %q", got)
	}
}

func TestIsQueueNotFound(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&sqstypes.QueueDoesNotExist{}, true},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}), true},
		{&smithy.GenericAPIError{Code: "QueueDoesNotExist"}, true},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, false},
		{errors.New("QueueDoesNotExist"), false},
	}
	for _, tc := range tests {
		if got := awsconfig.IsQueueNotFound(tc.err); got != tc.want {
			t.Errorf("IsQueueNotFound(%v) = %v", tc.err, got)
		}
	}
}

// Against the emulator: a missing queue is recognised whatever code it uses,
// and DynamoDB answers without checksum complaints.
func TestEmulatorClients(t *testing.T) {
	env := kumotest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := env.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(kumotest.UniqueName(t))})
	if !awsconfig.IsQueueNotFound(err) {
		t.Fatalf("missing queue: %v", err)
	}
	if !env.DynamoDB.Options().DisableValidateResponseChecksum {
		t.Fatal("checksum validation not disabled against the emulator")
	}
}

// TestEmulatorClosesUnusedConnections checks the assumption behind
// EmulatorIdleConnTimeout: kumo closes a connection that carried no request
// after about 10 s, so the client must drop idle connections earlier. If
// kumo's limit ever drops below the client's, this fails instead of a rare
// "database could not be reached" in another package's test.
func TestEmulatorClosesUnusedConnections(t *testing.T) {
	env := kumotest.Get(t)
	if !env.Started {
		t.Skip("the limit is kumo's; another emulator is in use")
	}
	t.Parallel()
	u, err := url.Parse(env.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(30 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	held := time.Since(start)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read on an unused connection: %v after %v, want EOF (kumo closing it)", err, held)
	}
	if held < 2*awsconfig.EmulatorIdleConnTimeout {
		t.Errorf("kumo closed an unused connection after %v; EmulatorIdleConnTimeout (%v) must stay well below that", held, awsconfig.EmulatorIdleConnTimeout)
	}
}

// TestRequestBodyClosedEarly stages the race HTTPClient guards against: a
// request larger than net/http's write buffer reaches the server in full,
// the server answers at once (its body slowly), the SDK closes the request
// body as soon as Do returns, and only then does the transport's write loop
// read the body once more to check that nothing is left. The SDK's client
// alone closed the connection under the response here ("use of closed
// network connection"); HTTPClient must not.
func TestRequestBodyClosedEarly(t *testing.T) {
	headersRead := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body := `{"Attributes":{"pad":{"S":"` + strings.Repeat("x", 8<<10) + `"}}}`
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = io.WriteString(w, body[:10])
		w.(http.Flusher).Flush()
		select { // the rest once the write loop has had its chance
		case <-headersRead:
			time.Sleep(300 * time.Millisecond)
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, body[10:])
	}))
	defer srv.Close()

	hc := awsconfig.NewHTTPClient()
	hc.BuildableClient = hc.WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallingConn{Conn: c, headersRead: headersRead, release: make(chan struct{})}, nil
		}
	})
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials:                     credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		DisableValidateResponseChecksum: true,
	})
	_, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String("t"),
		Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: strings.Repeat("p", 64<<10)}}})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
}

// stallingConn holds the write loop once the whole request has been sent,
// until the response headers arrived and the SDK had time to close the
// request body.
type stallingConn struct {
	net.Conn
	headersRead chan struct{}
	sent        bytes.Buffer // written by the write loop only
	release     chan struct{}
	once        sync.Once
}

func (c *stallingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Write(p[:n])
	head, body, ok := bytes.Cut(c.sent.Bytes(), []byte("\r\n\r\n"))
	if m := regexp.MustCompile(`(?i)\r\ncontent-length: (\d+)`).FindSubmatch(head); ok && m != nil {
		if cl, _ := strconv.Atoi(string(m[1])); len(body) >= cl {
			select {
			case <-c.release:
			case <-time.After(5 * time.Second):
			}
		}
	}
	return n, err
}

func (c *stallingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && bytes.HasPrefix(p[:n], []byte("HTTP/1.1 ")) {
		c.once.Do(func() {
			close(c.headersRead)
			time.AfterFunc(100*time.Millisecond, func() { close(c.release) })
		})
	}
	return n, err
}
