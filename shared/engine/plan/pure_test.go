package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func ent(id int64, units string, agent, typ int64, minutesAfter int) Entry {
	at := t0.Add(time.Duration(minutesAfter) * time.Minute)
	return Entry{ID: id, TicketID: 1, Units: decimal.MustParse(units), AgentID: agent, TypeID: typ, CreatedAt: at, UpdatedAt: at}
}

func TestNet(t *testing.T) {
	type want struct {
		net, unmatched string
		into           int64
	}
	tests := []struct {
		name    string
		entries []Entry
		want    map[int64]want
	}{
		{"positives untouched",
			[]Entry{ent(1, "15", 1, 1, 0), ent(2, "30", 1, 1, 1)},
			map[int64]want{1: {"15", "0", 0}, 2: {"30", "0", 0}}},
		{"zammad's documented correction: 120 then -100 → 20",
			[]Entry{ent(1, "120", 1, 1, 0), ent(2, "-100", 1, 1, 5)},
			map[int64]want{1: {"20", "0", 0}, 2: {"0", "0", 1}}},
		{"nets into the latest earlier positive, not the first",
			[]Entry{ent(1, "30", 1, 1, 0), ent(2, "30", 1, 1, 1), ent(3, "-10", 1, 1, 2)},
			map[int64]want{1: {"30", "0", 0}, 2: {"20", "0", 0}, 3: {"0", "0", 2}}},
		{"excess carries to earlier positives",
			[]Entry{ent(1, "30", 1, 1, 0), ent(2, "30", 1, 1, 1), ent(3, "-50", 1, 1, 2)},
			map[int64]want{1: {"10", "0", 0}, 2: {"0", "0", 0}, 3: {"0", "0", 2}}},
		{"netted exactly to zero",
			[]Entry{ent(1, "15", 1, 1, 0), ent(2, "-15", 1, 1, 1)},
			map[int64]want{1: {"0", "0", 0}, 2: {"0", "0", 1}}},
		{"negative with nothing earlier is unmatched",
			[]Entry{ent(1, "-15", 1, 1, 0), ent(2, "30", 1, 1, 1)},
			map[int64]want{1: {"0", "15", 0}, 2: {"30", "0", 0}}},
		{"other agent's entry is not touched",
			[]Entry{ent(1, "30", 2, 1, 0), ent(2, "-10", 1, 1, 1)},
			map[int64]want{1: {"30", "0", 0}, 2: {"0", "10", 0}}},
		{"other type is not touched",
			[]Entry{ent(1, "30", 1, 2, 0), ent(2, "-10", 1, 1, 1)},
			map[int64]want{1: {"30", "0", 0}, 2: {"0", "10", 0}}},
		{"null type nets with null type",
			[]Entry{ent(1, "30", 1, 0, 0), ent(2, "-10", 1, 0, 1)},
			map[int64]want{1: {"20", "0", 0}, 2: {"0", "0", 1}}},
		{"partially unmatched",
			[]Entry{ent(1, "10", 1, 1, 0), ent(2, "-25", 1, 1, 1)},
			map[int64]want{1: {"0", "0", 0}, 2: {"0", "15", 1}}},
		{"decimal units",
			[]Entry{ent(1, "0.75", 1, 1, 0), ent(2, "-0.25", 1, 1, 1)},
			map[int64]want{1: {"0.5", "0", 0}, 2: {"0", "0", 1}}},
		{"order by created_at, not by id",
			[]Entry{ent(5, "-10", 1, 1, 10), ent(9, "30", 1, 1, 0)},
			map[int64]want{9: {"20", "0", 0}, 5: {"0", "0", 9}}},
		{"equal created_at: id breaks the tie",
			[]Entry{ent(2, "-10", 1, 1, 0), ent(1, "30", 1, 1, 0)},
			map[int64]want{1: {"20", "0", 0}, 2: {"0", "0", 1}}},
		{"a later positive does not absorb an earlier negative",
			[]Entry{ent(1, "-10", 1, 1, 0), ent(2, "30", 1, 1, 1), ent(3, "-5", 1, 1, 2)},
			map[int64]want{1: {"0", "10", 0}, 2: {"25", "0", 0}, 3: {"0", "0", 2}}},
		{"zero entry stays zero",
			[]Entry{ent(1, "0", 1, 1, 0)},
			map[int64]want{1: {"0", "0", 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Net(tt.entries)
			if len(got) != len(tt.entries) {
				t.Fatalf("got %d entries, want %d (nothing may be dropped)", len(got), len(tt.entries))
			}
			for i := 1; i < len(got); i++ {
				if got[i].CreatedAt.Before(got[i-1].CreatedAt) {
					t.Fatal("not chronological")
				}
			}
			for _, n := range got {
				w := tt.want[n.ID]
				if n.Net.String() != w.net || n.Unmatched.String() != w.unmatched || n.Into != w.into {
					t.Errorf("entry %d: net=%s unmatched=%s into=%d, want %+v", n.ID, n.Net, n.Unmatched, n.Into, w)
				}
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	tests := []struct {
		units, factor string
		want          int64
	}{
		{"15", "1", 900},
		{"1", "60", 3600},
		{"0.25", "60", 900},
		{"2", "15", 1800},
		{"7.5", "1", 480}, // half a minute rounds up
		{"7.4", "1", 420}, // 7.4 min → 7
		{"0.1", "1", 60},  // positive time books at least a minute
		{"0.333333", "60", 1200},
		{"1", "0.5", 60},                        // 30 s rounds up to a minute
		{"9999.99", "60", 36000000 - 60 + 60*0}, // 599999.4 min → 599999 min
	}
	tests[len(tests)-1].want = 599999 * 60
	for _, tt := range tests {
		got, err := Seconds(decimal.MustParse(tt.units), decimal.MustParse(tt.factor))
		if err != nil || got != tt.want {
			t.Errorf("Seconds(%s, %s) = %d, %v; want %d", tt.units, tt.factor, got, err, tt.want)
		}
	}
}

func TestMarker(t *testing.T) {
	m := Marker("0a1b2c3d", 42)
	if strings.Contains(m, ":") {
		t.Fatal("marker must be colon-free (Kimai term search)")
	}
	desc := Description(Ticket{Number: "53003", Title: "Order  787556\n"}, m)
	if desc != "#53003 Order 787556 [TB-0a1b2c3d-42]" {
		t.Fatalf("description %q", desc)
	}
	tests := []struct {
		desc string
		inst string
		id   int64
		ok   bool
	}{
		{desc, "0a1b2c3d", 42, true},
		{"#1 x [TB-0a1b2c3d-420]", "0a1b2c3d", 420, true},
		{"edited by hand TB-0a1b2c3d-7 more", "0a1b2c3d", 7, true},
		{"TB-0a1b2c3-7", "", 0, false},
		{"no marker", "", 0, false},
		{"xTB-0a1b2c3d-7", "", 0, false},
	}
	for _, tt := range tests {
		inst, id, ok := ParseMarker(tt.desc)
		if ok != tt.ok || inst != tt.inst || id != tt.id {
			t.Errorf("ParseMarker(%q) = %q %d %v", tt.desc, inst, id, ok)
		}
	}
}

func TestSanitize(t *testing.T) {
	tests := map[string]string{
		`ACME <Corp> "Intl" = 1`: "ACME Corp Intl 1",
		"a":                      "fallback",
		"  spaced\tout\n ":       "spaced out",
		strings.Repeat("x", 200): strings.Repeat("x", 149) + "…",
	}
	for in, want := range tests {
		if got := Sanitize(in, "fallback"); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func baseCatalog() *Catalog {
	return &Catalog{
		Customers:  []Customer{{ID: 10, Name: "Acme", Number: CustomerNumber(7), Visible: true}, {ID: 11, Name: "Default"}},
		Projects:   []Project{{ID: 20, CustomerID: 10, Name: "Zammad support", Number: "ZP7", Visible: true, GlobalActivities: true}},
		Activities: []Activity{{ID: 30, Name: "Support", Number: ActivityNumber(1)}, {ID: 31, Name: "Default act"}},
		Users:      []KimaiUser{{ID: 40, Email: "Agent@Example.com", Enabled: true}, {ID: 41, Email: "off@example.com", Enabled: false}},
	}
}

func TestLookup(t *testing.T) {
	profile := tb.Profile{}.WithDefaults()
	tests := []struct {
		name    string
		profile func(p *tb.Profile)
		maps    []tb.Mapping
		run     func(r *Lookup) Match
		wantID  int64
		create  string // number of the entity to create
		problem string // substring
	}{
		{"customer by external number", nil, nil, func(r *Lookup) Match { return r.Customer(7) }, 10, "", ""},
		{"explicit customer mapping wins", nil, []tb.Mapping{{Kind: tb.MapCustomer, SourceID: "7", TargetID: 11}},
			func(r *Lookup) Match { return r.Customer(7) }, 11, "", ""},
		{"mapping to a vanished customer is a problem", nil, []tb.Mapping{{Kind: tb.MapCustomer, SourceID: "7", TargetID: 99}},
			func(r *Lookup) Match { return r.Customer(7) }, 0, "", "no longer exists"},
		{"unknown org without auto-create", nil, nil, func(r *Lookup) Match { return r.Customer(8) }, 0, "", "Mappings › Customers"},
		{"unknown org with auto-create", func(p *tb.Profile) { p.AutoCreateCustomers = true }, nil,
			func(r *Lookup) Match { return r.Customer(8) }, 0, "ZO8", ""},
		{"no org uses default customer", func(p *tb.Profile) { p.DefaultCustomerID = 11 }, nil,
			func(r *Lookup) Match { return r.Customer(0) }, 11, "", ""},
		{"no org without default", nil, nil, func(r *Lookup) Match { return r.Customer(0) }, 0, "", "default customer"},
		{"no org auto-creates a catch-all", func(p *tb.Profile) { p.AutoCreateCustomers = true }, nil,
			func(r *Lookup) Match { return r.Customer(0) }, 0, "ZO0", ""},
		{"project per customer by number", nil, nil,
			func(r *Lookup) Match { return r.Project(Ticket{ID: 1, OrgID: 7}, 10) }, 20, "", ""},
		{"project per ticket auto-created", func(p *tb.Profile) { p.ProjectStrategy = tb.ProjectPerTicket; p.AutoCreateProjects = true }, nil,
			func(r *Lookup) Match { return r.Project(Ticket{ID: 1000, Number: "53003", OrgID: 7}, 10) }, 0, "ZTRS", ""},
		{"project per group mapping", func(p *tb.Profile) { p.ProjectStrategy = tb.ProjectPerGroup },
			[]tb.Mapping{{Kind: tb.MapProject, SourceID: "group-3-org-7", TargetID: 20}},
			func(r *Lookup) Match { return r.Project(Ticket{ID: 1, OrgID: 7, GroupID: 3}, 10) }, 20, "", ""},
		{"project missing", func(p *tb.Profile) { p.ProjectStrategy = tb.ProjectPerTicket }, nil,
			func(r *Lookup) Match { return r.Project(Ticket{ID: 5, OrgID: 7}, 10) }, 0, "", "Mappings › Projects"},
		{"activity by number", nil, nil, func(r *Lookup) Match { return r.Activity(1) }, 30, "", ""},
		{"activity mapped", nil, []tb.Mapping{{Kind: tb.MapActivity, SourceID: "2", TargetID: 31}},
			func(r *Lookup) Match { return r.Activity(2) }, 31, "", ""},
		{"null type uses default activity", func(p *tb.Profile) { p.DefaultActivityID = 31 }, nil,
			func(r *Lookup) Match { return r.Activity(0) }, 31, "", ""},
		{"null type without default", nil, nil, func(r *Lookup) Match { return r.Activity(0) }, 0, "", "no activity type"},
		{"unmapped type names the type", nil, nil, func(r *Lookup) Match { return r.Activity(2) }, 0, "", `"Billing"`},
		{"token mode books as token user", nil, nil, func(r *Lookup) Match { return r.User(5) }, 0, "", ""},
		{"email mode matches case-insensitively", func(p *tb.Profile) { p.UserMode = tb.UserEmail }, nil,
			func(r *Lookup) Match { return r.User(5) }, 40, "", ""},
		{"email mode ignores disabled users; lenient falls back", func(p *tb.Profile) { p.UserMode = tb.UserEmail }, nil,
			func(r *Lookup) Match { return r.User(6) }, 0, "", ""},
		{"strict users make it a problem", func(p *tb.Profile) { p.UserMode = tb.UserEmail; p.StrictUsers = true }, nil,
			func(r *Lookup) Match { return r.User(6) }, 0, "", "Mappings › Users"},
		{"explicit mode uses mapping only", func(p *tb.Profile) { p.UserMode = tb.UserExplicit; p.StrictUsers = true },
			[]tb.Mapping{{Kind: tb.MapUser, SourceID: "6", TargetID: 41}},
			func(r *Lookup) Match { return r.User(6) }, 41, "", ""},
		{"explicit mode ignores email", func(p *tb.Profile) { p.UserMode = tb.UserExplicit; p.StrictUsers = true }, nil,
			func(r *Lookup) Match { return r.User(5) }, 0, "", "Mappings › Users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := profile
			if tt.profile != nil {
				tt.profile(&p)
			}
			r := &Lookup{Profile: p, Catalog: baseCatalog(), Mappings: NewMappings(tt.maps), Names: Names{
				Types:  map[int64]string{2: "Billing"},
				Agents: map[int64]Agent{5: {ID: 5, Email: "agent@example.com"}, 6: {ID: 6, Email: "off@example.com"}},
			}}
			got := tt.run(r)
			if got.ID != tt.wantID {
				t.Errorf("id = %d, want %d (%+v)", got.ID, tt.wantID, got)
			}
			if (got.Create != nil) != (tt.create != "") || (got.Create != nil && got.Create.Number != tt.create) {
				t.Errorf("create = %+v, want number %q", got.Create, tt.create)
			}
			if tt.problem == "" && got.Problem != "" || tt.problem != "" && !strings.Contains(got.Problem, tt.problem) {
				t.Errorf("problem = %q, want %q", got.Problem, tt.problem)
			}
		})
	}
}

func TestProjectNumberFitsKimai(t *testing.T) {
	for _, tk := range []Ticket{{ID: 1}, {ID: 3656158440062975}, {GroupID: 46655, OrgID: 46655}, {GroupID: 1 << 40, OrgID: 1 << 40}} {
		for _, s := range []tb.ProjectStrategy{tb.ProjectPerCustomer, tb.ProjectPerTicket, tb.ProjectPerGroup} {
			if n := ProjectNumber(s, tk); len(n) > 10 {
				t.Errorf("%s %+v: %q longer than Kimai's 10", s, tk, n)
			}
		}
	}
}

func desireOne(t *testing.T, p tb.Profile, loc *time.Location, entries ...Entry) []Desired {
	t.Helper()
	r := &Lookup{Profile: p, Catalog: baseCatalog(), Mappings: NewMappings(nil), Names: Names{}}
	return Desire(DesireInput{Profile: p, Instance: "0a1b2c3d", Location: loc, Lookup: r,
		Ticket: Ticket{ID: 1, Number: "53003", Title: "Order 787556", OrgID: 7}, Entries: entries})
}

func TestDesire(t *testing.T) {
	p := tb.Profile{}.WithDefaults()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	hours := p
	hours.MinutesPerUnit = decimal.FromInt(60)

	t.Run("one timesheet per positive entry", func(t *testing.T) {
		ds := desireOne(t, p, time.UTC, ent(1, "15", 1, 1, 0), ent(2, "30", 1, 1, 60))
		if len(ds) != 2 || ds[0].Sheet == nil || ds[1].Sheet == nil {
			t.Fatalf("got %+v", ds)
		}
		s := ds[0].Sheet
		if !s.End.Equal(t0) || !s.Begin.Equal(t0.Add(-15*time.Minute)) || s.Duration != 900 {
			t.Errorf("times %v–%v (%d)", s.Begin, s.End, s.Duration)
		}
		if s.ProjectID != 20 || s.ActivityID != 30 || s.UserID != 0 {
			t.Errorf("ids %+v", s)
		}
		if s.Description != "#53003 Order 787556 [TB-0a1b2c3d-1]" || len(s.Tags) != 1 || s.Tags[0] != "zammad" {
			t.Errorf("desc/tags %q %v", s.Description, s.Tags)
		}
		if ds[0].Hash == "" || ds[0].Hash == ds[1].Hash {
			t.Error("hashes must identify content")
		}
	})
	t.Run("hash is stable", func(t *testing.T) {
		a := desireOne(t, p, time.UTC, ent(1, "15", 1, 1, 0))
		b := desireOne(t, p, berlin, ent(1, "15", 1, 1, 0))
		if a[0].Hash != b[0].Hash {
			t.Error("same instant in another zone must hash the same")
		}
	})
	t.Run("end is created_at in the Kimai user's zone, whole minutes", func(t *testing.T) {
		e := ent(1, "1", 1, 1, 0)
		e.CreatedAt = time.Date(2026, 7, 1, 22, 30, 45, 123e6, time.UTC)
		s := desireOne(t, hours, berlin, e)[0].Sheet
		if s.End.Location() != berlin || s.End.Format("2006-01-02T15:04:05") != "2026-07-02T00:30:00" ||
			s.Begin.Format("2006-01-02T15:04:05") != "2026-07-01T23:30:00" {
			t.Errorf("begin %v end %v", s.Begin, s.End)
		}
	})
	t.Run("DST change day (Europe/Berlin spring forward)", func(t *testing.T) {
		// 2026-03-29 01:00 UTC = 03:00 CEST; an hour booked then began at
		// 00:00 UTC = 01:00 CET: the wall clock spans 2 hours, the duration is 1.
		e := ent(1, "1", 1, 1, 0)
		e.CreatedAt = time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
		s := desireOne(t, hours, berlin, e)[0].Sheet
		if s.Begin.Format("15:04 MST") != "01:00 CET" || s.End.Format("15:04 MST") != "03:00 CEST" || s.Duration != 3600 {
			t.Errorf("begin %v end %v duration %d", s.Begin, s.End, s.Duration)
		}
	})
	t.Run("DST change day (fall back, ambiguous wall clock)", func(t *testing.T) {
		e := ent(1, "30", 1, 1, 0)
		e.CreatedAt = time.Date(2026, 10, 25, 1, 15, 0, 0, time.UTC) // 02:15 CET, second pass
		s := desireOne(t, p, berlin, e)[0].Sheet
		if s.End.Format("15:04 MST") != "02:15 CET" || s.Begin.Format("15:04 MST") != "02:45 CEST" || s.Duration != 1800 {
			t.Errorf("begin %v end %v", s.Begin, s.End)
		}
	})
	t.Run("negative correction shortens the latest earlier entry", func(t *testing.T) {
		ds := desireOne(t, p, time.UTC, ent(1, "120", 1, 1, 0), ent(2, "-100", 1, 1, 5))
		if ds[0].Sheet == nil || ds[0].Sheet.Duration != 20*60 || ds[1].Sheet != nil || ds[1].Conflict != nil {
			t.Fatalf("got %+v / %+v", ds[0].Sheet, ds[1])
		}
	})
	t.Run("netted to zero has no timesheet", func(t *testing.T) {
		ds := desireOne(t, p, time.UTC, ent(1, "15", 1, 1, 0), ent(2, "-15", 1, 1, 1))
		if ds[0].Sheet != nil || ds[1].Sheet != nil || ds[0].Conflict != nil {
			t.Fatalf("got %+v", ds)
		}
	})
	t.Run("unmatched negative is a conflict, not dropped", func(t *testing.T) {
		ds := desireOne(t, p, time.UTC, ent(1, "-15", 1, 1, 0))
		if len(ds) != 1 || ds[0].Conflict == nil || ds[0].Conflict.Kind != tb.ConflictUnmatchedNegative {
			t.Fatalf("got %+v", ds)
		}
	})
	t.Run("decimal units with hour factor", func(t *testing.T) {
		ds := desireOne(t, hours, time.UTC, ent(1, "0.25", 1, 1, 0))
		if ds[0].Sheet.Duration != 900 {
			t.Fatalf("duration %d", ds[0].Sheet.Duration)
		}
	})
	t.Run("null type without default is unmapped_activity", func(t *testing.T) {
		ds := desireOne(t, p, time.UTC, ent(1, "15", 1, 0, 0))
		if ds[0].Conflict == nil || ds[0].Conflict.Kind != tb.ConflictUnmappedActivity || ds[0].Sheet != nil {
			t.Fatalf("got %+v", ds[0])
		}
	})
	t.Run("unmapped customer", func(t *testing.T) {
		r := &Lookup{Profile: p, Catalog: baseCatalog(), Mappings: NewMappings(nil)}
		ds := Desire(DesireInput{Profile: p, Instance: "0a1b2c3d", Lookup: r, Ticket: Ticket{ID: 2, Number: "2", OrgID: 99},
			Entries: []Entry{ent(1, "15", 1, 1, 0)}})
		if ds[0].Conflict == nil || ds[0].Conflict.Kind != tb.ConflictUnmappedCustomer || ds[0].Conflict.SourceKey != "99" {
			t.Fatalf("got %+v", ds[0].Conflict)
		}
	})
	t.Run("dry run lets creatable keys through", func(t *testing.T) {
		pp := p
		pp.AutoCreateCustomers, pp.AutoCreateProjects = true, true
		r := &Lookup{Profile: pp, Catalog: baseCatalog(), Mappings: NewMappings(nil)}
		in := DesireInput{Profile: pp, Instance: "0a1b2c3d", Lookup: r, Ticket: Ticket{ID: 2, Number: "2", OrgID: 99},
			Entries: []Entry{ent(1, "15", 1, 1, 0)}}
		if ds := Desire(in); ds[0].Conflict == nil {
			t.Fatal("a real run must not write with missing ids")
		}
		in.DryRun = true
		ds := Desire(in)
		if ds[0].Conflict != nil || len(ds[0].Creates) != 2 {
			t.Fatalf("got %+v", ds[0])
		}
	})
}

func TestKimaiReadsAndTimeTraps(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(h, m int) time.Time { return time.Date(2026, 10, 25, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name  string
		t     time.Time
		reads time.Time
	}{
		{"ordinary time", utc(9, 0), utc(9, 0)},
		{"first 02:45 (CEST) is what Kimai reads", utc(0, 45), utc(0, 45)},
		{"second 02:45 (CET) is read as the first", utc(1, 45), utc(0, 45)},
		{"03:00 CET, after the repeat", utc(2, 0), utc(2, 0)},
		{"spring forward: 03:30 CEST exists once", time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := KimaiReads(tt.t, berlin); !got.Equal(tt.reads) {
			t.Errorf("%s: KimaiReads = %v, want %v", tt.name, got, tt.reads)
		}
	}
	if msg := TimeTrap(utc(0, 45), utc(1, 45), berlin); !strings.Contains(msg, "ends at 2026-10-25 02:45 CET") {
		t.Errorf("TimeTrap = %q", msg)
	}
	if msg := TimeTrap(utc(0, 15), utc(0, 45), berlin); msg != "" {
		t.Errorf("first-occurrence times trapped: %q", msg)
	}
	if msg := TimeTrap(utc(0, 45), utc(1, 45), time.UTC); msg != "" {
		t.Errorf("UTC has no repeated hour: %q", msg)
	}

	want := tb.Timesheet{Begin: utc(8, 0), End: utc(9, 0)}
	for _, tt := range []struct {
		name    string
		got     tb.Timesheet
		shifted bool
	}{
		{"identical", want, false},
		{"rounded by 15 minutes", tb.Timesheet{Begin: utc(7, 45), End: utc(9, 15)}, false},
		{"an hour later", tb.Timesheet{Begin: utc(9, 0), End: utc(10, 0)}, true},
		{"another offset at the begin", tb.Timesheet{Begin: utc(0, 45), End: utc(9, 0)}, true},
	} {
		if msg := StoredShift(want, tt.got, berlin); (msg != "") != tt.shifted {
			t.Errorf("%s: StoredShift = %q", tt.name, msg)
		}
	}
	// The begin of the timesheet above (00:45Z) has CEST, its wanted begin CET.
	if msg := StoredShift(tb.Timesheet{Begin: utc(1, 45), End: utc(1, 45)}, tb.Timesheet{Begin: utc(0, 45), End: utc(1, 45)}, berlin); msg == "" {
		t.Error("a DST misread went unnoticed")
	}
}
