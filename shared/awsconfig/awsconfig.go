// Package awsconfig is the one place that builds the AWS SDK configuration and
// clients for Timebridge.
//
// Configuration comes only from the SDK's standard sources (environment,
// shared config files, the Lambda execution role), so the same binary talks
// to real AWS, to LocalStack or to kumo depending on the environment alone:
//
//	AWS_ENDPOINT_URL=http://127.0.0.1:4566   # kumo or LocalStack; unset for AWS
//	AWS_ENDPOINT_URL_DYNAMODB=…              # per-service overrides also work
//	AWS_REGION=us-east-1
//	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
//
// The constructors apply emulator workarounds only when an endpoint override
// is active for that client, so nothing changes against real AWS:
//
//   - DynamoDB: kumo sends no X-Amz-Crc32 header, so response checksum
//     validation is disabled (otherwise every response logs a mismatch).
//
//   - SQS: kumo reports a missing queue as
//     "AWS.SimpleQueueService.NonExistentQueue" instead of the modelled
//     QueueDoesNotExist error; use IsQueueNotFound instead of errors.As.
//
//   - Idle connections: kumo closes a connection that has carried no
//     request for 10 s (its server's ReadHeaderTimeout). The transport keeps
//     such connections: one dialed for a request that another connection
//     then served waits in the idle pool. A POST sent on it just as kumo
//     closes it fails, and the SDK's retries can take its siblings dialed in
//     the same burst. With an endpoint override in the environment, idle
//     connections are therefore dropped after EmulatorIdleConnTimeout.
//
// Every client shares one HTTP client (HTTPClient) with connect, TLS and
// response-header timeouts, and the SDK's standard retryer (AWS_MAX_ATTEMPTS
// and AWS_RETRY_MODE still apply).
package awsconfig

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Timeouts of the shared HTTP client. ResponseHeaderTimeout must exceed the
// longest SQS long poll (20 s).
const (
	DialTimeout           = 5 * time.Second
	TLSHandshakeTimeout   = 5 * time.Second
	ResponseHeaderTimeout = 30 * time.Second
	RequestTimeout        = 60 * time.Second
	IdleConnTimeout       = 90 * time.Second
	// EmulatorIdleConnTimeout replaces IdleConnTimeout when an endpoint
	// override is set: well below kumo's 10 s limit for a connection that
	// carries no request.
	EmulatorIdleConnTimeout = 4 * time.Second
)

// Options describes what Load found.
type Options struct {
	// Region is the resolved region.
	Region string
	// Endpoint is the global endpoint override (AWS_ENDPOINT_URL or the
	// shared config's endpoint_url), "" when the SDK resolves AWS endpoints.
	// Per-service overrides (AWS_ENDPOINT_URL_<SERVICE>) are honoured by the
	// constructors as well; see Emulated.
	Endpoint string
}

// Emulated reports whether a global endpoint override is active, i.e. the
// process talks to kumo or LocalStack rather than AWS.
func (o Options) Emulated() bool { return o.Endpoint != "" }

// Load reads the standard SDK configuration. It fails when no region is
// configured, because every Timebridge client is regional.
func Load(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, Options, error) {
	idle := IdleConnTimeout
	for _, svc := range []string{"DynamoDB", "SQS", "Secrets Manager"} {
		if EndpointFromEnv(svc) != "" {
			idle = EmulatorIdleConnTimeout
		}
	}
	fns := []func(*config.LoadOptions) error{
		config.WithHTTPClient(newHTTPClient(idle).BuildableClient),
		config.WithRetryer(func() aws.Retryer { return retry.NewStandard() }),
	}
	fns = append(fns, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, fns...)
	if err != nil {
		return aws.Config{}, Options{}, err
	}
	if cfg.Region == "" {
		return aws.Config{}, Options{}, errors.New("awsconfig: no AWS region configured (set AWS_REGION)")
	}
	// Wrapped only now: the SDK adds a custom CA bundle (AWS_CA_BUNDLE) to
	// its own client type alone.
	if b, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = HTTPClient{b}
	}
	opts := Options{Region: cfg.Region}
	if cfg.BaseEndpoint != nil {
		opts.Endpoint = *cfg.BaseEndpoint
	}
	return cfg, opts, nil
}

