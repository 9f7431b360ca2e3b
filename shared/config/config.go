// Package config reads a function's configuration from the environment once
// and reports every missing or invalid variable in one error, so that a
// misconfigured function fails fast at start-up with the whole list.
//
// Variables (the README's configuration table is the user-facing copy):
//
//	TIMEBRIDGE_TABLE          DynamoDB table (all functions)
//	TIMEBRIDGE_QUEUE_URL      SQS queue of runs (all)
//	LOG_LEVEL                 debug, info (default), warn, error (all)
//	TIMEBRIDGE_SECRET_PREFIX  Secrets Manager name prefix for tokens and webhook secrets (NeedSecrets)
//	TIMEBRIDGE_LOCAL_MODE     "1" allows http:// and loopback connector URLs, local stack only (NeedEngine, NeedAdmin)
//	TIMEBRIDGE_PENDING_GRACE  how long an unanswered Kimai create may still commit, default 15m (NeedEngine)
//	TIMEBRIDGE_ADMIN_SECRET   secret holding the admin user and JWT key (NeedAdmin)
//	TIMEBRIDGE_PUBLIC_URL     public base URL, for webhook URLs shown to users (NeedAdmin)
//	TIMEBRIDGE_ORIGIN_SECRET  secret CloudFront sends with every request, required outside local mode (NeedAdmin)
//	TIMEBRIDGE_METRICS_NAMESPACE  CloudWatch namespace of the EMF metrics, default Timebridge (NeedMetrics)
//
// A function reads only what it declares it needs, so that the template
// gives each function only the variables it uses.
//
// AWS endpoint, region and credentials come from the standard SDK variables.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Config is the configuration of one function.
type Config struct {
	Table        string
	SecretPrefix string
	QueueURL     string
	AdminSecret  string
	PublicURL    string
	// OriginSecret names the secret CloudFront sends in X-Timebridge-Origin
	// (edge.Guard); empty without CloudFront (local mode).
	OriginSecret string
	LocalMode    bool
	LogLevel     slog.Level
	// PendingGrace is how old a create whose outcome is unknown must be
	// before Timebridge concludes it never reached Kimai (engine.Options).
	// Zero: the engine's default.
	PendingGrace time.Duration
	// MetricsNamespace is the CloudWatch namespace of the function's EMF
	// metrics; empty: shared/metrics' default.
	MetricsNamespace string
}

// Need names the variables a function requires beyond the common ones.
type Need int

const (
	// NeedAdmin requires TIMEBRIDGE_ADMIN_SECRET, TIMEBRIDGE_PUBLIC_URL and,
	// outside local mode, TIMEBRIDGE_ORIGIN_SECRET (the api function).
	NeedAdmin Need = 1 << iota
	// NeedSecrets requires TIMEBRIDGE_SECRET_PREFIX: the function reads
	// connector tokens or webhook secrets.
	NeedSecrets
	// NeedEngine reads TIMEBRIDGE_LOCAL_MODE and TIMEBRIDGE_PENDING_GRACE:
	// the function runs the engine against Zammad and Kimai.
	NeedEngine
	// NeedMetrics reads TIMEBRIDGE_METRICS_NAMESPACE: the function writes
	// CloudWatch metrics (shared/metrics).
	NeedMetrics
)

// Load reads the configuration; getenv is os.Getenv when nil.
func Load(getenv func(string) string, needs ...Need) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var need Need
	for _, n := range needs {
		need |= n
	}
	var c Config
	var missing, invalid []string
	req := func(name string, dst *string) {
		*dst = strings.TrimSpace(getenv(name))
		if *dst == "" {
			missing = append(missing, name)
		}
	}
	req("TIMEBRIDGE_TABLE", &c.Table)
	if need&NeedSecrets != 0 {
		req("TIMEBRIDGE_SECRET_PREFIX", &c.SecretPrefix)
	}
	req("TIMEBRIDGE_QUEUE_URL", &c.QueueURL)
	if need&NeedAdmin != 0 {
		req("TIMEBRIDGE_ADMIN_SECRET", &c.AdminSecret)
		req("TIMEBRIDGE_PUBLIC_URL", &c.PublicURL)
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	if need&(NeedEngine|NeedAdmin) != 0 {
		switch v := getenv("TIMEBRIDGE_LOCAL_MODE"); v {
		case "", "0", "false":
		case "1", "true":
			c.LocalMode = true
		default:
			invalid = append(invalid, "TIMEBRIDGE_LOCAL_MODE="+v+" (use 1 or 0)")
		}
	}
	if need&NeedAdmin != 0 {
		c.OriginSecret = strings.TrimSpace(getenv("TIMEBRIDGE_ORIGIN_SECRET"))
		if c.OriginSecret == "" && !c.LocalMode {
			// Without it the API cannot tell CloudFront's requests from
			// direct ones, nor see the real client for the login brake.
			missing = append(missing, "TIMEBRIDGE_ORIGIN_SECRET")
		}
	}
	if need&NeedEngine != 0 {
		c.PendingGrace = pendingGrace(getenv("TIMEBRIDGE_PENDING_GRACE"), &invalid)
	}
	if need&NeedMetrics != 0 {
		c.MetricsNamespace = metricsNamespace(getenv("TIMEBRIDGE_METRICS_NAMESPACE"), &invalid)
	}

	switch v := strings.ToLower(getenv("LOG_LEVEL")); v {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		invalid = append(invalid, "LOG_LEVEL="+v+" (use debug, info, warn or error)")
	}
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", ")))
	}
	if len(invalid) > 0 {
		errs = append(errs, fmt.Errorf("invalid environment variables: %s", strings.Join(invalid, "; ")))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return c, nil
}

// pendingGrace parses TIMEBRIDGE_PENDING_GRACE: optional (0 takes the
// engine's default), a duration between 1m and 24h.
func pendingGrace(v string, invalid *[]string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		*invalid = append(*invalid, "TIMEBRIDGE_PENDING_GRACE="+v+" (use a duration such as 15m)")
	case d < time.Minute || d > 24*time.Hour:
		// Shorter than Kimai may keep working on one request would
		// allow duplicates; days would leave entries waiting for days.
		*invalid = append(*invalid, "TIMEBRIDGE_PENDING_GRACE="+v+" (between 1m and 24h)")
	default:
		return d
	}
	return 0
}

// metricsNamespace checks TIMEBRIDGE_METRICS_NAMESPACE against
// CloudWatch's rules for a namespace (up to 255 of A-Z a-z 0-9 . - _ / # :
// and space, not starting with "AWS/"); CloudWatch would drop every metric
// written under an invalid one without telling the function.
func metricsNamespace(v string, invalid *[]string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	ok := len(v) <= 255 && !strings.HasPrefix(v, "AWS/")
	for _, r := range v {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_/#: ", r))
	}
	if !ok {
		*invalid = append(*invalid, "TIMEBRIDGE_METRICS_NAMESPACE="+v+" (up to 255 of A-Z a-z 0-9 . - _ / # : and space, not starting with AWS/)")
		return ""
	}
	return v
}

// Logger returns the JSON logger every function uses: stable keys, the
// function name on every line.
func (c Config) Logger(function string) *slog.Logger {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: c.LogLevel})
	return slog.New(h).With(slog.String("function", function))
}
