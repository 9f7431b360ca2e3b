// Command webhook is the Lambda function behind POST
// /webhooks/zammad/{profile_id} (API Gateway HTTP API, payload v2): it
// verifies Zammad's signature and queues a one-ticket run. The logic is in
// shared/webhook; this file only wires it.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/config"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/webhook"
)

// secretTTL is shorter than the vault's default: a rotated webhook secret
// must reach warm instances soon, and one Secrets Manager read per profile
// per minute is still cheap.
const secretTTL = time.Minute

func main() {
	cfg, err := config.Load(nil, config.NeedSecrets, config.NeedMetrics)
	log := cfg.Logger("webhook")
	if err != nil {
		fatal(log, "configuration", err)
	}
	awsCfg, _, err := awsconfig.Load(context.Background())
	if err != nil {
		fatal(log, "AWS configuration", err)
	}
	h := webhook.New(webhook.Deps{
		Store:            store.New(awsconfig.DynamoDB(awsCfg), cfg.Table),
		Secrets:          vault.New(awsconfig.SecretsManager(awsCfg), cfg.SecretPrefix, secretTTL),
		Queue:            queue.NewSender(awsconfig.SQS(awsCfg), cfg.QueueURL),
		Logger:           log,
		Metrics:          os.Stdout, // EMF: CloudWatch Logs turns the lines into metrics
		MetricsNamespace: cfg.MetricsNamespace,
	})
	lambda.Start(httpadapter.NewV2(h).ProxyWithContext)
}

// fatal logs why the function cannot start and exits, so that the first
// invocation fails with the reason in the logs instead of later requests
// failing one by one.
func fatal(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, slog.String("err", err.Error()))
	os.Exit(1)
}
