// Command reconcile is the Lambda function consuming the runs queue (SQS,
// ReportBatchItemFailures): it runs the sync engine for each queued run.
// The logic is in shared/reconcile; this file only wires it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/config"
	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/netguard"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/reconcile"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/vault"
)

func main() {
	cfg, err := config.Load(nil, config.NeedSecrets, config.NeedEngine, config.NeedMetrics)
	log := cfg.Logger("reconcile")
	if err != nil {
		fatal(log, "configuration", err)
	}
	awsCfg, _, err := awsconfig.Load(context.Background())
	if err != nil {
		fatal(log, "AWS configuration", err)
	}
	st := store.New(awsconfig.DynamoDB(awsCfg), cfg.Table)
	secrets := vault.New(awsconfig.SecretsManager(awsCfg), cfg.SecretPrefix, vault.DefaultTTL)
	eng := engine.New(st, connect.New(st, secrets, connect.Options{Logger: log, HTTPClient: netguard.HTTPClient(cfg.LocalMode)}), log, engine.Options{PendingGrace: cfg.PendingGrace})
	sqsClient := awsconfig.SQS(awsCfg)
	h := reconcile.New(reconcile.Deps{
		Engine:           eng,
		SQS:              sqsClient,
		QueueURL:         cfg.QueueURL,
		Continue:         queue.NewSender(sqsClient, cfg.QueueURL),
		Logger:           log,
		Metrics:          os.Stdout, // EMF: CloudWatch Logs turns the lines into metrics
		MetricsNamespace: cfg.MetricsNamespace,
		Conflicts:        st,
	})
	lambda.Start(h.Handle)
}

// fatal logs why the function cannot start and exits, so that the first
// invocation fails with the reason in the logs.
func fatal(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, slog.String("err", err.Error()))
	os.Exit(1)
}
