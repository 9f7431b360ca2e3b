package probe

import (
	"context"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestGuardedDialer: outside local mode the clients refuse to connect to
// internal addresses even when the URL check was passed (DNS rebinding).
func TestGuardedDialer(t *testing.T) {
	ks := kimaisim.New()
	defer ks.Close()
	ks.AddUser(kimaisim.User{Username: "sync", Roles: []string{kimaisim.RoleAdmin}, Enabled: true}, "tok-1234")
	url := ks.Start() // 127.0.0.1
	guarded := New(Options{})
	res := guarded.Test(context.Background(), tb.KindKimai, url, "tok-1234")
	if res.OK || res.Checks[0].Status != StatusFailed {
		t.Fatalf("guarded client reached loopback: %+v", res)
	}
	local := New(Options{LocalMode: true})
	if res := local.Test(context.Background(), tb.KindKimai, url, "tok-1234"); !res.OK {
		t.Fatalf("local mode: %+v", res)
	}
}

// TestTestFailures: each kind of failure lands on its check with
// a message that names the fix.
func TestTestFailures(t *testing.T) {
	ctx := context.Background()
	pr := New(Options{LocalMode: true})
	status := func(res TestResult) string {
		var s []string
		for _, c := range res.Checks {
			s = append(s, c.Name+"="+c.Status)
		}
		return strings.Join(s, " ")
	}

	old := zammadsim.New(zammadsim.WithoutGlobalTimeAccounting())
	defer old.Close()
	old.SeedDemo(zammadsim.DemoConfig{AdminToken: "tok-admin-1234", Tickets: 1, Entries: 2})
	res := pr.Test(ctx, tb.KindZammad, old.Start(), "tok-admin-1234")
	if res.OK || status(res) != "connection=ok auth=ok permissions=skipped version=failed" || !strings.Contains(res.Checks[3].Message, "update Zammad") {
		t.Fatalf("old zammad: %s %+v", status(res), res)
	}

	zs := zammadsim.New()
	defer zs.Close()
	demo := zs.SeedDemo(zammadsim.DemoConfig{Tickets: 1, Entries: 2})
	zs.AddToken("tok-agent-1234", demo.AgentIDs[0], zammadsim.PermTicketAgent)
	zurl := zs.Start()
	res = pr.Test(ctx, tb.KindZammad, zurl, "tok-agent-1234")
	if res.OK || status(res) != "connection=ok auth=ok permissions=failed version=skipped" || !strings.Contains(res.Checks[2].Message, "admin.time_accounting") {
		t.Fatalf("agent token: %s %+v", status(res), res)
	}
	res = pr.Test(ctx, tb.KindZammad, zurl, "bad token")
	if res.OK || res.Checks[1].Status != StatusFailed || !strings.Contains(res.Checks[1].Message, "spaces") {
		t.Fatalf("malformed token: %+v", res)
	}
	res = pr.Test(ctx, tb.KindZammad, "not a url", "tok-1234")
	if res.OK || res.Checks[0].Status != StatusFailed {
		t.Fatalf("bad url: %+v", res)
	}

	ks := kimaisim.New(kimaisim.WithVersion("2.10.0"))
	defer ks.Close()
	ks.AddUser(kimaisim.User{Username: "sync", Roles: []string{kimaisim.RoleTeamlead}, Enabled: true}, "tok-lead-1234")
	res = pr.Test(ctx, tb.KindKimai, ks.Start(), "tok-lead-1234")
	if res.OK || res.Checks[3].Status != StatusFailed || !strings.Contains(res.Checks[3].Message, "2.14") {
		t.Fatalf("old kimai: %s %+v", status(res), res)
	}
	if res.Checks[2].Status != StatusWarning || !strings.Contains(res.Checks[2].Message, "auto-create") || strings.Contains(res.Checks[2].Message, "team lead role") {
		t.Fatalf("team lead permissions: %+v", res.Checks[2])
	}
	// A malformed Kimai token is an auth failure, decided by the field the
	// client names, not by the words of its message.
	if res = pr.Test(ctx, tb.KindKimai, ks.URL(), "bad token"); res.OK || status(res) != "connection=skipped auth=failed permissions=skipped version=skipped" {
		t.Fatalf("malformed kimai token: %s %+v", status(res), res)
	}
	if got := pr.Test(ctx, "jira", "https://x", "t"); got.OK {
		t.Fatal("unknown kind passed")
	}
	if _, err := pr.Catalog(ctx, "jira", "https://x", "t"); !apperr.Is(err, apperr.Validation) {
		t.Fatalf("unknown kind catalog: %v", err)
	}
	for v, want := range map[string]int{"2.14.0": 21400, "2.66.1": 26601, "3": 30000, "2.9.0-beta": 20900} {
		if got := kimaiVersionID(v); got != want {
			t.Errorf("kimaiVersionID(%s) = %d, want %d", v, got, want)
		}
	}
}

// TestZammadPermissionsNamed: a passing permissions check names every
// permission of ZammadPermissions, the list the console's token hint shows.
func TestZammadPermissionsNamed(t *testing.T) {
	zs := zammadsim.New()
	defer zs.Close()
	zs.SeedDemo(zammadsim.DemoConfig{AdminToken: "tok-admin-1234", Tickets: 1, Entries: 1})
	res := New(Options{LocalMode: true}).Test(context.Background(), tb.KindZammad, zs.Start(), "tok-admin-1234")
	if !res.OK || res.Checks[2].Name != CheckPermissions || res.Checks[2].Status != StatusOK {
		t.Fatalf("admin token: %+v", res)
	}
	for _, p := range ZammadPermissions {
		if !strings.Contains(res.Checks[2].Message, p) {
			t.Errorf("permissions check %q does not name %s", res.Checks[2].Message, p)
		}
	}
}
