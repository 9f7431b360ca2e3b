// Command api is the Lambda function behind /api/* (API Gateway HTTP API,
// payload v2): Timebridge's admin API. The logic is in shared/api; this
// file only wires it: configuration, AWS clients, the store, the vault, the
// queue sender, the engine (for conflict resolutions), the connector prober
// and the admin login.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/timebridge/timebridge/shared/api"
	"github.com/timebridge/timebridge/shared/auth"
	"github.com/timebridge/timebridge/shared/awsconfig"
	"github.com/timebridge/timebridge/shared/config"
	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/edge"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/netguard"
	"github.com/timebridge/timebridge/shared/probe"
	"github.com/timebridge/timebridge/shared/queue"
	"github.com/timebridge/timebridge/shared/store"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/vault"
)

func main() {
	cfg, err := config.Load(nil, config.NeedAdmin, config.NeedSecrets, config.NeedEngine)
	log := cfg.Logger("api")
	if err != nil {
		fatal(log, "configuration", err)
	}
	awsCfg, _, err := awsconfig.Load(context.Background())
	if err != nil {
		fatal(log, "AWS configuration", err)
	}
	lambda.Start(httpadapter.NewV2(newHandler(cfg, awsCfg, log)).ProxyWithContext)
}

// newHandler builds the API from the configuration. Nothing is called at
// start-up: the admin secret is read (and cached) on the first login or
// authenticated request.
func newHandler(cfg config.Config, awsCfg aws.Config, log *slog.Logger) http.Handler {
	st := store.New(awsconfig.DynamoDB(awsCfg), cfg.Table)
	sm := awsconfig.SecretsManager(awsCfg)
	secrets := vault.New(sm, cfg.SecretPrefix, vault.DefaultTTL)
	// Resolutions with use_zammad or retry re-run one ticket inside the
	// request (a small, bounded run); everything else is queued.
	eng := engine.New(st, connect.New(st, secrets, connect.Options{Logger: log, HTTPClient: netguard.HTTPClient(cfg.LocalMode)}), log, engine.Options{PendingGrace: cfg.PendingGrace})
	// The connector test says whether the Zammad token may write the
	// billed tag (the default name; a profile may choose another).
	pr := probe.New(probe.Options{LocalMode: cfg.LocalMode, Logger: log, ZammadTags: []string{tb.DefaultBilledTag}})
	// The admin secret may be named by ARN (a template's !Ref), which the
	// prefix-bound vault does not accept: read it directly.
	admin := auth.NewLoader(auth.FromSecretsManager(sm), cfg.AdminSecret, auth.DefaultLoaderTTL)
	return api.New(api.Deps{
		Store:     st,
		Vault:     secrets,
		Queue:     queue.NewSender(awsconfig.SQS(awsCfg), cfg.QueueURL),
		Resolver:  eng,
		Prober:    pr,
		Catalog:   pr,
		Auth:      auth.New(admin, st, auth.Options{}),
		Edge:      edge.New(auth.FromSecretsManager(sm), cfg.OriginSecret),
		PublicURL: cfg.PublicURL,
		LocalMode: cfg.LocalMode,
		Logger:    log,
	})
}

// fatal logs why the function cannot start and exits, so that the first
// invocation fails with the reason in the logs instead of later requests
// failing one by one.
func fatal(log *slog.Logger, what string, err error) {
	log.Error("cannot start: "+what, slog.String("err", err.Error()))
	os.Exit(1)
}
