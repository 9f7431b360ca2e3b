package engine_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/connect"
	"github.com/timebridge/timebridge/shared/decimal"
	"github.com/timebridge/timebridge/shared/engine"
	"github.com/timebridge/timebridge/shared/engine/plan"
	"github.com/timebridge/timebridge/shared/sim/kimaisim"
	"github.com/timebridge/timebridge/shared/sim/zammadsim"
	"github.com/timebridge/timebridge/shared/store"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	tb "github.com/timebridge/timebridge/shared/timebridge"
	"github.com/timebridge/timebridge/shared/upstream"
	"github.com/timebridge/timebridge/shared/vault"
	"github.com/timebridge/timebridge/shared/zammad"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

const (
	zToken = "zammad-token-1234"
	kToken = "kimai-token-5678"
)

// harness is one Zammad simulator, one Kimai simulator, a fresh DynamoDB
// table on kumo and an engine with one profile between them.
type harness struct {
	t       testing.TB
	zs      *zammadsim.Server
	ks      *kimaisim.Server
	st      *store.Store
	eng     *engine.Engine
	profile tb.Profile
	conn    *connect.Connector // what the engine opens connectors with
	secrets *vault.Vault
	// Clock is the simulators', the store's and the engine's clock; it is
	// read by simulator goroutines that outlive a run.
	*testkit.Clock
	zURL string // the Zammad base URL the profile's connector uses
	// crash, when set, is consulted before a link is recorded as synced;
	// returning true simulates the process dying between Kimai's answer and
	// the link write.
	crash func(l tb.Link) bool
	// renewals, when set, answers lease renewals instead of the store
	// (nil: the store's answer).
	renewals func() error
}

type options struct {
	profile    func(p *tb.Profile)
	policy     upstream.Policy
	engine     engine.Options
	kimaiTZ    string
	kimaiRoles []string
	// log receives the engine's log (nil: discarded).
	log *slog.Logger
	// zammadWrap, when set, wraps the Zammad simulator's handler (to act
	// between two requests of a run).
	zammadWrap func(http.Handler) http.Handler
}

func fastPolicy() upstream.Policy {
	return upstream.Policy{MaxAttempts: 6, BaseDelay: 2 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
		AttemptTimeout: 2 * time.Second, MaxRetryAfter: 3 * time.Second}
}

func newHarness(t testing.TB, o options) *harness {
	t.Helper()
	env := kumotest.Get(t)
	h := &harness{t: t, Clock: testkit.NewClock(time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC))}
	clock := h.Now

	h.zs = zammadsim.New(zammadsim.WithClock(clock))
	zURL := h.zs.Start()
	t.Cleanup(h.zs.Close)
	if o.zammadWrap != nil {
		front := httptest.NewServer(o.zammadWrap(h.zs.Handler()))
		t.Cleanup(front.Close)
		zURL = front.URL
	}
	h.zURL = zURL
	h.zs.AddUser(zammadsim.User{ID: 1, Login: "sync", Email: "sync@example.com", RoleIDs: []int64{1, 2}}) // Admin, Agent
	h.zs.AddToken(zToken, 1, "admin.time_accounting", "ticket.agent", "admin.user", "admin.organization")

	h.ks = kimaisim.New(kimaisim.WithClock(clock), kimaisim.WithSeed(7))
	kURL := h.ks.Start()
	t.Cleanup(h.ks.Close)
	roles := o.kimaiRoles
	if roles == nil {
		roles = []string{kimaisim.RoleSuperAdmin}
	}
	tz := o.kimaiTZ
	if tz == "" {
		tz = "Europe/Berlin"
	}
	h.ks.AddUser(kimaisim.User{ID: 1, Username: "sync", Email: "sync@example.com", Timezone: tz, Roles: roles, Enabled: true}, kToken)

	h.st = env.NewStore(t)
	policy := o.policy
	if policy.MaxAttempts == 0 {
		policy = fastPolicy()
	}
	// Connectors live in DynamoDB and their tokens in Secrets Manager, as
	// in production; the engine reaches both through connect.Connector.
	ctx := context.Background()
	secrets := vault.New(env.Secrets, "timebridge/"+kumotest.UniqueName(t)+"/", time.Minute)
	for _, c := range []tb.Connector{
		{ID: "z1", Kind: tb.KindZammad, Name: "Zammad", BaseURL: zURL, TokenSecret: "connectors/z1/token"},
		{ID: "k1", Kind: tb.KindKimai, Name: "Kimai", BaseURL: kURL, TokenSecret: "connectors/k1/token"},
	} {
		if _, err := h.st.CreateConnector(ctx, c); err != nil {
			t.Fatalf("create connector: %v", err)
		}
	}
	if err := secrets.Put(ctx, "connectors/z1/token", zToken); err != nil {
		t.Fatalf("store token: %v", err)
	}
	if err := secrets.Put(ctx, "connectors/k1/token", kToken); err != nil {
		t.Fatalf("store token: %v", err)
	}
	connector := connect.New(h.st, secrets, connect.Options{Policy: policy})
	h.conn, h.secrets = connector, secrets
	eo := o.engine
	if eo.RetryDelay == 0 {
		eo.RetryDelay = 5 * time.Millisecond
	}
	h.eng = engine.New(&crashStore{Store: h.st, h: h}, connector, o.log, eo)
	h.eng.SetClock(clock)

	p := tb.Profile{ID: "p1", Name: "Support", ZammadConnectorID: "z1", KimaiConnectorID: "k1", Enabled: true,
		AutoCreateCustomers: true, AutoCreateProjects: true, AutoCreateActivities: true}
	if o.profile != nil {
		o.profile(&p)
	}
	created, err := h.st.CreateProfile(context.Background(), p)
	if err != nil {
		t.Fatalf("create profile: %v", err)
	}
	h.profile = created
	return h
}

