package kimaisim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/testkit"
)

// fixture is a running simulator with one user per role and a small
// catalog.
type fixture struct {
	s       *Server
	url     string
	clk     *testkit.Clock
	admin   User // ROLE_SUPER_ADMIN, Europe/Berlin
	lead    User // ROLE_TEAMLEAD, UTC
	user    User // ROLE_USER, UTC
	cust    Customer
	proj    Project
	act     Activity // belongs to proj
	global  Activity
	tagZ    Tag
	tagBill Tag
}

const (
	adminTok = "admin-token"
	leadTok  = "lead-token"
	userTok  = "user-token"
)

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	clk := testkit.NewClock(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
	s := New(append([]Option{WithClock(clk.Now)}, opts...)...)
	f := &fixture{s: s, clk: clk}
	f.admin = s.AddUser(User{Username: "susan", Email: "susan@example.com", Timezone: "Europe/Berlin", Roles: []string{RoleSuperAdmin}, Enabled: true}, adminTok)
	f.lead = s.AddUser(User{Username: "tony", Email: "tony@example.com", Roles: []string{RoleTeamlead}, Enabled: true}, leadTok)
	f.user = s.AddUser(User{Username: "john", Email: "john@example.com", Roles: []string{RoleUser}, Enabled: true}, userTok)
	s.AddUser(User{Username: "gone", Roles: []string{RoleAdmin}, Enabled: false}, "disabled-token")
	f.cust = s.AddCustomer(Customer{Name: "Acme"})
	f.proj = s.AddProject(Project{CustomerID: f.cust.ID, Name: "Support"})
	f.act = s.AddActivity(Activity{ProjectID: f.proj.ID, Name: "Phone"})
	f.global = s.AddActivity(Activity{Name: "Email"})
	f.tagZ = s.AddTag(Tag{Name: "zammad"})
	f.tagBill = s.AddTag(Tag{Name: "billing"})
	f.url = s.Start()
	t.Cleanup(s.Close)
	return f
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func (f *fixture) do(t *testing.T, method, path, token, body string) resp {
	t.Helper()
	return doReq(t, http.DefaultClient, method, f.url+path, token, body)
}

func doReq(t *testing.T, c *http.Client, method, u, token, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

// sheetBody is a valid timesheet body for the fixture's project/activity.
func (f *fixture) sheetBody(begin, end string, extra string) string {
	b := fmt.Sprintf(`{"begin":%q,"end":%q,"project":%d,"activity":%d`, begin, end, f.proj.ID, f.act.ID)
	if extra != "" {
		b += "," + extra
	}
	return b + "}"
}

func TestAuthErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		header     map[string]string
		wantStatus int
		wantBody   string
		wantWWW    bool
	}{
		{"no credentials", nil, 401, `{"code":401,"message":"Unauthorized"}`, false},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, 401, "", true},
		{"disabled user", map[string]string{"Authorization": "Bearer disabled-token"}, 401, "", true},
		{"lowercase scheme is not matched", map[string]string{"Authorization": "bearer " + userTok}, 401, `{"code":401,"message":"Unauthorized"}`, false},
		{"deprecated X-AUTH headers", map[string]string{"X-AUTH-USER": "john", "X-AUTH-TOKEN": "pw"}, 403, `{"message":"Invalid credentials"}`, false},
		{"valid token", map[string]string{"Authorization": "Bearer " + userTok}, 200, `{"message":"pong"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.url+"/api/ping", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.wantStatus || string(b) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
			www := res.Header.Get("WWW-Authenticate")
			if tt.wantWWW != (www != "") {
				t.Fatalf("WWW-Authenticate = %q", www)
			}
			if tt.wantWWW && !strings.Contains(www, `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q", www)
			}
		})
	}
	t.Run("revoked token", func(t *testing.T) {
		f.s.AddUser(f.user, "second-token")
		if r := f.do(t, "GET", "/api/ping", "second-token", ""); r.status != 200 {
			t.Fatalf("second token: %d", r.status)
		}
		f.s.RevokeToken("second-token")
		if r := f.do(t, "GET", "/api/ping", "second-token", ""); r.status != 401 || r.body != "" {
			t.Fatalf("revoked: %d %q", r.status, r.body)
		}
	})
}

