package awsconfig_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/kumotest"
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
			hc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
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