// HTTPClient is the HTTP client every AWS client uses: the SDK's buildable
// client with bounded dial, TLS, response-header and overall request times,
// whose requests hand net/http a body it can only Read.
//
// Why: the SDK wraps a request body in a "safe" reader that it closes as
// soon as the response arrives, and whose WriteTo then returns io.EOF.
// net/http's transport, after sending Content-Length bytes, reads the body
// once more to check that nothing is left, and uses WriteTo when the body
// has one. When the response came first (a fast server, a busy CPU), that
// late io.EOF counts as a failed request write, and the transport closes
// the connection under the response the SDK is still reading: "deserialization
// failed … use of closed network connection" (aws-sdk-go-v2 issues 1825,
// 2737). It struck the same request on every retry in tests on two cores.
// Through Read, a closed body reports a clean end instead.
type HTTPClient struct{ *awshttp.BuildableClient }

// Do sends r with its body reduced to Read and Close.
func (c HTTPClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloser{r.Body}
	}
	return c.BuildableClient.Do(r)
}

// readCloser hides every method of a body but Read and Close.
type readCloser struct{ io.ReadCloser }

// NewHTTPClient returns the HTTPClient with the default timeouts.
func NewHTTPClient() HTTPClient { return newHTTPClient(IdleConnTimeout) }

func newHTTPClient(idle time.Duration) HTTPClient {
	return HTTPClient{awshttp.NewBuildableClient().
		WithTimeout(RequestTimeout).
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = DialTimeout
			d.KeepAlive = 30 * time.Second
		}).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = TLSHandshakeTimeout
			tr.ResponseHeaderTimeout = ResponseHeaderTimeout
			tr.IdleConnTimeout = idle
			tr.MaxIdleConnsPerHost = 32
		})}
}

// DynamoDB returns a DynamoDB client for cfg. With an endpoint override
// (kumo, LocalStack) it disables CRC32 response validation.
func DynamoDB(cfg aws.Config, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	fns := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		// BaseEndpoint is resolved (global or AWS_ENDPOINT_URL_DYNAMODB)
		// before the option functions run.
		if o.BaseEndpoint != nil && *o.BaseEndpoint != "" {
			o.DisableValidateResponseChecksum = true
		}
	}}, optFns...)
	return dynamodb.NewFromConfig(cfg, fns...)
}

// SecretsManager returns a Secrets Manager client for cfg.
func SecretsManager(cfg aws.Config, optFns ...func(*secretsmanager.Options)) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, optFns...)
}

// SQS returns an SQS client for cfg. Classify a missing queue with
// IsQueueNotFound, which also understands kumo's error code.
func SQS(cfg aws.Config, optFns ...func(*sqs.Options)) *sqs.Client {
	return sqs.NewFromConfig(cfg, optFns...)
}

// IsQueueNotFound reports whether err says the SQS queue does not exist, on
// AWS (QueueDoesNotExist) and on emulators that use the older
// AWS.SimpleQueueService.NonExistentQueue code.
func IsQueueNotFound(err error) bool {
	if err == nil {
		return false
	}
	var qne *sqstypes.QueueDoesNotExist
	if errors.As(err, &qne) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue":
			return true
		}
	}
	return false
}

// EndpointFromEnv returns the endpoint override the SDK would use for the
// service with the given SDK service id (e.g. "DynamoDB", "SQS",
// "Secrets Manager"), from the environment only: the per-service variable
// first, then AWS_ENDPOINT_URL. It is meant for tooling and tests that need
// the URL itself (e.g. to print it); clients get it from Load.
func EndpointFromEnv(serviceID string) string {
	if v := os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"); strings.EqualFold(v, "true") {
		return ""
	}
	key := "AWS_ENDPOINT_URL_" + strings.ToUpper(strings.ReplaceAll(serviceID, " ", "_"))
	if v := os.Getenv(key); v != "" {
		return v
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}