func TestRoutingAndPermissionErrors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path, token string
		wantStatus                int
		wantBody                  string
	}{
		{"unknown route", "GET", "/api/nothing", userTok, 404, `{"code":404,"message":"Not Found"}`},
		{"non-numeric id", "GET", "/api/timesheets/abc", userTok, 404, `{"code":404,"message":"Not Found"}`},
		{"unknown id", "GET", "/api/timesheets/999", userTok, 404, `{"code":404,"message":"Not Found"}`},
		{"unknown customer", "GET", "/api/customers/999", userTok, 404, `{"code":404,"message":"Not Found"}`},
		{"wrong method", "PUT", "/api/timesheets/1", userTok, 405, `{"code":405,"message":"Method Not Allowed"}`},
		{"users needs view_user", "GET", "/api/users", userTok, 403, `{"code":403,"message":"Forbidden"}`},
		{"users as admin", "GET", "/api/users", adminTok, 200, ""},
		{"create customer needs permission", "POST", "/api/customers", userTok, 403, `{"code":403,"message":"Forbidden"}`},
		{"create project needs permission", "POST", "/api/projects", leadTok, 403, `{"code":403,"message":"Forbidden"}`},
		{"version", "GET", "/api/version", userTok, 200, `{"copyright":"Kimai 2.66.0 by Kevin Papst.","version":"2.66.0","versionId":26600}`},
		{"timesheet config", "GET", "/api/config/timesheet", userTok, 200, `{"trackingMode":"default","defaultBeginTime":"now","activeEntriesHardLimit":1,"isAllowFutureTimes":true,"isAllowOverlapping":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, tt.token, "")
			if r.status != tt.wantStatus || (tt.wantBody != "" && r.body != tt.wantBody) {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	var me userJSON
	f.do(t, "GET", "/api/users/me", adminTok, "").json(t, &me)
	if me.ID != f.admin.ID || me.Timezone != "Europe/Berlin" || me.Username != "susan" || me.Roles[0] != RoleSuperAdmin {
		t.Fatalf("me = %+v", me)
	}
}

func TestPermissionsFor(t *testing.T) {
	user := PermissionsFor(RoleUser)
	admin := PermissionsFor(RoleAdmin)
	for _, p := range []string{PermViewOtherTimesheet, PermEditExportOwn, PermViewUser} {
		if contains(user, p) {
			t.Errorf("ROLE_USER has %s", p)
		}
		if !contains(admin, p) {
			t.Errorf("ROLE_ADMIN lacks %s", p)
		}
	}
	if !contains(PermissionsFor(RoleTeamlead), PermCreateOtherTimesheet) || contains(PermissionsFor(RoleTeamlead), PermEditRateOwn) {
		t.Error("teamlead permissions wrong")
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestRounding(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, begin, end   string
		wantBegin, wantEnd string
		wantDuration       int64
	}{
		{"whole minutes unchanged", "2024-05-01T09:00:00", "2024-05-01T10:00:00", "2024-05-01T09:00:00+0000", "2024-05-01T10:00:00+0000", 3600},
		{"begin floored, end ceiled", "2024-05-01T09:00:59", "2024-05-01T10:00:01", "2024-05-01T09:00:00+0000", "2024-05-01T10:01:00+0000", 3660},
		{"seconds omitted", "2024-05-01T09:00", "2024-05-01T09:30", "2024-05-01T09:00:00+0000", "2024-05-01T09:30:00+0000", 1800},
		{"space separator", "2024-05-01 09:00:00", "2024-05-01 09:15:00", "2024-05-01T09:00:00+0000", "2024-05-01T09:15:00+0000", 900},
		{"fraction kept then rounded", "2024-05-01T09:00:00.5", "2024-05-01T09:10:00.25", "2024-05-01T09:00:00+0000", "2024-05-01T09:11:00+0000", 660},
		{"zero duration allowed", "2024-05-01T09:00:00", "2024-05-01T09:00:00", "2024-05-01T09:00:00+0000", "2024-05-01T09:00:00+0000", 0},
		{"kimai test: 14:35:59 to 03:29:01", "2020-03-27T14:35:59", "2020-03-28T03:29:01", "2020-03-27T14:35:00+0000", "2020-03-28T03:30:00+0000", 46500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody(tt.begin, tt.end, ""))
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got sheetEntityJSON
			r.json(t, &got)
			if got.Begin != tt.wantBegin || got.End == nil || *got.End != tt.wantEnd || got.Duration != tt.wantDuration {
				t.Fatalf("got %s – %v (%d), want %s – %s (%d)", got.Begin, deref(got.End), got.Duration, tt.wantBegin, tt.wantEnd, tt.wantDuration)
			}
			// PATCH rounds too.
			r = f.do(t, "PATCH", "/api/timesheets/"+strconv.FormatInt(got.ID, 10), userTok, `{"end":"`+tt.end+`"}`)
			var again sheetEntityJSON
			r.json(t, &again)
			if again.Duration != tt.wantDuration {
				t.Fatalf("after PATCH duration %d", again.Duration)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestTimezones(t *testing.T) {
	f := newFixture(t)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		name, begin, end   string
		wantBegin, wantEnd string
		wantDuration       int64
	}{
		{"summer wall clock in user tz", "2024-05-01T09:30:00", "2024-05-01T10:00:00", "2024-05-01T09:30:00+0200", "2024-05-01T10:00:00+0200", 1800},
		{"winter wall clock in user tz", "2024-01-15T09:30:00", "2024-01-15T10:00:00", "2024-01-15T09:30:00+0100", "2024-01-15T10:00:00+0100", 1800},
		{"across spring-forward is one real hour", "2024-03-31T01:30:00", "2024-03-31T03:30:00", "2024-03-31T01:30:00+0100", "2024-03-31T03:30:00+0200", 3600},
		{"time in the DST gap moves forward", "2024-03-31T02:30:00", "2024-03-31T04:00:00", "2024-03-31T03:30:00+0200", "2024-03-31T04:00:00+0200", 1800},
		{"ambiguous fall-back time is the first one", "2024-10-27T02:30:00", "2024-10-27T03:30:00", "2024-10-27T02:30:00+0200", "2024-10-27T03:30:00+0100", 7200},
		{"Z is honoured like PHP does", "2024-05-01T07:30:00Z", "2024-05-01T08:00:00Z", "2024-05-01T09:30:00+0200", "2024-05-01T10:00:00+0200", 1800},
		{"offset is honoured", "2024-05-01T09:30:00+00:00", "2024-05-01T10:00:00+0000", "2024-05-01T11:30:00+0200", "2024-05-01T12:00:00+0200", 1800},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/timesheets", adminTok, f.sheetBody(tt.begin, tt.end, ""))
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got sheetEntityJSON
			r.json(t, &got)
			if got.Begin != tt.wantBegin || deref(got.End) != tt.wantEnd || got.Duration != tt.wantDuration {
				t.Fatalf("got %s – %s (%d), want %s – %s (%d)", got.Begin, deref(got.End), got.Duration, tt.wantBegin, tt.wantEnd, tt.wantDuration)
			}
			ts, _ := f.s.Timesheet(got.ID)
			if ts.Begin.Location().String() != berlin.String() {
				t.Fatalf("domain begin location %v", ts.Begin.Location())
			}
		})
	}
	t.Run("trailing junk is invalid", func(t *testing.T) {
		r := f.do(t, "POST", "/api/timesheets", adminTok, f.sheetBody("2024-05-01T09:30:00 junk", "2024-05-01T10:00:00", ""))
		if r.status != 400 || !strings.Contains(r.body, `"begin":{"errors":["Please enter a valid date and time."]}`) {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("impossible date is invalid", func(t *testing.T) {
		r := f.do(t, "POST", "/api/timesheets", adminTok, f.sheetBody("2024-02-30T09:30:00", "2024-05-01T10:00:00", ""))
		if r.status != 400 || !strings.Contains(r.body, `"begin":{"errors"`) {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("record created for another user renders in the owner's zone", func(t *testing.T) {
		body := f.sheetBody("2024-05-01T09:30:00", "2024-05-01T10:00:00", fmt.Sprintf(`"user":%d`, f.user.ID))
		r := f.do(t, "POST", "/api/timesheets", adminTok, body)
		var got sheetEntityJSON
		r.json(t, &got)
		// Parsed in the API user's zone (Berlin), shown in the owner's (UTC).
		if got.Begin != "2024-05-01T07:30:00+0000" || got.User != f.user.ID {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("filters use the API user's zone, modified_after UTC", func(t *testing.T) {
		q := "/api/timesheets?size=500&begin=2024-05-01T09:30:00&end=2024-05-01T09:30:00"
		var list []sheetJSON
		f.do(t, "GET", q, adminTok, "").json(t, &list)
		if len(list) != 2 { // the summer record and the Z one
			t.Fatalf("got %d records", len(list))
		}
		f.do(t, "GET", "/api/timesheets?modified_after=2024-06-01T12:00:00", adminTok, "").json(t, &list)
		if len(list) == 0 {
			t.Fatal("modified_after in UTC should include records modified at 12:00 UTC")
		}
		f.do(t, "GET", "/api/timesheets?modified_after=2024-06-01T12:00:01", adminTok, "").json(t, &list)
		if len(list) != 0 {
			t.Fatalf("modified_after after the last change: %d", len(list))
		}
	})
}

func TestParseFormDateTimeDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		in      string
		wantUTC string
		ok      bool
	}{
		{"2024-03-31T01:59:59", "2024-03-31T00:59:59Z", true},
		{"2024-03-31T02:00:00", "2024-03-31T01:00:00Z", true}, // gap start → 03:00 CEST
		{"2024-03-31T03:00:00", "2024-03-31T01:00:00Z", true},
		{"2024-10-27T02:00:00", "2024-10-27T00:00:00Z", true}, // first (CEST) occurrence
		{"2024-10-27T03:00:00", "2024-10-27T02:00:00Z", true},
		{"2024-05-01T10:00:00 Europe/London", "2024-05-01T09:00:00Z", true},
		{"2024-05-01T24:00:00", "", false},
		{"2024-05-01", "", false},
		{"01.05.2024 10:00", "", false},
	}
	for _, tt := range tests {
		got, ok := parseFormDateTime(tt.in, berlin)
		if ok != tt.ok || (ok && got.UTC().Format(time.RFC3339) != tt.wantUTC) {
			t.Errorf("%s: got %v %v, want %s %v", tt.in, got.UTC(), ok, tt.wantUTC, tt.ok)
		}
	}
}

func TestExtraFieldsTrap(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		token string
		extra string
		want  int
	}{
		{"user may not set user", userTok, fmt.Sprintf(`"user":%d`, 2), 400},
		{"user may not set billable", userTok, `"billable":true`, 400},
		{"user may not set billable even to false", userTok, `"billable":false`, 400},
		{"user may not set exported", userTok, `"exported":false`, 400},
		{"user may not set fixedRate", userTok, `"fixedRate":10`, 400},
		{"teamlead may set billable", leadTok, `"billable":false`, 200},
		{"teamlead may set exported", leadTok, `"exported":true`, 200},
		{"teamlead may set user", leadTok, fmt.Sprintf(`"user":%d`, f.user.ID), 200},
		{"teamlead may not set hourlyRate", leadTok, `"hourlyRate":100`, 400},
		{"admin may set hourly_rate (snake case is camelised)", adminTok, `"hourly_rate":100`, 200},
		{"duration is always rejected", adminTok, `"duration":3600`, 400},
		{"metaFields are always rejected", adminTok, `"metaFields":[]`, 400},
		{"customer is always rejected", adminTok, fmt.Sprintf(`"customer":%d`, f.cust.ID), 400},
		{"unknown key is rejected", adminTok, `"foo":"bar"`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.s.Timesheets())
			r := f.do(t, "POST", "/api/timesheets", tt.token, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", tt.extra))
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 400 {
				var body struct {
					Code   int
					Errors struct {
						Errors []string
					}
				}
				r.json(t, &body)
				if body.Code != 400 || len(body.Errors.Errors) != 1 || body.Errors.Errors[0] != "This form should not contain extra fields." {
					t.Fatalf("body %s", r.body)
				}
				if len(f.s.Timesheets()) != before {
					t.Fatal("a rejected request wrote a timesheet")
				}
			}
		})
	}
	t.Run("PATCH too", func(t *testing.T) {
		r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", ""))
		var ts sheetJSON
		r.json(t, &ts)
		r = f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d", ts.ID), userTok, `{"exported":true}`)
		if r.status != 400 || !strings.Contains(r.body, "extra fields") {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
}

func TestValidationBodies(t *testing.T) {
	f := newFixture(t)
	hidden := f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Hidden", Hidden: true})
	noGlobals := f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Strict", NoGlobalActivities: true})
	other := f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Other"})
	hiddenAct := f.s.AddActivity(Activity{Name: "Old", Hidden: true})
	hiddenCust := f.s.AddCustomer(Customer{Name: "Gone", Hidden: true})
	projOfHiddenCust := f.s.AddProject(Project{CustomerID: hiddenCust.ID, Name: "Orphan"})
	ended := f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Ended", End: time.Date(2024, 1, 31, 23, 59, 59, 0, time.UTC)})
	children := func(extra map[string]string) string {
		var parts []string
		for _, k := range []string{"begin", "end", "project", "activity", "description", "tags"} {
			if v, ok := extra[k]; ok {
				parts = append(parts, fmt.Sprintf(`%q:{"errors":[%q]}`, k, v))
			} else {
				parts = append(parts, fmt.Sprintf(`%q:{}`, k))
			}
		}
		return `"children":{` + strings.Join(parts, ",") + `}`
	}
	body := func(global []string, child map[string]string) string {
		g := ""
		if len(global) > 0 {
			b, _ := json.Marshal(global)
			g = `"errors":` + string(b) + ","
		}
		return `{"code":400,"message":"Validation Failed","errors":{` + g + children(child) + `}}`
	}
	tests := []struct {
		name string
		req  string
		want string
	}{
		{"end before begin (and unknown project)",
			fmt.Sprintf(`{"begin":"2024-05-01T10:00:00","end":"2024-05-01T09:00:00","project":999,"activity":%d}`, f.global.ID),
			body([]string{msgEndBeforeBegin}, map[string]string{"project": msgInvalidChoice})},
		{"hidden project is not a choice",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, hidden.ID, f.global.ID),
			body(nil, map[string]string{"project": msgInvalidChoice})},
		{"project of hidden customer is not a choice",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, projOfHiddenCust.ID, f.global.ID),
			body(nil, map[string]string{"project": msgInvalidChoice})},
		{"hidden activity is not a choice",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, f.proj.ID, hiddenAct.ID),
			body(nil, map[string]string{"activity": msgInvalidChoice})},
		{"activity of another project",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, other.ID, f.act.ID),
			body(nil, map[string]string{"project": msgProjectMismatch})},
		{"global activity on a project without globals",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, noGlobals.ID, f.global.ID),
			body(nil, map[string]string{"activity": msgNoGlobals})},
		{"missing project and activity",
			`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00"}`,
			body(nil, map[string]string{"project": msgMissingProject, "activity": msgMissingActivity})},
		{"tags as an array",
			f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", `"tags":["zammad"]`),
			body(nil, map[string]string{"tags": msgInvalidValue})},
		{"longer than a year",
			f.sheetBody("2023-01-01T00:00:00", "2024-05-01T10:00:00", ""),
			body([]string{msgMaxDuration}, nil)},
		{"after the project ended",
			fmt.Sprintf(`{"begin":"2024-05-01T09:00:00","end":"2024-05-01T10:00:00","project":%d,"activity":%d}`, ended.ID, f.global.ID),
			body([]string{msgProjEnded}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "POST", "/api/timesheets", userTok, tt.req)
			if r.status != 400 || r.body != tt.want {
				t.Fatalf("got %d\n%s\nwant\n%s", r.status, r.body, tt.want)
			}
		})
	}
	t.Run("malformed JSON is a bare 400", func(t *testing.T) {
		r := f.do(t, "POST", "/api/timesheets", userTok, `{"begin":`)
		if r.status != 400 || r.body != `{"code":400,"message":"Bad Request"}` {
			t.Fatalf("got %d %s", r.status, r.body)
		}
	})
	t.Run("catalog validation", func(t *testing.T) {
		f.s.AddCustomer(Customer{Name: "Numbered", Number: "C-1"})
		cases := []struct {
			path, body, field, msg string
		}{
			{"/api/customers", `{"name":"A"}`, "name", msgTooShort(2)},
			{"/api/customers", `{"name":"` + strings.Repeat("x", 151) + `"}`, "name", msgTooLong(150)},
			{"/api/customers", `{"name":"a<b>"}`, "name", msgSpecialChars},
			{"/api/customers", `{"name":"Dup","number":"C-1"}`, "number", msgNumberUsed("C-1")},
			{"/api/customers", `{"name":"Long","number":"` + strings.Repeat("1", 51) + `"}`, "number", msgTooLong(50)},
			{"/api/customers", `{"name":"Bad tz","timezone":"Mars/Base"}`, "timezone", "This value is not a valid timezone."},
			{"/api/projects", fmt.Sprintf(`{"name":"P","customer":%d}`, f.cust.ID), "name", msgTooShort(2)},
			{"/api/projects", fmt.Sprintf(`{"name":"Proj","customer":%d,"number":"12345678901"}`, f.cust.ID), "number", msgTooLong(10)},
			{"/api/projects", `{"name":"Proj","customer":999}`, "customer", msgInvalidChoice},
			{"/api/activities", `{"name":"Act","number":"12345678901"}`, "number", msgTooLong(10)},
			{"/api/tags", `{"name":"a,b"}`, "name", msgTagComma},
			{"/api/tags", `{"name":"ZAMMAD"}`, "name", msgAlreadyUsed},
			{"/api/tags", `{"name":"x"}`, "name", msgTooShort(2)},
		}
		for _, c := range cases {
			r := f.do(t, "POST", c.path, adminTok, c.body)
			want := fmt.Sprintf(`%q:{"errors":[%q]}`, c.field, c.msg)
			if r.status != 400 || !strings.Contains(r.body, want) {
				t.Errorf("%s %s: got %d %s, want %s", c.path, c.body, r.status, r.body, want)
			}
		}
	})
}

