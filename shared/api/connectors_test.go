package api

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/netguard"
	"github.com/timebridge/timebridge/shared/probe"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
)

func TestConnectorsCRUD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const tok1, tok2 = "zammad-secret-token-AAAA1111", "zammad-secret-token-BBBB2222"

	h.do("GET", "/api/connectors", nil).want(t, 200)
	r := h.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "  Support  ", "base_url": "HTTPS://Zammad.Example.com/", "token": tok1})
	r.want(t, 201)
	c := r.obj(t)
	id := c["id"].(string)
	if c["name"] != "Support" || c["base_url"] != "https://zammad.example.com" || c["token_set"] != true ||
		c["token_hint"] != "…1111" || c["version"] != 1.0 || c["kind"] != "zammad" {
		t.Fatalf("created %v", c)
	}
	if r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/api/connectors/"+id {
		t.Fatalf("headers %v", r.header)
	}
	if _, ok := c["token"]; ok {
		t.Fatal("the answer has a token field")
	}
	if v, err := h.vault.Get(ctx, "connectors/"+id+"/token"); err != nil || v != tok1 {
		t.Fatalf("vault: %q %v", v, err)
	}

	// Without a token.
	k := h.do("POST", "/api/connectors", map[string]any{"kind": "kimai", "name": "Kimai", "base_url": "https://kimai.example.com"}).want(t, 201).obj(t)
	if k["token_set"] != false || k["token_hint"] != "" {
		t.Fatalf("tokenless %v", k)
	}

	var l list[connectorView]
	h.do("GET", "/api/connectors", nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 2 {
		t.Fatalf("list %v", l.Items)
	}
	h.do("GET", "/api/connectors/"+id, nil).want(t, 200)
	h.do("GET", "/api/connectors/01JQ7Z3M2Y8K4T6V9B1C5D7F0H", nil).wantError(t, 404, apperr.CodeNotFound, "")
	h.do("GET", "/api/connectors/bad%24id", nil).wantError(t, 400, apperr.CodeValidation, "id")

	// PATCH: version required, stale refused, If-Match accepted.
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"name": "x"}).wantError(t, 400, apperr.CodeValidation, "version")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"name": "x", "version": 7}).wantError(t, 409, apperr.CodeConflict, "")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"kind": "kimai", "version": 1}).wantError(t, 400, apperr.CodeValidation, "kind")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"name": "x", "version": 1}, header("If-Match", `"2"`)).wantError(t, 400, apperr.CodeValidation, "version")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"name": "x"}, header("If-Match", "abc")).wantError(t, 400, apperr.CodeValidation, "If-Match")
	r = h.do("PATCH", "/api/connectors/"+id, map[string]any{"name": "Helpdesk", "token": tok2}, header("If-Match", `"1"`)).want(t, 200)
	c = r.obj(t)
	if c["name"] != "Helpdesk" || c["version"] != 2.0 || c["token_hint"] != "…2222" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patched %v", c)
	}
	if v, _ := h.vault.Get(ctx, "connectors/"+id+"/token"); v != tok2 {
		t.Fatalf("vault after token change: %q", v)
	}
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"base_url": "http://zammad.example.com", "version": 2}).wantError(t, 400, apperr.CodeValidation, "base_url")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"token": "  ", "version": 2}).wantError(t, 400, apperr.CodeValidation, "token")
	h.do("PATCH", "/api/connectors/"+id, map[string]any{"token": "two words", "version": 2}).wantError(t, 400, apperr.CodeValidation, "token")

	// A connector in use cannot be deleted.
	p := h.do("POST", "/api/profiles", map[string]any{"name": "P", "zammad_connector_id": id, "kimai_connector_id": k["id"]}).want(t, 201).obj(t)
	e := h.do("DELETE", "/api/connectors/"+id, nil).wantError(t, 409, apperr.CodeConflict, "")
	if !strings.Contains(e.Message, `"P"`) {
		t.Fatalf("message does not name the profile: %q", e.Message)
	}
	h.do("DELETE", "/api/profiles/"+p["id"].(string), nil).want(t, 204)
	h.do("DELETE", "/api/connectors/"+id, nil, header("If-Match", `"1"`)).wantError(t, 409, apperr.CodeConflict, "")
	h.do("DELETE", "/api/connectors/"+id, nil, header("If-Match", `"2"`)).want(t, 204)
	h.do("GET", "/api/connectors/"+id, nil).want(t, 404)
	h.do("DELETE", "/api/connectors/"+id, nil).want(t, 404)
	if _, err := h.vault.Get(ctx, "connectors/"+id+"/token"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("token not deleted: %v", err)
	}

	types := h.auditTypes("")
	for _, want := range []string{"connector.created", "connector.updated", "connector.deleted"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s: %v", want, types)
		}
	}
	h.assertNoSecret(tok1, tok2)
}

