package api

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

func TestProfilesCRUD(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	zid, kid := h.connectors()

	r := h.do("POST", "/api/profiles", map[string]any{"name": "Support → Kimai", "zammad_connector_id": zid, "kimai_connector_id": kid,
		"minutes_per_unit": "15", "tags": []string{"support", "support", "billable"}})
	r.want(t, 201)
	p := r.obj(t)
	id := p["id"].(string)
	secret, _ := p["webhook_secret"].(string)
	if len(secret) != 64 {
		t.Fatalf("webhook secret %q", secret)
	}
	if p["webhook_url"] != publicURL+"/webhooks/zammad/"+id || p["minutes_per_unit"] != "15" || p["enabled"] != false ||
		p["project_strategy"] != "customer" || p["user_mode"] != "token" || p["deletion_window_days"] != 60.0 ||
		p["concurrency"] != 32.0 || p["pace"] != "adaptive" || p["interval_minutes"] != 15.0 || p["version"] != 1.0 {
		t.Fatalf("created %v", p)
	}
	if tags := p["tags"].([]any); len(tags) != 3 || tags[0] != "zammad" {
		t.Fatalf("tags %v", tags)
	}
	if v, err := h.vault.Get(ctx, "profiles/"+id+"/webhook-secret"); err != nil || v != secret {
		t.Fatalf("vault secret %v", err)
	}

	// The secret is shown once: never in GET or list.
	g := h.do("GET", "/api/profiles/"+id, nil).want(t, 200)
	if strings.Contains(string(g.body), secret) || g.header.Get("ETag") != `"1"` {
		t.Fatalf("GET shows the secret or lacks the ETag: %s", g.body)
	}
	var l list[profileView]
	h.do("GET", "/api/profiles", nil).want(t, 200).decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].WebhookURL == "" {
		t.Fatalf("list %+v", l)
	}

	// PATCH.
	h.do("PATCH", "/api/profiles/"+id, map[string]any{"enabled": true}).wantError(t, 400, apperr.CodeValidation, "version")
	h.do("PATCH", "/api/profiles/"+id, map[string]any{"enabled": true, "version": 3}).wantError(t, 409, apperr.CodeConflict, "")
	up := h.do("PATCH", "/api/profiles/"+id, map[string]any{"enabled": true, "user_mode": "email", "concurrency": 4, "pace": "fixed", "version": 1}).want(t, 200).obj(t)
	if up["enabled"] != true || up["user_mode"] != "email" || up["concurrency"] != 4.0 || up["pace"] != "fixed" || up["name"] != "Support → Kimai" || up["version"] != 2.0 {
		t.Fatalf("patched %v", up)
	}
	h.do("PATCH", "/api/profiles/"+id, map[string]any{"kimai_connector_id": zid, "version": 2}).wantError(t, 400, apperr.CodeValidation, "kimai_connector_id")

	// Rotation returns a new secret once and stores it.
	rot := h.do("POST", "/api/profiles/"+id+"/webhook-secret", nil).want(t, 200).obj(t)
	if rot["webhook_secret"] == secret || len(rot["webhook_secret"].(string)) != 64 || rot["webhook_url"] != p["webhook_url"] {
		t.Fatalf("rotation %v", rot)
	}
	if v, _ := h.vault.Get(ctx, "profiles/"+id+"/webhook-secret"); v != rot["webhook_secret"] {
		t.Fatal("rotated secret not stored")
	}
	h.do("POST", "/api/profiles/01JQ7Z3M2Y8K4T6V9B1C5D7F0H/webhook-secret", nil).want(t, 404)

	// Deleting removes the profile's data and secret; audit events stay.
	h.do("PUT", "/api/profiles/"+id+"/mappings", map[string]any{"kind": "activity", "source_id": "3", "target_id": 9}).want(t, 200)
	h.do("POST", "/api/profiles/"+id+"/runs", map[string]any{"mode": "full"}).want(t, 202)
	h.putConflict(id, 42, tb.ConflictUnmappedActivity)
	h.do("DELETE", "/api/profiles/"+id, nil, header("If-Match", `"1"`)).wantError(t, 409, apperr.CodeConflict, "")
	h.do("DELETE", "/api/profiles/"+id, nil).want(t, 204)
	h.do("GET", "/api/profiles/"+id, nil).want(t, 404)
	if ms, _ := h.st.Mappings(ctx, id); len(ms) != 0 {
		t.Fatalf("mappings left: %v", ms)
	}
	if cs, _ := h.st.ListConflicts(ctx, id, ""); len(cs) != 0 {
		t.Fatalf("conflicts left: %v", cs)
	}
	if runs, _, _ := h.st.ListRuns(ctx, id, 10, ""); len(runs) != 0 {
		t.Fatalf("runs left: %v", runs)
	}
	if _, err := h.vault.Get(ctx, "profiles/"+id+"/webhook-secret"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("webhook secret left: %v", err)
	}
	types := h.auditTypes(id)
	for _, want := range []string{"profile.created", "profile.updated", "profile.webhook_secret_rotated", "mapping.saved", "run.requested", "profile.deleted"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit lacks %s: %v", want, types)
		}
	}
	// Each secret appears in exactly one answer (the one that made it) and
	// in no log line.
	for _, v := range []string{secret, rot["webhook_secret"].(string)} {
		if n := h.answersContaining(v); n != 1 {
			t.Errorf("a webhook secret appears in %d answers, want 1", n)
		}
		if strings.Contains(h.logs.String(), v) {
			t.Error("a webhook secret appears in the logs")
		}
	}
}

