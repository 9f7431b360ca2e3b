// Command dev runs the whole Timebridge product locally (`make dev`): kumo
// with the resources of template.yaml, the four real function binaries,
// the SQS and schedule glue, the HTTP front on 127.0.0.1:8080, and demo
// Zammad and Kimai simulators. Ctrl-C stops everything it started.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/timebridge/timebridge/shared/testkit/devstack"
)

func main() {
	root := flag.String("root", ".", "repository root")
	data := flag.String("data", ".local/kumo", "kumo data directory (state survives restarts; make dev-reset clears it)")
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP front address (port 0 picks a free one)")
	zammadAddr := flag.String("zammad-addr", "127.0.0.1:8081", "demo Zammad simulator address (port 0 picks a free one)")
	kimaiAddr := flag.String("kimai-addr", "127.0.0.1:8082", "demo Kimai simulator address (port 0 picks a free one)")
	kumoPort := flag.Int("kumo-port", 4566, "kumo (local AWS emulator) port on 127.0.0.1")
	adminPassword := flag.String("admin-password", "", "admin password (default: $TIMEBRIDGE_ADMIN_PASSWORD, else generated)")
	simLatency := flag.Duration("sim-latency", 0, "delay every request to the demo Kimai by this much (e.g. 300ms), to watch a long run's progress")
	simFailCreates := flag.Int("sim-fail-creates", 0, "the demo Kimai answers the first N timesheet creates with 500 without committing them (retries count), so a run ends with failed entries to retry")
	flag.Parse()
	if *simLatency < 0 || *simFailCreates < 0 {
		fmt.Fprintln(os.Stderr, "make dev: -sim-latency and -sim-fail-creates cannot be negative")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	abs, _ := filepath.Abs(*root)
	dataDir, _ := filepath.Abs(*data)
	s, err := devstack.Start(ctx, devstack.Options{Root: abs, DataDir: dataDir, HTTPAddr: *addr,
		ZammadAddr: *zammadAddr, KimaiAddr: *kimaiAddr, KumoPort: *kumoPort, AdminPassword: *adminPassword, Logger: log,
		SimLatency: *simLatency, SimFailCreates: *simFailCreates})
	if err != nil {
		fmt.Fprintln(os.Stderr, "make dev:", err)
		os.Exit(1)
	}
	fmt.Printf(`
  Timebridge is running (Ctrl-C stops everything)

  Console and API   %s            (OpenAPI: %s/api/openapi.json)
  Sign in           user %q, password %q
  Demo Zammad       %s   token %s
  Demo Kimai        %s   token %s
  Zammad webhook    %s/webhooks/zammad/<profile id>
  AWS (kumo)        %s   data in %s

`, s.URL, s.URL, s.AdminUser, s.AdminPassword, s.ZammadURL, s.ZammadToken, s.KimaiURL, s.KimaiToken, s.URL, s.KumoURL, dataDir)
	// One machine-readable line for scripts and browser tests (web/e2e).
	ready, _ := json.Marshal(map[string]string{"url": s.URL, "user": s.AdminUser, "password": s.AdminPassword,
		"zammad": s.ZammadURL, "zammad_token": s.ZammadToken, "kimai": s.KimaiURL, "kimai_token": s.KimaiToken, "kumo": s.KumoURL})
	fmt.Printf("TIMEBRIDGE_READY %s\n", ready)
	<-ctx.Done()
	fmt.Println("stopping…")
	s.Close()
}