// crashStore wraps the store to simulate a crash after Kimai answered.
type crashStore struct {
	*store.Store
	h *harness
}

func (c *crashStore) PutLink(ctx context.Context, l tb.Link, prev *tb.Link) (tb.Link, error) {
	if c.h.crash != nil && l.State == tb.LinkSynced && c.h.crash(l) {
		return tb.Link{}, errCrash
	}
	return c.Store.PutLink(ctx, l, prev)
}

func (c *crashStore) TakeLease(ctx context.Context, name, owner string, ttl time.Duration) (int64, bool, error) {
	if f := c.h.renewals; f != nil {
		if err := f(); err != nil {
			return 0, false, err
		}
	}
	return c.Store.TakeLease(ctx, name, owner, ttl)
}

var errCrash = &crashError{}

type crashError struct{}

func (*crashError) Error() string { return "simulated crash before the link write" }

// seed adds an organization, an agent, a type and a ticket.
func (h *harness) seedBasics() (ticketID, agentID, typeID int64) {
	h.zs.AddOrganization(zammadsim.Organization{ID: 2, Name: `Chrispresso "Inc." <coffee>`})
	h.zs.AddUser(zammadsim.User{ID: 3, Login: "chris", Firstname: "Chris", Lastname: "Miller", Email: "chris@example.com", OrganizationID: 2})
	h.zs.AddGroup(zammadsim.Group{ID: 1, Name: "Users"})
	h.zs.AddType(zammadsim.Type{ID: 2, Name: "Billable support"})
	h.zs.AddTicket(zammadsim.Ticket{ID: 50, Number: "53003", Title: "Order 787556", OrganizationID: 2, GroupID: 1, CustomerID: 3})
	return 50, 3, 2
}

func (h *harness) addEntry(ticket, agent, typ int64, units string, at time.Time) zammadsim.Entry {
	return h.zs.AddEntry(zammadsim.Entry{TicketID: ticket, CreatedByID: agent, TypeID: typ, TimeUnit: decimal.MustParse(units), CreatedAt: at, UpdatedAt: at})
}

func (h *harness) run(mode tb.RunMode, mut ...func(*engine.Request)) tb.Run {
	h.t.Helper()
	req := engine.Request{ProfileID: h.profile.ID, Mode: mode, Trigger: "test"}
	for _, m := range mut {
		m(&req)
	}
	r, err := h.eng.Run(context.Background(), req)
	if err != nil {
		h.t.Fatalf("run %s: %v (%+v)", mode, err, r.Error)
	}
	return r
}

// kimaiWrites counts POST/PATCH/DELETE requests to Kimai.
func (h *harness) kimaiWrites() int {
	n := 0
	for k, v := range h.ks.Requests() {
		if len(k) > 4 && (k[:4] == "POST" || k[:5] == "PATCH" || k[:6] == "DELETE") {
			n += v
		}
	}
	return n
}

// sheetsByMarker groups Kimai's timesheets by the entry id in their marker.
func (h *harness) sheetsByEntry() map[int64][]tb.Timesheet {
	out := map[int64][]tb.Timesheet{}
	for _, s := range h.ks.Timesheets() {
		if _, id, ok := plan.ParseMarker(s.Description); ok {
			out[id] = append(out[id], s)
		}
	}
	return out
}

func (h *harness) openConflicts() []tb.Conflict {
	h.t.Helper()
	cs, err := h.st.ListConflicts(context.Background(), h.profile.ID, tb.ConflictOpen)
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].EntryID < cs[j].EntryID })
	return cs
}

func (h *harness) conflictOf(entryID int64) tb.Conflict {
	h.t.Helper()
	c, err := h.st.ConflictByID(context.Background(), tb.ConflictID(h.profile.ID, entryID))
	if err != nil {
		h.t.Fatalf("conflict of entry %d: %v", entryID, err)
	}
	return c
}

func (h *harness) resolve(entryID int64, res tb.Resolution) tb.Conflict {
	h.t.Helper()
	c, err := h.eng.Resolve(context.Background(), tb.ConflictID(h.profile.ID, entryID), res, "tester")
	if err != nil {
		h.t.Fatalf("resolve %d with %s: %v", entryID, res, err)
	}
	return c
}

// marker is the description marker of a Zammad entry in this harness.
func (h *harness) marker(entryID int64) string {
	inst, err := zammad.InstanceID(h.zURL)
	if err != nil {
		h.t.Fatal(err)
	}
	return plan.Marker(inst, entryID)
}

func zammadsimTicket(id int64, number string) zammadsim.Ticket {
	return zammadsim.Ticket{ID: id, Number: number, Title: "Other ticket", OrganizationID: 2, GroupID: 1, CustomerID: 3}
}