func TestProfileValidation(t *testing.T) {
	h := newHarness(t)
	zid, kid := h.connectors()
	base := func(kv ...any) map[string]any {
		m := map[string]any{"name": "P", "zammad_connector_id": zid, "kimai_connector_id": kid}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for _, c := range []struct {
		body  any
		field string
	}{
		{base("name", nil), "name"},
		{base("name", "  "), "name"},
		{base("name", strings.Repeat("n", 101)), "name"},
		{base("name", "a\x01b"), "name"},
		{base("zammad_connector_id", nil), "zammad_connector_id"},
		{base("zammad_connector_id", kid), "zammad_connector_id"},
		{base("kimai_connector_id", "01JQ7Z3M2Y8K4T6V9B1C5D7F0H"), "kimai_connector_id"},
		{base("kimai_connector_id", "bad id"), "kimai_connector_id"},
		{base("kimai_connector_id", 5), "kimai_connector_id"},
		{base("minutes_per_unit", "0"), "minutes_per_unit"},
		{base("minutes_per_unit", -1), "minutes_per_unit"},
		{base("minutes_per_unit", "abc"), "minutes_per_unit"},
		{base("minutes_per_unit", 1441), "minutes_per_unit"},
		{base("minutes_per_unit", true), "minutes_per_unit"},
		{base("project_strategy", "team"), "project_strategy"},
		{base("user_mode", "all"), "user_mode"},
		{base("default_customer_id", -1), "default_customer_id"},
		{base("default_activity_id", 1.5), "default_activity_id"},
		{base("deletion_window_days", 0), "deletion_window_days"},
		{base("deletion_window_days", 400), "deletion_window_days"},
		{base("concurrency", 65), "concurrency"},
		{base("concurrency", "8"), "concurrency"},
		{base("pace", "auto"), "pace"},
		{base("pace", ""), "pace"},
		{base("pace", 1), "pace"},
		{base("interval_minutes", 1), "interval_minutes"},
		{base("tags", []string{"ok", "a"}), "tags.1"},
		{base("tags", []string{"a,b"}), "tags.0"},
		{base("tags", []string{"<b>"}), "tags.0"},
		{base("tags", "zammad"), "tags"},
		{base("tags", []any{1}), "tags.0"}, // the element (Go 1.27 encoding/json; Go 1.26 named only "tags")
		{base("tags", slices.Repeat([]string{"tag"}, 11)), "tags"},
		{base("enabled", "yes"), "enabled"},
		{base("version", 1), "version"},
		{base("webhook_url", "x"), "webhook_url"},
		{base("id", "x"), "id"},
	} {
		r := h.do("POST", "/api/profiles", c.body)
		r.wantError(t, 400, apperr.CodeValidation, c.field)
	}
	// Several problems are reported together.
	e := h.do("POST", "/api/profiles", base("name", nil, "concurrency", 0, "user_mode", "x")).wantError(t, 400, apperr.CodeValidation, "name")
	if len(e.Fields) != 3 {
		t.Fatalf("fields %v", e.Fields)
	}
	// Boundaries are accepted.
	ok := h.do("POST", "/api/profiles", base("minutes_per_unit", 0.25, "deletion_window_days", 366, "concurrency", 64, "pace", "fixed",
		"interval_minutes", 5, "project_strategy", "group", "user_mode", "explicit", "default_customer_id", 0, "tags", []string{})).want(t, 201).obj(t)
	if ok["minutes_per_unit"] != "0.25" || ok["interval_minutes"] != 5.0 || ok["concurrency"] != 64.0 || ok["pace"] != "fixed" {
		t.Fatalf("boundaries %v", ok)
	}
}

// TestProfileZammadSwitch: once a profile has run, it may only switch to a
// connector of the same Zammad instance.
func TestProfileZammadSwitch(t *testing.T) {
	h := newHarness(t)
	pr := h.createProfile("Support")
	pid := pr["id"].(string)
	same := h.createConnector("zammad", "Same Zammad, new token", "https://zammad.example.com/", "zammad-token-0009")
	h.hosts["other.example.com"] = []netip.Addr{netip.MustParseAddr("203.0.113.7")}
	other := h.createConnector("zammad", "Other Zammad", "https://other.example.com", "zammad-token-0010")
	version := func() float64 { return h.do("GET", "/api/profiles/"+pid, nil).want(t, 200).obj(t)["version"].(float64) }
	// Before any run: free to switch.
	h.do("PATCH", "/api/profiles/"+pid, map[string]any{"zammad_connector_id": other["id"], "version": version()}).want(t, 200)
	h.do("PATCH", "/api/profiles/"+pid, map[string]any{"zammad_connector_id": pr["zammad_connector_id"], "version": version()}).want(t, 200)
	h.do("POST", "/api/profiles/"+pid+"/runs", map[string]any{"mode": "full"}).want(t, 202)
	h.do("PATCH", "/api/profiles/"+pid, map[string]any{"zammad_connector_id": other["id"], "version": version()}).
		wantError(t, 409, apperr.CodeConflict, "zammad_connector_id")
	h.do("PATCH", "/api/profiles/"+pid, map[string]any{"zammad_connector_id": same["id"], "version": version()}).want(t, 200)
}

// TestProfilePairUnique: a second profile for the same Zammad instance and
// Kimai is refused (it would book every entry twice).
func TestProfilePairUnique(t *testing.T) {
	h := newHarness(t)
	pr := h.createProfile("Support")
	h.do("POST", "/api/profiles", map[string]any{"name": "Again", "zammad_connector_id": pr["zammad_connector_id"], "kimai_connector_id": pr["kimai_connector_id"]}).
		wantError(t, 409, apperr.CodeConflict, "zammad_connector_id")
	// Another connector to the same Zammad instance counts as the same.
	z2 := h.createConnector("zammad", "Same Zammad", "https://ZAMMAD.example.com/", "zammad-token-0011")
	h.do("POST", "/api/profiles", map[string]any{"name": "Again", "zammad_connector_id": z2["id"], "kimai_connector_id": pr["kimai_connector_id"]}).
		wantError(t, 409, apperr.CodeConflict, "zammad_connector_id")
}
