// Command scheduler is the Lambda function EventBridge invokes every 5
// minutes: it queues the incremental runs that are due and the daily full
// runs. The logic is in shared/schedule; this file only wires it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/config"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/schedule"
	"github.com/timebridge/timebridge/shared/store"
)

func main() {
	cfg, err := config.Load(nil, config.NeedMetrics)
	log := cfg.Logger("scheduler")
	if err != nil {
		fatal(log, "configuration", err)
	}
	awsCfg, _, err := awsconfig.Load(context.Background())
	if err != nil {
		fatal(log, "AWS configuration", err)
	}
	s := schedule.New(schedule.Deps{
		Store:            store.New(awsconfig.DynamoDB(awsCfg), cfg.Table),
		Queue:            queue.NewSender(awsconfig.SQS(awsCfg), cfg.QueueURL),
		Logger:           log,
		Metrics:          os.Stdout, // EMF: the staleness of every enabled profile
		MetricsNamespace: cfg.MetricsNamespace,
	})
	lambda.Start(s.Handle)
}

// fatal logs why the function cannot start and exits, so that the first
// invocation fails with the reason in the logs.
func fatal(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, slog.String("err", err.Error()))
	os.Exit(1)
}
