package probe

import (
	"context"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// TestZammadTaggingCheck: with the billing tags configured, the Zammad
// test says whether the token may tag tickets (ticket.agent with change
// access to every group) and use the tags (New Tags on, admin.tag, or the
// tag already exists exactly so spelt), and what to grant otherwise.
// Without them the check is not reported.
func TestZammadTaggingCheck(t *testing.T) {
	ctx := context.Background()
	zs := zammadsim.New()
	defer zs.Close()
	demo := zs.SeedDemo(zammadsim.DemoConfig{AdminToken: "tok-admin-1234", Tickets: 2, Entries: 2})
	url := zs.Start()
	tags := []string{"billed"}
	pr := New(Options{LocalMode: true, ZammadTags: tags})
	tagging := func(res TestResult) Check {
		t.Helper()
		if len(res.Checks) != 5 || res.Checks[4].Name != CheckTagging {
			t.Fatalf("checks %+v", res.Checks)
		}
		return res.Checks[4]
	}

	if res := New(Options{LocalMode: true}).Test(ctx, tb.KindZammad, url, "tok-admin-1234"); len(res.Checks) != 4 || !res.OK {
		t.Fatalf("without tags: %+v", res)
	}
	res := pr.Test(ctx, tb.KindZammad, url, "tok-admin-1234")
	if c := tagging(res); !res.OK || c.Status != StatusOK || !strings.Contains(c.Message, `"billed"`) {
		t.Fatalf("admin: %+v", res)
	}

	// An agent with read access to one group, New Tags off, the tag
	// missing: a warning naming the group and each fix; the test passes.
	agent := demo.AgentIDs[0]
	zs.SetUserGroups(agent, map[int64][]string{demo.GroupIDs[0]: {"read"}, demo.GroupIDs[1]: {"full"}, demo.GroupIDs[2]: {"read", "change"}})
	zs.AddToken("tok-agent-1234", agent, zammadsim.PermAdminTimeAccounting, zammadsim.PermTicketAgent)
	zs.SetTagNew(false)
	res = pr.Test(ctx, tb.KindZammad, url, "tok-agent-1234")
	c := tagging(res)
	if !res.OK || c.Status != StatusWarning || c.Class != string(apperr.Permission) {
		t.Fatalf("agent: %+v", res)
	}
	for _, want := range []string{"change access to the group(s)", "Admin › Tags", `"billed"`, "New Tags", "admin.tag"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if strings.Contains(c.Message, "ticket.agent") {
		t.Errorf("message blames ticket.agent: %q", c.Message)
	}
	// The tag exists, change access everywhere: fine with New Tags off.
	zs.AddTagItem("billed")
	zs.SetUserGroups(agent, map[int64][]string{demo.GroupIDs[0]: {"change"}, demo.GroupIDs[1]: {"full"}, demo.GroupIDs[2]: {"change"}})
	if c := tagging(pr.Test(ctx, tb.KindZammad, url, "tok-agent-1234")); c.Status != StatusOK {
		t.Fatalf("existing tag: %+v", c)
	}
	// No change access anywhere; the tag exists in another spelling only.
	other := New(Options{LocalMode: true, ZammadTags: []string{"Billed"}})
	zs.SetUserGroups(agent, map[int64][]string{demo.GroupIDs[0]: {"read"}})
	c = tagging(other.Test(ctx, tb.KindZammad, url, "tok-agent-1234"))
	if c.Status != StatusWarning || !strings.Contains(c.Message, "change access to no group") || !strings.Contains(c.Message, `"Billed"`) {
		t.Fatalf("no change access: %+v", c)
	}
	// A token without ticket.agent.
	zs.AddToken("tok-noagent-1234", demo.AdminID, zammadsim.PermAdminTimeAccounting, zammadsim.PermAdminGroup)
	c = tagging(pr.Test(ctx, tb.KindZammad, url, "tok-noagent-1234"))
	if c.Status != StatusWarning || !strings.Contains(c.Message, "lacks ticket.agent") {
		t.Fatalf("no ticket.agent: %+v", c)
	}
	// An earlier failure skips it.
	res = pr.Test(ctx, tb.KindZammad, url, "tok-wrong-1234")
	if res.OK || tagging(res).Status != StatusSkipped {
		t.Fatalf("wrong token: %+v", res)
	}
}