func TestCatalog(t *testing.T) {
	f := newFixture(t)
	future := f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Future", Start: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	f.s.AddProject(Project{CustomerID: f.cust.ID, Name: "Hidden", Hidden: true})
	f.s.AddActivity(Activity{Name: "Hidden act", Hidden: true})
	other := f.s.AddCustomer(Customer{Name: "Other Co"})
	otherProj := f.s.AddProject(Project{CustomerID: other.ID, Name: "Other proj"})
	f.s.AddActivity(Activity{ProjectID: otherProj.ID, Name: "Other act"})
	names := func(path string) []string {
		var list []struct{ Name string }
		f.do(t, "GET", path, userTok, "").json(t, &list)
		var out []string
		for _, x := range list {
			out = append(out, x.Name)
		}
		return out
	}
	tests := []struct {
		path string
		want string
	}{
		{"/api/projects", "Other proj,Support"},
		{"/api/projects?ignoreDates=1", "Future,Other proj,Support"},
		{"/api/projects?ignoreDates=1&visible=3", "Future,Hidden,Other proj,Support"},
		{"/api/projects?visible=2&ignoreDates=1", "Hidden"},
		{fmt.Sprintf("/api/projects?customer=%d", other.ID), "Other proj"},
		{"/api/activities", "Email,Other act,Phone"},
		{"/api/activities?visible=3", "Email,Hidden act,Other act,Phone"},
		{"/api/activities?globals=1", "Email"},
		{fmt.Sprintf("/api/activities?project=%d", f.proj.ID), "Email,Phone"},
		{"/api/customers", "Acme,Other Co"},
		{"/api/customers?term=other", "Other Co"},
	}
	for _, tt := range tests {
		if got := strings.Join(names(tt.path), ","); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.path, got, tt.want)
		}
	}
	_ = future

	t.Run("create with 2.63 defaults", func(t *testing.T) {
		r := f.do(t, "POST", "/api/customers", adminTok, `{"name":"New Co"}`)
		var c customerJSON
		r.json(t, &c)
		if r.status != 200 || !c.Visible || !c.Billable || c.Country != "DE" || c.Currency != "EUR" || c.Timezone != "UTC" || c.Number == "" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		r = f.do(t, "POST", "/api/projects", adminTok, fmt.Sprintf(`{"name":"New P","customer":%d,"number":"ZT-1","visible":true,"billable":false,"globalActivities":false}`, c.ID))
		var p projectJSON
		r.json(t, &p)
		if r.status != 200 || p.Number != "ZT-1" || p.Billable || p.GlobalActivities || !p.Visible || p.Customer != c.ID {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		r = f.do(t, "POST", "/api/activities", adminTok, `{"name":"Global act","visible":true}`)
		var a activityJSON
		r.json(t, &a)
		if r.status != 200 || a.Project != nil {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		if got := f.s.Customers(); got[len(got)-1].Name != "New Co" {
			t.Fatalf("Customers() = %+v", got)
		}
	})
	t.Run("tags", func(t *testing.T) {
		r := f.do(t, "POST", "/api/tags", userTok, `{"name":" ZT-42 "}`)
		var tg tagJSON
		r.json(t, &tg)
		if r.status != 200 || tg.Name != "ZT-42" || !tg.Visible {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		var found []tagJSON
		f.do(t, "GET", "/api/tags/find?name=zt", userTok, "").json(t, &found)
		if len(found) != 1 || found[0].Name != "ZT-42" {
			t.Fatalf("find: %+v", found)
		}
		f.do(t, "GET", "/api/tags/find", userTok, "").json(t, &found)
		if len(found) != 0 {
			t.Fatalf("find without name: %+v", found)
		}
	})
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", `"tags":"zammad, unknown ,ZAMMAD,billing"`))
	var ts sheetJSON
	r.json(t, &ts)
	if strings.Join(ts.Tags, ",") != "zammad,billing" {
		t.Fatalf("tags %v", ts.Tags)
	}
	f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-02T09:00:00", "2024-05-02T10:00:00", `"tags":"billing"`))
	tests := []struct {
		query      string
		wantStatus int
		wantCount  int
	}{
		{"tags[]=zammad", 200, 1},
		{"tags[]=billing", 200, 2},
		{"tags[]=zammad&tags[]=billing", 200, 2},
		{"tags[]=nope", 400, 0},
	}
	for _, tt := range tests {
		r := f.do(t, "GET", "/api/timesheets?"+tt.query, userTok, "")
		if r.status != tt.wantStatus {
			t.Fatalf("%s: status %d", tt.query, r.status)
		}
		if r.status == 200 {
			var list []sheetJSON
			r.json(t, &list)
			if len(list) != tt.wantCount {
				t.Errorf("%s: %d results, want %d", tt.query, len(list), tt.wantCount)
			}
		}
	}
	// PATCH with an empty string clears the tags.
	r = f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d", ts.ID), userTok, `{"tags":""}`)
	r.json(t, &ts)
	if len(ts.Tags) != 0 {
		t.Fatalf("tags after clearing: %v", ts.Tags)
	}
}

func TestExportedAndOwnership(t *testing.T) {
	f := newFixture(t)
	mk := func(token string) int64 {
		r := f.do(t, "POST", "/api/timesheets", token, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", ""))
		var ts sheetJSON
		r.json(t, &ts)
		return ts.ID
	}
	userSheet := mk(userTok)
	exported := mk(userTok)
	if !f.s.SetExported(exported, true) {
		t.Fatal("SetExported")
	}
	tests := []struct {
		name, method string
		id           int64
		token        string
		want         int
	}{
		{"user cannot patch exported", "PATCH", exported, userTok, 403},
		{"user cannot delete exported", "DELETE", exported, userTok, 403},
		{"teamlead cannot patch exported", "PATCH", exported, leadTok, 403},
		{"admin may patch exported", "PATCH", exported, adminTok, 200},
		{"user cannot see another's timesheet", "GET", mk(leadTok), userTok, 403},
		{"teamlead may patch another's timesheet", "PATCH", userSheet, leadTok, 200},
		{"admin may delete exported", "DELETE", exported, adminTok, 204},
		{"deleted is gone", "GET", exported, adminTok, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "PATCH" {
				body = `{"description":"changed"}`
			}
			r := f.do(t, tt.method, fmt.Sprintf("/api/timesheets/%d", tt.id), tt.token, body)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 403 && r.body != `{"code":403,"message":"Forbidden"}` {
				t.Fatalf("body %s", r.body)
			}
			if tt.want == 204 && r.body != "" {
				t.Fatalf("204 with body %q", r.body)
			}
		})
	}
}

func TestPatchSemantics(t *testing.T) {
	f := newFixture(t)
	r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", `"description":"first","tags":"zammad"`))
	var ts sheetEntityJSON
	r.json(t, &ts)
	path := fmt.Sprintf("/api/timesheets/%d", ts.ID)
	created, _ := f.s.Sheet(ts.ID)

	f.clk.Add(time.Minute)
	if r = f.do(t, "PATCH", path, userTok, `{"description":"first"}`); r.status != 200 {
		t.Fatalf("no-op PATCH: %d %s", r.status, r.body)
	}
	if sh, _ := f.s.Sheet(ts.ID); !sh.ModifiedAt.Equal(created.ModifiedAt) {
		t.Fatalf("no-op PATCH bumped modifiedAt: %v → %v", created.ModifiedAt, sh.ModifiedAt)
	}
	r = f.do(t, "PATCH", path, userTok, `{"description":"second"}`)
	r.json(t, &ts)
	sh, _ := f.s.Sheet(ts.ID)
	if ts.Description == nil || *ts.Description != "second" || ts.Tags[0] != "zammad" || ts.Duration != 3600 {
		t.Fatalf("PATCH lost fields: %s", r.body)
	}
	if !sh.ModifiedAt.After(created.ModifiedAt) {
		t.Fatal("PATCH did not bump modifiedAt")
	}
	r = f.do(t, "PATCH", path, userTok, `{"end":null}`)
	r.json(t, &ts)
	if ts.End != nil || ts.Duration != 0 {
		t.Fatalf("end:null should reopen: %s", r.body)
	}

	f.clk.Add(time.Minute)
	if !f.s.EditTimesheet(ts.ID, func(s *Sheet) { s.Description = "edited by a human"; s.End = s.Begin.Add(90*time.Minute + time.Second) }) {
		t.Fatal("EditTimesheet")
	}
	after, _ := f.s.Sheet(ts.ID)
	if after.Duration != 91*60 || !after.ModifiedAt.After(sh.ModifiedAt) {
		t.Fatalf("EditTimesheet: %+v", after)
	}
	if f.s.EditTimesheet(999, func(*Sheet) {}) || f.s.DeleteTimesheet(999) || f.s.SetExported(999, true) {
		t.Fatal("mutating a missing timesheet reported success")
	}
	if !f.s.DeleteTimesheet(ts.ID) {
		t.Fatal("DeleteTimesheet")
	}
	if _, ok := f.s.Timesheet(ts.ID); ok {
		t.Fatal("still there")
	}
}

func TestRunningTimesheets(t *testing.T) {
	f := newFixture(t)
	body := fmt.Sprintf(`{"begin":"2024-06-01T08:00:00","project":%d,"activity":%d}`, f.proj.ID, f.act.ID)
	var first, second sheetJSON
	f.do(t, "POST", "/api/timesheets", userTok, body).json(t, &first)
	if first.End != nil {
		t.Fatalf("omitted end should start a timer: %+v", first)
	}
	f.do(t, "POST", "/api/timesheets", userTok, body).json(t, &second)
	sh, _ := f.s.Sheet(first.ID)
	if sh.Running() {
		t.Fatal("starting a second timer should stop the first (hard limit 1)")
	}
	var active []sheetJSON
	f.do(t, "GET", "/api/timesheets?active=1", userTok, "").json(t, &active)
	if len(active) != 1 || active[0].ID != second.ID {
		t.Fatalf("active = %+v", active)
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	post := func(token, begin, end, desc string) int64 {
		var ts sheetJSON
		r := f.do(t, "POST", "/api/timesheets", token, f.sheetBody(begin, end, fmt.Sprintf(`"description":%q`, desc)))
		r.json(t, &ts)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return ts.ID
	}
	a := post(userTok, "2024-05-01T09:00:00", "2024-05-01T10:00:00", "Ticket ZT-123 fixed printer")
	b := post(userTok, "2024-05-01T23:00:00", "2024-05-02T01:00:00", "ZT-1234 other ticket")
	c := post(userTok, "2024-05-03T09:00:00", "2024-05-03T10:00:00", "zammad:123 meta-like")
	d := post(leadTok, "2024-05-01T09:00:00", "2024-05-01T10:00:00", "lead's own ZT-123")
	f.s.SetExported(c, true)
	ids := func(q, token string) string {
		r := f.do(t, "GET", "/api/timesheets?"+q, token, "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var list []sheetJSON
		r.json(t, &list)
		var out []string
		for _, x := range list {
			out = append(out, strconv.FormatInt(x.ID, 10))
		}
		return strings.Join(out, ",")
	}
	id := func(ids ...int64) string {
		var out []string
		for _, x := range ids {
			out = append(out, strconv.FormatInt(x, 10))
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name, query, token, want string
	}{
		{"own records, default order begin DESC", "", userTok, id(c, b, a)},
		{"orderBy id ASC", "orderBy=id&order=ASC", userTok, id(a, b, c)},
		{"user=all ignored without view_other_timesheet", "user=all&orderBy=id&order=ASC", userTok, id(a, b, c)},
		{"user=<other> ignored without permission", fmt.Sprintf("user=%d", f.lead.ID), userTok, id(c, b, a)},
		{"user=all with permission", "user=all&orderBy=id&order=ASC", leadTok, id(a, b, c, d)},
		{"user=<id> with permission", fmt.Sprintf("user=%d&orderBy=id&order=ASC", f.user.ID), leadTok, id(a, b, c)},
		{"end compares begin times", "end=2024-05-01T23:30:00&orderBy=id&order=ASC", userTok, id(a, b)},
		{"begin filter", "begin=2024-05-01T23:00:00&orderBy=id&order=ASC", userTok, id(b, c)},
		{"exported=1", "exported=1", userTok, id(c)},
		{"exported=0", "exported=0&orderBy=id&order=ASC", userTok, id(a, b)},
		{"term is a LIKE: ZT-123 also finds ZT-1234", "term=ZT-123&orderBy=id&order=ASC", userTok, id(a, b)},
		{"term is case-insensitive", "term=zt-1234", userTok, id(b)},
		{"term tokens are ANDed", "term=ticket+printer", userTok, id(a)},
		{"excluded token", "term=ZT+!printer", userTok, id(b)},
		{"name:value token searches meta fields only", "term=zammad:123", userTok, ""},
		{"name: with empty value is a plain term", "term=zammad:", userTok, id(c)},
		{"_ is a LIKE wildcard", "term=ZT_123&orderBy=id&order=ASC", userTok, id(a, b)},
		{"project filter", fmt.Sprintf("project=%d&orderBy=id&order=ASC", f.proj.ID), userTok, id(a, b, c)},
		{"unknown project", "project=999", userTok, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.query, tt.token); got != tt.want {
				t.Fatalf("got [%s], want [%s]", got, tt.want)
			}
		})
	}
	for _, q := range []string{"user=me", "page=x", "size=0", "orderBy=duration", "order=up", "begin=2024-05-01", "modified_after=yesterday", "exported=yes"} {
		if r := f.do(t, "GET", "/api/timesheets?"+q, userTok, ""); r.status != 400 || r.body != `{"code":400,"message":"Bad Request"}` {
			t.Errorf("%s: got %d %s", q, r.status, r.body)
		}
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 1203; i++ {
		f.s.AddTimesheet(Sheet{UserID: f.user.ID, ProjectID: f.proj.ID, ActivityID: f.act.ID,
			Begin: base.Add(time.Duration(i) * time.Hour), End: base.Add(time.Duration(i)*time.Hour + 30*time.Minute)})
	}
	tests := []struct {
		query                       string
		wantStatus                  int
		wantItems                   int
		page, perPage, total, pages string
	}{
		{"", 200, 50, "1", "50", "1203", "25"},
		{"size=1000", 200, 500, "1", "500", "1203", "3"},
		{"size=500&page=3", 200, 203, "3", "500", "1203", "3"},
		{"size=500&page=4", 404, 0, "", "", "", ""},
		{"size=500&page=0", 404, 0, "", "", "", ""},
		{"size=500&begin=2030-01-01T00:00:00", 200, 0, "1", "500", "0", "1"},
		{"size=500&page=2&begin=2030-01-01T00:00:00", 404, 0, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := f.do(t, "GET", "/api/timesheets?"+tt.query, userTok, "")
			if r.status != tt.wantStatus {
				t.Fatalf("status %d", r.status)
			}
			if r.status != 200 {
				if r.body != `{"code":404,"message":"Not Found"}` {
					t.Fatalf("body %s", r.body)
				}
				return
			}
			var list []sheetJSON
			r.json(t, &list)
			h := r.header
			if len(list) != tt.wantItems || h.Get("X-Page") != tt.page || h.Get("X-Per-Page") != tt.perPage ||
				h.Get("X-Total-Count") != tt.total || h.Get("X-Total-Pages") != tt.pages {
				t.Fatalf("items %d, headers %v %v %v %v", len(list), h.Get("X-Page"), h.Get("X-Per-Page"), h.Get("X-Total-Count"), h.Get("X-Total-Pages"))
			}
		})
	}
	// Collection items have no fixedRate/hourlyRate keys; entities do.
	r := f.do(t, "GET", "/api/timesheets?size=1", userTok, "")
	if strings.Contains(r.body, "hourlyRate") {
		t.Fatal("collection item has hourlyRate")
	}
	if r := f.do(t, "GET", "/api/timesheets/1", userTok, ""); !strings.Contains(r.body, `"hourlyRate":null`) {
		t.Fatalf("entity lacks hourlyRate: %s", r.body)
	}
	if n := len(f.s.Timesheets()); n != 1203 {
		t.Fatalf("Timesheets() = %d", n)
	}
}

func TestFaults(t *testing.T) {
	t.Run("error rate", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{ErrorRate: 1})
		r := f.do(t, "GET", "/api/ping", userTok, "")
		if r.status != 500 || r.body != `{"code":500,"message":"Internal Server Error"}` {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		f.s.ClearFaults()
		if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 200 {
			t.Fatalf("after clear: %d", r.status)
		}
	})
	t.Run("rate limit with Retry-After", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{RateLimitRate: 1, RetryAfter: 1500 * time.Millisecond})
		r := f.do(t, "GET", "/api/ping", userTok, "")
		if r.status != 429 || r.header.Get("Retry-After") != "2" || r.body != `{"code":429,"message":"Too Many Requests"}` {
			t.Fatalf("got %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	})
	t.Run("latency", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{Latency: 50 * time.Millisecond})
		start := time.Now()
		f.do(t, "GET", "/api/ping", userTok, "")
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("took %v", d)
		}
	})
	t.Run("hang until the client gives up", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{HangRate: 1})
		c := &http.Client{Timeout: 100 * time.Millisecond}
		start := time.Now()
		req, _ := http.NewRequest("POST", f.url+"/api/timesheets", strings.NewReader(f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", "")))
		req.Header.Set("Authorization", "Bearer "+userTok)
		if _, err := c.Do(req); err == nil {
			t.Fatal("expected a timeout")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		if n := len(f.s.Timesheets()); n != 0 {
			t.Fatalf("a hung request wrote %d timesheets", n)
		}
	})
	t.Run("hang ends after MaxHang", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{HangRate: 1, MaxHang: 30 * time.Millisecond})
		if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 200 {
			t.Fatalf("got %d", r.status)
		}
	})
	t.Run("Close releases hanging requests", func(t *testing.T) {
		s := New()
		s.AddUser(User{Username: "x", Enabled: true}, "t")
		u := s.Start()
		s.SetFaults(Faults{HangRate: 1})
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, _ := http.NewRequest("GET", u+"/api/ping", nil)
			req.Header.Set("Authorization", "Bearer t")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		s.Close()
		<-done
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Close took %v", d)
		}
	})
	t.Run("fail after write answers 500 but commits", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{FailAfterWriteRate: 1})
		r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", ""))
		if r.status != 500 {
			t.Fatalf("got %d", r.status)
		}
		if n := len(f.s.Timesheets()); n != 1 {
			t.Fatalf("%d timesheets, want the committed one", n)
		}
		// A refused write is answered as is.
		r = f.do(t, "POST", "/api/timesheets", userTok, `{"project":999}`)
		if r.status != 400 {
			t.Fatalf("refused write: %d", r.status)
		}
		// Reads are not affected.
		if r := f.do(t, "GET", "/api/timesheets", userTok, ""); r.status != 200 {
			t.Fatalf("GET: %d", r.status)
		}
		// PATCH and DELETE commit too.
		id := f.s.Timesheets()[0].ID
		f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d", id), userTok, `{"description":"patched"}`)
		if ts, _ := f.s.Timesheet(id); ts.Description != "patched" {
			t.Fatal("PATCH not committed")
		}
		f.do(t, "DELETE", fmt.Sprintf("/api/timesheets/%d", id), userTok, "")
		if _, ok := f.s.Timesheet(id); ok {
			t.Fatal("DELETE not committed")
		}
	})
	t.Run("slow commit: the client gives up, the write happens later", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{SlowCommitRate: 1, SlowCommitDelay: 300 * time.Millisecond})
		c := &http.Client{Timeout: 50 * time.Millisecond}
		req, _ := http.NewRequest("POST", f.url+"/api/timesheets", strings.NewReader(f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", "")))
		req.Header.Set("Authorization", "Bearer "+userTok)
		if res, err := c.Do(req); err == nil {
			res.Body.Close()
			t.Fatalf("expected a timeout, got %d", res.StatusCode)
		}
		if n := len(f.s.Timesheets()); n != 0 {
			t.Fatalf("committed before the delay: %d", n)
		}
		f.s.AwaitSlowCommitsStarted(1)
		f.s.WaitIdle()
		if n := len(f.s.Timesheets()); n != 1 || f.s.SlowCommits() != 1 {
			t.Fatalf("after the delay: %d timesheets, %d slow commits", n, f.s.SlowCommits())
		}
		// A client that waits gets the normal answer.
		r := f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-02T09:00:00", "2024-05-02T10:00:00", ""))
		if r.status != 200 || !strings.Contains(r.body, `"id":2`) {
			t.Fatalf("waiting client: %d %s", r.status, r.body)
		}
		f.s.WaitIdle()
		if n := len(f.s.Timesheets()); n != 2 || f.s.SlowCommits() != 2 {
			t.Fatalf("%d timesheets, %d slow commits", n, f.s.SlowCommits())
		}
		// Reads are never slow.
		start := time.Now()
		if r := f.do(t, "GET", "/api/timesheets", userTok, ""); r.status != 200 || time.Since(start) > 250*time.Millisecond {
			t.Fatalf("GET: %d after %v", r.status, time.Since(start))
		}
	})
	t.Run("Close applies pending slow commits at once", func(t *testing.T) {
		s := New()
		s.AddUser(User{Username: "x", Enabled: true, Roles: []string{RoleSuperAdmin}}, "t")
		u := s.Start()
		s.SetFaults(Faults{SlowCommitRate: 1, SlowCommitDelay: time.Hour})
		go func() {
			req, _ := http.NewRequest("DELETE", u+"/api/timesheets/1", nil)
			req.Header.Set("Authorization", "Bearer t")
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
			}
		}()
		s.AwaitSlowCommitsStarted(1)
		start := time.Now()
		s.Close()
		s.WaitIdle()
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Close took %v", d)
		}
		if s.SlowCommits() != 1 {
			t.Fatalf("slow commits %d", s.SlowCommits())
		}
	})
	t.Run("fail after write can drop the connection", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{FailAfterWriteRate: 1, DropConnection: true})
		req, _ := http.NewRequest("POST", f.url+"/api/timesheets", strings.NewReader(f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", "")))
		req.Header.Set("Authorization", "Bearer "+userTok)
		// A POST is not retried by net/http after a dropped connection.
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			t.Fatalf("expected a transport error, got %d", res.StatusCode)
		}
		if n := len(f.s.Timesheets()); n != 1 {
			t.Fatalf("%d timesheets", n)
		}
	})
	t.Run("targeting by method and path", func(t *testing.T) {
		f := newFixture(t)
		f.s.SetFaults(Faults{ErrorRate: 1, Method: "POST", PathPrefix: "/api/timesheets"})
		if r := f.do(t, "GET", "/api/timesheets", userTok, ""); r.status != 200 {
			t.Fatalf("GET affected: %d", r.status)
		}
		if r := f.do(t, "POST", "/api/tags", userTok, `{"name":"other"}`); r.status != 200 {
			t.Fatalf("other POST affected: %d", r.status)
		}
		if r := f.do(t, "POST", "/api/timesheets", userTok, "{}"); r.status != 500 {
			t.Fatalf("target not affected: %d", r.status)
		}
		f.s.SetFaults(Faults{ErrorRate: 1, Match: func(method, path string) bool { return path == "/api/version" }})
		if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 200 {
			t.Fatalf("Match: ping affected: %d", r.status)
		}
		if r := f.do(t, "GET", "/api/version", userTok, ""); r.status != 500 {
			t.Fatalf("Match: version not affected: %d", r.status)
		}
	})
	t.Run("Max counts the settings a request matched", func(t *testing.T) {
		f := newFixture(t)
		next := Faults{ErrorRate: 1, Max: 1, PathPrefix: "/api/version"}
		var once sync.Once
		// The first request replaces the settings while it is being
		// decided: it still fails, but must not use up the new Max.
		f.s.SetFaults(Faults{ErrorRate: 1, Max: 1, Match: func(string, string) bool {
			once.Do(func() { f.s.SetFaults(next) })
			return true
		}})
		if r := f.do(t, "GET", "/api/ping", userTok, ""); r.status != 500 {
			t.Fatalf("the deciding request: %d", r.status)
		}
		if r := f.do(t, "GET", "/api/version", userTok, ""); r.status != 500 {
			t.Fatalf("the new settings' first fault: %d", r.status)
		}
		if r := f.do(t, "GET", "/api/version", userTok, ""); r.status != 200 || f.s.FaultsInjected() != 1 {
			t.Fatalf("after Max: %d, injected %d", r.status, f.s.FaultsInjected())
		}
	})
	t.Run("seeded randomness is reproducible", func(t *testing.T) {
		seq := func() string {
			f := newFixture(t, WithSeed(42))
			f.s.SetFaults(Faults{ErrorRate: 0.5})
			var b strings.Builder
			for i := 0; i < 32; i++ {
				if f.do(t, "GET", "/api/ping", userTok, "").status == 500 {
					b.WriteByte('x')
				} else {
					b.WriteByte('.')
				}
			}
			return b.String()
		}
		a, b := seq(), seq()
		if a != b || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
			t.Fatalf("sequences %s / %s", a, b)
		}
	})
}

