package zammadsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// DemoConfig sizes the dataset SeedDemo generates. Zero fields take the
// defaults noted.
type DemoConfig struct {
	Seed          uint64 // default 1
	Organizations int    // default 5
	Agents        int    // default 6
	Groups        int    // default 3
	Types         int    // default 4 (at most 8 distinct names)
	Tickets       int    // default 40
	Entries       int    // default 300
	// Start is when the first entry was booked; default 2025-01-06 08:00 UTC.
	Start time.Time
	// Span is the period over which entries are spread; default 90 days.
	Span time.Duration
	// AdminToken, when set, is a token of an extra admin user holding every
	// permission Timebridge uses.
	AdminToken string
}

// Demo describes what SeedDemo created.
type Demo struct {
	AdminID         int64 // 0 unless AdminToken was set
	OrganizationIDs []int64
	CustomerIDs     []int64
	AgentIDs        []int64
	GroupIDs        []int64
	TypeIDs         []int64
	TicketIDs       []int64
	Entries         int
	Corrections     int // negative entries
	Untyped         int // entries with a null type
}

var (
	orgWords    = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Gringotts", "Oceanic", "Monarch", "Pied Piper"}
	orgSuffixes = []string{"Inc.", "GmbH", "Ltd.", "AG", "LLC", "S.A."}
	firstNames  = []string{"Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karin", "Luca", "Mia", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sven", "Tara"}
	lastNames   = []string{"Müller", "Schmidt", "Smith", "Garcia", "Rossi", "Dubois", "Novak", "Jensen", "Kowalski", "Silva", "Brown", "Nguyen", "Ozturk", "Andersson"}
	groupNames  = []string{"Service Desk", "2nd Level", "Sales", "Billing", "Engineering", "Onboarding"}
	typeNames   = []string{"Support", "Consulting", "Development", "Travel", "Training", "Meeting", "Documentation", "Administration"}
	titles      = []string{"Cannot log in", "Invoice %d is wrong", "VPN drops every hour", "Printer on floor %d offline", "Order %d not delivered", "Password reset", "New employee onboarding", "Upgrade request", "Mail bounces from %d", "Dashboard loads slowly", "Export to CSV fails", "License renewal", "Data migration", "API rate limit questions"}
	unitChoices = []string{"5.0", "10.0", "15.0", "15.0", "20.0", "30.0", "30.0", "30.0", "45.0", "60.0", "60.0", "90.0", "120.0", "0.25", "7.5"}
	demoStates  = []string{"new", "open", "open", "open", "pending reminder", "closed", "closed"}
)

// SeedDemo adds a deterministic, realistic dataset: organizations with
// customers, agents, groups, activity types, tickets (about one in ten
// without an organization) and entries spread over cfg.Span in booking
// order, most with an article, about 8% without a type, about 5% negative
// corrections of an earlier booking (same ticket, agent and type), and a few
// edited later. The same cfg always yields the same data and ids on a fresh
// server; timestamps are backfilled and do not depend on the clock.
func (s *Server) SeedDemo(cfg DemoConfig) Demo {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Organizations, 5)
	def(&cfg.Agents, 6)
	def(&cfg.Groups, 3)
	def(&cfg.Types, 4)
	def(&cfg.Tickets, 40)
	def(&cfg.Entries, 300)
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)
	}
	if cfg.Span <= 0 {
		cfg.Span = 90 * 24 * time.Hour
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7a6d6d6164))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	setup := cfg.Start.Add(-30 * 24 * time.Hour)
	var d Demo

	for i := 0; i < cfg.Organizations; i++ {
		name := fmt.Sprintf("%s %s", orgWords[i%len(orgWords)], orgSuffixes[rng.IntN(len(orgSuffixes))])
		if i >= len(orgWords) {
			name = fmt.Sprintf("%s %d %s", orgWords[i%len(orgWords)], i/len(orgWords)+1, orgSuffixes[i%len(orgSuffixes)])
		}
		o := s.AddOrganization(Organization{Name: name, Note: "Customer since " + setup.Format("2006"), CreatedAt: setup})
		d.OrganizationIDs = append(d.OrganizationIDs, o.ID)
		domain := strings.ToLower(strings.ReplaceAll(orgWords[i%len(orgWords)], " ", "")) + fmt.Sprintf("%d.example", i+1)
		for j := 0; j < 2; j++ {
			fn, ln := pick(firstNames), pick(lastNames)
			email := fmt.Sprintf("%s.%s@%s", asciiLower(fn), asciiLower(ln), domain)
			u := s.AddUser(User{Login: email, Firstname: fn, Lastname: ln, Email: email, OrganizationID: o.ID, RoleIDs: []int64{3}, CreatedAt: setup})
			d.CustomerIDs = append(d.CustomerIDs, u.ID)
		}
	}
	// Customers without an organization write in too.
	for j := 0; j < 2; j++ {
		fn, ln := pick(firstNames), pick(lastNames)
		email := fmt.Sprintf("%s.%s%d@mail.example", asciiLower(fn), asciiLower(ln), j)
		u := s.AddUser(User{Login: email, Firstname: fn, Lastname: ln, Email: email, RoleIDs: []int64{3}, CreatedAt: setup})
		d.CustomerIDs = append(d.CustomerIDs, u.ID)
	}
	for i := 0; i < cfg.Agents; i++ {
		fn, ln := firstNames[(i*7)%len(firstNames)], lastNames[(i*5)%len(lastNames)]
		email := fmt.Sprintf("%s.%s%d@support.example", asciiLower(fn), asciiLower(ln), i+1)
		u := s.AddUser(User{Login: email, Firstname: fn, Lastname: ln, Email: email, RoleIDs: []int64{2}, CreatedAt: setup})
		d.AgentIDs = append(d.AgentIDs, u.ID)
	}
	if cfg.AdminToken != "" {
		u := s.AddUser(User{Login: "timebridge@support.example", Firstname: "Timebridge", Lastname: "Sync",
			Email: "timebridge@support.example", RoleIDs: []int64{1, 2}, CreatedAt: setup})
		d.AdminID = u.ID
		s.AddToken(cfg.AdminToken, u.ID, PermAdminTimeAccounting, PermTicketAgent, PermAdminUser, PermAdminOrganization, PermAdminGroup)
	}
	for i := 0; i < cfg.Groups; i++ {
		name := groupNames[i%len(groupNames)]
		if i >= len(groupNames) {
			name = fmt.Sprintf("%s %d", name, i/len(groupNames)+1)
		}
		d.GroupIDs = append(d.GroupIDs, s.AddGroup(Group{Name: name, CreatedAt: setup}).ID)
	}
	for i := 0; i < cfg.Types; i++ {
		name := typeNames[i%len(typeNames)]
		if i >= len(typeNames) {
			name = fmt.Sprintf("%s %d", name, i/len(typeNames)+1)
		}
		// One type in eight was retired; its old entries keep it.
		d.TypeIDs = append(d.TypeIDs, s.AddType(Type{Name: name, Inactive: i > 0 && i%8 == 7, CreatedAt: setup}).ID)
	}

	// Tickets are opened before the bookings start, spread over a month.
	tickets := make([]int64, 0, cfg.Tickets)
	for i := 0; i < cfg.Tickets; i++ {
		cust := d.CustomerIDs[rng.IntN(len(d.CustomerIDs))]
		var org int64
		if rng.IntN(10) > 0 && len(d.OrganizationIDs) > 0 {
			org = d.OrganizationIDs[rng.IntN(len(d.OrganizationIDs))]
		}
		title := pick(titles)
		if strings.Contains(title, "%d") {
			title = fmt.Sprintf(title, 100+rng.IntN(900))
		}
		at := setup.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		t := s.AddTicket(Ticket{
			Title: title, OrganizationID: org, CustomerID: cust,
			GroupID: d.GroupIDs[rng.IntN(len(d.GroupIDs))], OwnerID: d.AgentIDs[rng.IntN(len(d.AgentIDs))],
			State: pick(demoStates), PriorityID: int64(1 + rng.IntN(3)), CreatedAt: at,
		})
		tickets = append(tickets, t.ID)
		d.TicketIDs = append(d.TicketIDs, t.ID)
	}

	// Entries in booking order. A correction negates part of an earlier
	// positive booking with the same ticket, agent and type, the way agents
	// fix mistakes in Zammad (they cannot edit an entry).
	type key struct{ ticket, agent, typ int64 }
	booked := map[key]decimal.Dec{}
	var keys []key
	article := int64(1000)
	step := cfg.Span / time.Duration(cfg.Entries)
	for i := 0; i < cfg.Entries; i++ {
		at := cfg.Start.Add(step*time.Duration(i) + time.Duration(rng.Int64N(int64(step)+1)))
		e := Entry{CreatedAt: at}
		var k key
		correct := len(keys) > 0 && rng.IntN(20) == 0
		if correct {
			k = keys[rng.IntN(len(keys))]
			correct = booked[k].Sign() > 0 // nothing left to correct otherwise
		}
		if correct {
			prev := booked[k]
			part := prev
			if rng.IntN(2) == 0 {
				part, _ = prev.Mul(decimal.MustParse("0.5"))
			}
			e.TicketID, e.CreatedByID, e.TypeID, e.TimeUnit = k.ticket, k.agent, k.typ, round2(part).Neg()
			booked[k] = prev.Add(e.TimeUnit)
			d.Corrections++
		} else {
			e.TicketID = tickets[rng.IntN(len(tickets))]
			e.CreatedByID = d.AgentIDs[rng.IntN(len(d.AgentIDs))]
			if rng.IntN(12) != 0 {
				e.TypeID = d.TypeIDs[rng.IntN(len(d.TypeIDs))]
			}
			e.TimeUnit = decimal.MustParse(pick(unitChoices))
			k = key{e.TicketID, e.CreatedByID, e.TypeID}
			if _, seen := booked[k]; !seen {
				keys = append(keys, k)
			}
			booked[k] = booked[k].Add(e.TimeUnit)
		}
		if e.TypeID == 0 {
			d.Untyped++
		}
		if rng.IntN(10) != 0 { // most time is booked with an article
			article++
			e.TicketArticleID = article
		}
		if rng.IntN(50) == 0 { // an admin edited it a few hours later
			e.UpdatedAt = at.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
		}
		s.AddEntry(e)
		d.Entries++
	}
	return d
}

// asciiLower makes a name usable in an e-mail address.
func asciiLower(s string) string {
	r := strings.NewReplacer("é", "e", "ü", "ue", "ö", "oe", "ä", "ae", " ", "")
	return strings.ToLower(r.Replace(s))
}