func TestBaseURLChecks(t *testing.T) {
	h := newHarness(t)
	for _, c := range []struct {
		url  string
		ok   bool
		want string // normalised
	}{
		{"https://zammad.example.com/", true, "https://zammad.example.com"},
		{"https://zammad.example.com:8443/helpdesk/", true, "https://zammad.example.com:8443/helpdesk"},
		{"https://intranet.example", true, "https://intranet.example"},         // resolves to 10.1.2.3: private ranges are allowed
		{"https://93.184.216.34", true, "https://93.184.216.34"},               // public literal
		{"https://[2606:2800:220:1::1]", true, "https://[2606:2800:220:1::1]"}, // public IPv6 literal
		{"http://zammad.example.com", false, ""},
		{"ftp://zammad.example.com", false, ""},
		{"zammad.example.com", false, ""},
		{"https://", false, ""},
		{"https://user:pw@zammad.example.com", false, ""},
		{"https://zammad.example.com/?x=1", false, ""},
		{"https://zammad.example.com/#frag", false, ""},
		{"https://zammad.example.com:99999", false, ""},
		{"https://127.0.0.1", false, ""},
		{"https://127.1.2.3:8080", false, ""},
		{"https://169.254.169.254/latest/meta-data", false, ""},
		{"https://[::1]", false, ""},
		{"https://[fd00:ec2::254]", false, ""},
		{"https://[fe80::1]", false, ""},
		{"https://[::ffff:127.0.0.1]", false, ""},
		{"https://[64:ff9b::a9fe:a9fe]", false, ""}, // NAT64 of 169.254.169.254
		{"https://0.0.0.0", false, ""},
		{"https://localhost", false, ""},
		{"https://metadata.example", false, ""}, // one of its addresses is the metadata service
		{"https://nowhere.invalid", false, ""},  // does not resolve
		{"https://" + strings.Repeat("a", 2050) + ".com", false, ""},
	} {
		r := h.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "z", "base_url": c.url, "token": "tok-1234"})
		if c.ok {
			if got := r.want(t, 201).obj(t)["base_url"]; got != c.want {
				t.Errorf("%s: stored as %v, want %s", c.url, got, c.want)
			}
			continue
		}
		r.wantError(t, 400, apperr.CodeValidation, "base_url")
	}

	// Local mode allows http and loopback (the simulators).
	l := newHarness(t, localMode())
	l.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "z", "base_url": "http://127.0.0.1:8081", "token": "tok-1234"}).want(t, 201)
	l.do("POST", "/api/connectors", map[string]any{"kind": "zammad", "name": "z", "base_url": "ftp://127.0.0.1"}).wantError(t, 400, apperr.CodeValidation, "base_url")
}

func TestAllowedAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "10.0.0.1": true, "192.168.1.1": true, "172.16.0.1": true, "2001:db8::1": true,
		"127.0.0.1": false, "169.254.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "255.255.255.255": false,
		"224.0.0.1": false, "::": false, "::1": false, "fc00::1": false, "fdff::1": false, "fe80::abcd": false,
		"::ffff:169.254.169.254": false, "64:ff9b::808:808": true, "64:ff9b::7f00:1": false, "ff02::1": false,
	} {
		if got := netguard.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestConnectorTestAndCatalogWithFakes(t *testing.T) {
	h := newHarness(t)
	const tok = "kimai-token-for-fakes-9876"
	c := h.createConnector("kimai", "K", "https://kimai.example.com", tok)
	id := c["id"].(string)
	r := h.do("POST", "/api/connectors/"+id+"/test", nil).want(t, 200).obj(t)
	if r["ok"] != true || r["connector_id"] != id || r["kind"] != "kimai" {
		t.Fatalf("test answer %v", r)
	}
	h.do("POST", "/api/connectors/"+id+"/test", "{}").want(t, 200)
	h.do("POST", "/api/connectors/"+id+"/test", `{"x":1}`).wantError(t, 400, apperr.CodeValidation, "x")
	cat := h.do("GET", "/api/connectors/"+id+"/catalog", nil).want(t, 200).obj(t)
	if types, _ := cat["types"].([]any); len(types) != 1 || cat["connector_id"] != id {
		t.Fatalf("catalog %v", cat)
	}
	// The prober got the token from the vault.
	if len(h.prober.tokens) != 3 || slices.ContainsFunc(h.prober.tokens, func(s string) bool { return s != tok }) {
		t.Fatalf("prober tokens %v", h.prober.tokens)
	}
	// An upstream auth failure is an upstream_error, not our 401.
	h.prober.catErr = apperr.New(apperr.Auth, "kimai: list customers", "The Kimai API token is invalid or expired: create a new token.")
	e := h.do("GET", "/api/connectors/"+id+"/catalog", nil).wantError(t, 502, apperr.CodeUpstream, "")
	if !strings.Contains(e.Message, "create a new token") {
		t.Fatalf("message %q", e.Message)
	}

	// Without a token: the test reports the auth check, the catalog is a 400.
	n := h.createConnector("zammad", "Z", "https://zammad.example.com", "")
	tr := h.do("POST", "/api/connectors/"+n["id"].(string)+"/test", nil).want(t, 200)
	var res testResponse
	tr.decode(t, &res)
	if res.OK || res.Checks[1].Name != probe.CheckAuth || res.Checks[1].Status != probe.StatusFailed {
		t.Fatalf("tokenless test %+v", res)
	}
	h.do("GET", "/api/connectors/"+n["id"].(string)+"/catalog", nil).wantError(t, 400, apperr.CodeValidation, "token")

	// A token missing from Secrets Manager says how to fix it.
	if err := h.vault.Delete(context.Background(), "connectors/"+id+"/token"); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/api/connectors/"+id+"/test", nil).decode(t, &res)
	if res.OK || !strings.Contains(res.Checks[1].Message, "paste the token") {
		t.Fatalf("missing token %+v", res)
	}

	// A stored URL whose DNS now points inside is refused before calling.
	c2 := h.createConnector("kimai", "K2", "https://kimai.example.com/other", tok)["id"].(string)
	h.hosts["kimai.example.com"] = []netip.Addr{netip.MustParseAddr("169.254.169.254")}
	calls := len(h.prober.tokens)
	h.do("POST", "/api/connectors/"+c2+"/test", nil).want(t, 200).decode(t, &res)
	if res.OK || res.Checks[0].Status != probe.StatusFailed || !strings.Contains(res.Checks[0].Message, "metadata") {
		t.Fatalf("rebound URL test %+v", res)
	}
	h.do("GET", "/api/connectors/"+c2+"/catalog", nil).wantError(t, 400, apperr.CodeValidation, "base_url")
	if len(h.prober.tokens) != calls {
		t.Fatal("the prober was called for a refused address")
	}
	h.assertNoSecret(tok)
}

func TestConnectorTestAndCatalogAgainstSimulators(t *testing.T) {
	h := newHarness(t, localMode(), realProber())
	zs := zammadsim.New()
	defer zs.Close()
	zs.SeedDemo(zammadsim.DemoConfig{AdminToken: "zammad-admin-token-1234", Tickets: 3, Entries: 10})
	zurl := zs.Start()
	ks := kimaisim.New()
	defer ks.Close()
	ks.AddUser(kimaisim.User{Username: "sync", Email: "sync@example.com", Roles: []string{kimaisim.RoleAdmin}, Enabled: true}, "kimai-admin-token-1234")
	ks.AddUser(kimaisim.User{Username: "plain", Roles: []string{kimaisim.RoleUser}, Enabled: true}, "kimai-user-token-1234")
	ks.AddCustomer(kimaisim.Customer{Name: "Acme"})
	kurl := ks.Start()

	test := func(id string) testResponse {
		var res testResponse
		h.do("POST", "/api/connectors/"+id+"/test", nil).want(t, 200).decode(t, &res)
		return res
	}
	status := func(res testResponse) string {
		var s []string
		for _, c := range res.Checks {
			s = append(s, c.Name+"="+c.Status)
		}
		return strings.Join(s, " ")
	}

	z := h.createConnector("zammad", "Z", zurl, "zammad-admin-token-1234")["id"].(string)
	if res := test(z); !res.OK || status(res) != "connection=ok auth=ok permissions=ok version=ok tagging=ok" || res.User == nil {
		t.Fatalf("zammad test %s %+v", status(res), res)
	}
	zcat := h.do("GET", "/api/connectors/"+z+"/catalog", nil).want(t, 200).obj(t)
	for _, sec := range []string{"types", "organizations", "agents", "groups"} {
		if items, _ := zcat[sec].([]any); len(items) == 0 {
			t.Errorf("zammad catalog section %s empty: %v", sec, zcat)
		}
	}

	zbad := h.createConnector("zammad", "Zbad", zurl, "wrong-token-1234")["id"].(string)
	if res := test(zbad); res.OK || status(res) != "connection=ok auth=failed permissions=skipped version=skipped tagging=skipped" {
		t.Fatalf("zammad wrong token %s", status(res))
	}
	zdown := h.createConnector("zammad", "Zdown", "http://127.0.0.1:1", "tok-1234")["id"].(string)
	if res := test(zdown); res.OK || res.Checks[0].Status != probe.StatusFailed || res.Checks[0].Class != string(apperr.Connection) {
		t.Fatalf("zammad unreachable %+v", res)
	}

	k := h.createConnector("kimai", "K", kurl, "kimai-admin-token-1234")["id"].(string)
	if res := test(k); !res.OK || status(res) != "connection=ok auth=ok permissions=ok version=ok" || res.Version != "2.66.0" {
		t.Fatalf("kimai test %s %+v", status(res), res)
	}
	kcat := h.do("GET", "/api/connectors/"+k+"/catalog", nil).want(t, 200).obj(t)
	if cs, _ := kcat["customers"].([]any); len(cs) != 1 {
		t.Fatalf("kimai catalog %v", kcat)
	}
	if us, _ := kcat["users"].([]any); len(us) != 2 {
		t.Fatalf("kimai users %v", kcat["users"])
	}

	kuser := h.createConnector("kimai", "Kuser", kurl, "kimai-user-token-1234")["id"].(string)
	res := test(kuser)
	if !res.OK || res.Checks[2].Status != probe.StatusWarning || !strings.Contains(res.Checks[2].Message, "team lead") {
		t.Fatalf("kimai plain user %s %+v", status(res), res)
	}
	// The catalog of a plain user warns about the users section.
	kc := h.do("GET", "/api/connectors/"+kuser+"/catalog", nil).want(t, 200).obj(t)
	if ws, _ := kc["warnings"].([]any); len(ws) != 1 || ws[0].(map[string]any)["section"] != "users" {
		t.Fatalf("warnings %v", kc["warnings"])
	}
	kbad := h.createConnector("kimai", "Kbad", kurl, "nope-nope-nope")["id"].(string)
	if res := test(kbad); res.OK || status(res) != "connection=ok auth=failed permissions=skipped version=skipped" {
		t.Fatalf("kimai wrong token %s", status(res))
	}
	h.do("GET", "/api/connectors/"+kbad+"/catalog", nil).wantError(t, 502, apperr.CodeUpstream, "")
	// A Kimai URL pointing at Zammad is not Kimai.
	wrong := h.createConnector("kimai", "Kwrong", zurl, "kimai-admin-token-1234")["id"].(string)
	if res := test(wrong); res.OK || res.Checks[0].Status != probe.StatusFailed {
		t.Fatalf("kimai at zammad's URL %s", status(res))
	}
	h.assertNoSecret("zammad-admin-token-1234", "kimai-admin-token-1234", "kimai-user-token-1234")
}

// TestConnectorInstanceChange: a Zammad connector that a profile syncs may
// not be pointed at another Zammad instance (the markers of its timesheets
// name the instance); another spelling of the same URL is fine.
func TestConnectorInstanceChange(t *testing.T) {
	h := newHarness(t)
	for _, host := range []string{"other.example.com", "third.example.com"} {
		h.hosts[host] = []netip.Addr{netip.MustParseAddr("203.0.113.7")}
	}
	zid, kid := h.connectors()
	get := func() float64 {
		return h.do("GET", "/api/connectors/"+zid, nil).want(t, 200).obj(t)["version"].(float64)
	}
	// Moving to another server needs the token again: the stored one never
	// follows the connector to a new host.
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"base_url": "https://other.example.com", "version": get()}).
		wantError(t, 400, apperr.CodeValidation, "token")
	// Unused: any URL goes (with its token).
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"base_url": "https://other.example.com", "token": "zammad-token-0003", "version": get()}).want(t, 200)
	h.do("POST", "/api/profiles", map[string]any{"name": "Support", "zammad_connector_id": zid, "kimai_connector_id": kid}).want(t, 201)
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"base_url": "https://third.example.com", "token": "zammad-token-0004", "version": get()}).
		wantError(t, 409, apperr.CodeConflict, "base_url")
	// Another spelling of the same server keeps the token.
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"base_url": "https://OTHER.example.com:443/", "version": get()}).want(t, 200)
}

// TestStalePatchNeverTouchesTheToken: a PATCH that loses the version race
// must leave the token the winner stored (the record is written first).
func TestStalePatchNeverTouchesTheToken(t *testing.T) {
	h := newHarness(t)
	zid, _ := h.connectors()
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"token": "zammad-token-WINNER", "version": 1}).want(t, 200)
	h.do("PATCH", "/api/connectors/"+zid, map[string]any{"token": "zammad-token-LOSER", "version": 1}).wantError(t, 409, apperr.CodeConflict, "")
	if v, err := h.vault.Get(context.Background(), "connectors/"+zid+"/token"); err != nil || v != "zammad-token-WINNER" {
		t.Fatalf("vault holds %q (%v)", v, err)
	}
}