func TestRequestCounters(t *testing.T) {
	f := newFixture(t)
	f.do(t, "POST", "/api/timesheets", userTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T10:00:00", ""))
	f.do(t, "GET", "/api/timesheets/1", userTok, "")
	f.do(t, "GET", "/api/timesheets/2", userTok, "")
	f.do(t, "GET", "/api/timesheets", "", "")
	got := f.s.Requests()
	want := map[string]int{"POST /api/timesheets": 1, "GET /api/timesheets/{id}": 2, "GET /api/timesheets": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	f.s.ResetCounters()
	if len(f.s.Requests()) != 0 {
		t.Fatal("ResetCounters")
	}
}

// TestConcurrentUse exercises the simulator from many goroutines (run with
// -race), including fault changes while serving.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				begin := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i*10+j) * time.Hour)
				body := f.sheetBody(begin.Format("2006-01-02T15:04:05"), begin.Add(30*time.Minute).Format("2006-01-02T15:04:05"), "")
				req, _ := http.NewRequestWithContext(context.Background(), "POST", f.url+"/api/timesheets", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+userTok)
				if res, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				f.s.Timesheets()
				f.s.SetFaults(Faults{Latency: time.Duration(j) * time.Microsecond})
			}
		}(i)
	}
	wg.Wait()
	if n := len(f.s.Timesheets()); n != 160 {
		t.Fatalf("%d timesheets", n)
	}
	ids := map[int64]bool{}
	for _, ts := range f.s.Timesheets() {
		if ids[ts.ID] {
			t.Fatalf("duplicate id %d", ts.ID)
		}
		ids[ts.ID] = true
	}
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		s, p string
		want bool
	}{
		{"Ticket ZT-123", "%zt-123%", true},
		{"abc", "a_c", true},
		{"abc", "a\\_c", false},
		{"a_c", "a\\_c", true},
		{"abc", "%", true},
		{"", "%x%", false},
	}
	for _, tt := range tests {
		if got := likeMatch(tt.s, tt.p); got != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v", tt.s, tt.p, got)
		}
	}
	_ = url.Values{}
}

func TestOptionsAndInspection(t *testing.T) {
	f := newFixture(t, WithVersion("2.63.1"), WithCustomerDefaults("AT", "CHF", "Europe/Vienna"),
		WithTimesheetConfig(TimesheetConfig{TrackingMode: "default", ActiveEntriesHardLimit: 2}))
	var v struct {
		Version   string
		VersionID int
	}
	f.do(t, "GET", "/api/version", userTok, "").json(t, &v)
	if v.Version != "2.63.1" || v.VersionID != 26301 {
		t.Fatalf("version %+v", v)
	}
	var c customerJSON
	f.do(t, "POST", "/api/customers", adminTok, `{"name":"Defaults"}`).json(t, &c)
	if c.Country != "AT" || c.Currency != "CHF" || c.Timezone != "Europe/Vienna" {
		t.Fatalf("customer defaults %+v", c)
	}
	tests := []struct {
		path, token string
		want        int
		has         string
	}{
		{fmt.Sprintf("/api/projects/%d", f.proj.ID), userTok, 200, `"name":"Support"`},
		{"/api/projects/999", userTok, 404, ""},
		{fmt.Sprintf("/api/activities/%d", f.act.ID), userTok, 200, fmt.Sprintf(`"project":%d,"parentTitle":"Support"`, f.proj.ID)},
		{"/api/activities/999", userTok, 404, ""},
		{fmt.Sprintf("/api/users/%d", f.user.ID), userTok, 200, `"username":"john"`},
		{fmt.Sprintf("/api/users/%d", f.admin.ID), userTok, 403, ""},
		{fmt.Sprintf("/api/users/%d", f.user.ID), adminTok, 200, `"timezone":"UTC"`},
		{"/api/users?visible=3", adminTok, 200, `"username":"gone"`},
	}
	for _, tt := range tests {
		if r := f.do(t, "GET", tt.path, tt.token, ""); r.status != tt.want || !strings.Contains(r.body, tt.has) {
			t.Errorf("%s: %d %s", tt.path, r.status, r.body)
		}
	}
	// Rates need edit_rate_*; admin has it.
	r := f.do(t, "POST", "/api/timesheets", adminTok, f.sheetBody("2024-05-01T09:00:00", "2024-05-01T11:00:00", `"hourlyRate":"50.5","fixedRate":null`))
	var ts sheetEntityJSON
	r.json(t, &ts)
	if r.status != 200 || ts.HourlyRate == nil || *ts.HourlyRate != 50.5 || ts.Rate != 101 {
		t.Fatalf("rates: %d %s", r.status, r.body)
	}
	if r := f.do(t, "PATCH", fmt.Sprintf("/api/timesheets/%d", ts.ID), adminTok, `{"hourlyRate":"lots"}`); r.status != 400 || !strings.Contains(r.body, `"hourlyRate":{"errors"`) {
		t.Fatalf("bad rate: %d %s", r.status, r.body)
	}
	// A hard limit of 2 keeps one other timer running.
	body := fmt.Sprintf(`{"project":%d,"activity":%d}`, f.proj.ID, f.act.ID)
	for i := 0; i < 3; i++ {
		f.do(t, "POST", "/api/timesheets", userTok, body)
	}
	running := 0
	for _, sh := range f.s.Sheets() {
		if sh.Running() {
			running++
		}
	}
	if running != 2 {
		t.Fatalf("%d running timers, want 2", running)
	}
	if n := len(f.s.Users()); n != 4 {
		t.Fatalf("Users() = %d", n)
	}
	if n := len(f.s.Projects()); n != 1 || f.s.Projects()[0].Name != "Support" {
		t.Fatalf("Projects() = %+v", f.s.Projects())
	}
	if n := len(f.s.Activities()); n != 2 {
		t.Fatalf("Activities() = %d", n)
	}
	if n := len(f.s.Tags()); n != 2 {
		t.Fatalf("Tags() = %d", n)
	}
	if f.s.URL() != f.url || f.s.Handler() == nil {
		t.Fatal("URL/Handler")
	}
	if fl := f.s.CurrentFaults(); fl.ErrorRate != 0 {
		t.Fatal("faults set")
	}
}
