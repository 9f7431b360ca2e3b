package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/testkit"
)

// memCounters is the store in memory: the brake's counters and the
// session state.
type memCounters struct {
	mu      sync.Mutex
	n       map[string]int64
	err     error
	adds    int
	version int64
	revoked map[string]bool
}

func newMemCounters() *memCounters {
	return &memCounters{n: map[string]int64{}, revoked: map[string]bool{}}
}

func (m *memCounters) SessionState(_ context.Context, id string) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, false, m.err
	}
	return m.version, m.revoked[id], nil
}

func (m *memCounters) BumpSessionVersion(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.version++
	return m.version, nil
}

func (m *memCounters) RevokeToken(_ context.Context, id string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revoked[id] = true
	return nil
}

func (m *memCounters) AddCount(_ context.Context, name string, d int64, _ time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	m.adds++
	m.n[name] += d
	return m.n[name], nil
}

func (m *memCounters) Counts(_ context.Context, names ...string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	out := map[string]int64{}
	for _, n := range names {
		out[n] = m.n[n]
	}
	return out, nil
}

type brakeFixture struct {
	t      *testing.T
	c      *testkit.Clock
	admin  Admin
	a      *Authenticator
	cnt    *memCounters
	events []Event
}

func newBrake(t *testing.T, o BrakeOptions) *brakeFixture {
	f := &brakeFixture{t: t, c: testkit.NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)), cnt: newMemCounters(), admin: testAdmin(t)}
	f.a = New(StaticAdmin(f.admin), f.cnt, Options{Now: f.c.Now, Brake: o})
	return f
}

func (f *brakeFixture) login(user, pw, addr, device string) (Token, error) {
	tok, evs, err := f.a.Login(context.Background(), LoginRequest{Username: user, Password: pw, Address: addr, DeviceToken: device})
	f.events = append(f.events, evs...)
	return tok, err
}

// mustKind asserts the kind of a login's error (apperr.Kind("") for success).
func (f *brakeFixture) mustKind(what string, err error, want apperr.Kind) {
	f.t.Helper()
	switch {
	case want == "" && err != nil:
		f.t.Fatalf("%s: %v", what, err)
	case want != "" && !apperr.Is(err, want):
		f.t.Fatalf("%s: got %v, want %s", what, err, want)
	}
}

// The finding: one wrong login per second from rotating addresses kept the
// real admin out for an hour. Now the admin, in a browser that signed in
// before, gets in every time, and the stream gets at most UserFailures
// password checks per minute.
func TestBrakeKeepsTheAdminIn(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	tok, err := f.login("admin", testPassword, "192.0.2.10", "")
	f.mustKind("first login", err, "")
	device := tok.DeviceToken
	checks := map[int64]int{} // password checks of the stream per minute
	for s := 0; s < 3600; s++ {
		_, err := f.login("admin", "guess", fmt.Sprintf("203.0.%d.%d", s/250, s%250), "")
		switch {
		case apperr.Is(err, apperr.Auth):
			checks[f.c.Now().Unix()/60]++
		case !apperr.Is(err, apperr.RateLimited):
			t.Fatalf("second %d: %v", s, err)
		}
		if s%300 == 150 {
			tok, err := f.login("admin", testPassword, "192.0.2.10", device)
			f.mustKind(fmt.Sprintf("the admin at second %d", s), err, "")
			device = tok.DeviceToken
		}
		f.c.Add(time.Second)
	}
	total := 0
	for m, n := range checks {
		if n > 5 {
			t.Fatalf("minute %d: %d guesses", m, n)
		}
		total += n
	}
	if total == 0 || total > 300 {
		t.Fatalf("%d guesses in an hour", total)
	}
}

func TestBrakeUsernameBudget(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	for i := 0; i < 5; i++ {
		_, err := f.login("admin", "wrong", fmt.Sprintf("198.51.100.%d", i), "")
		f.mustKind("failure", err, apperr.Auth)
	}
	// A sixth from a fresh address is refused before the password check,
	// even with the right password, and says until when and what helps.
	f.c.Add(10 * time.Second)
	_, err := f.login("admin", testPassword, "198.51.100.99", "")
	f.mustKind("sixth", err, apperr.RateLimited)
	if got := apperr.RetryAfterOf(err); got != 50*time.Second {
		t.Fatalf("retry after %v", got)
	}
	if msg := apperr.MessageOf(err); !strings.Contains(msg, "50 seconds") || !strings.Contains(msg, "signed in from before") {
		t.Fatalf("message %q", msg)
	}
	// Another username is its own budget: "ADMIN " is not "admin".
	_, err = f.login("ADMIN ", "wrong", "198.51.100.98", "")
	f.mustKind("another username", err, apperr.Auth)
	// Next window: allowed again.
	f.c.Add(50 * time.Second)
	_, err = f.login("admin", testPassword, "198.51.100.99", "")
	f.mustKind("next window", err, "")
}

// An address that keeps failing is refused whatever usernames it tries;
// other addresses are not.
func TestBrakeAddress(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	for i := 0; i < 10; i++ {
		_, err := f.login(fmt.Sprintf("user%d", i), "wrong", "203.0.113.7:4000", "")
		f.mustKind("failure", err, apperr.Auth)
		f.c.Add(10 * time.Second) // stays below the username and global budgets
	}
	_, err := f.login("admin", testPassword, "203.0.113.7:4001", "")
	f.mustKind("refused address", err, apperr.RateLimited)
	if !strings.Contains(apperr.MessageOf(err), "your address") {
		t.Fatalf("message %q", apperr.MessageOf(err))
	}
	_, err = f.login("admin", testPassword, "203.0.113.8", "")
	f.mustKind("other address", err, "")
	// IPv6 counts by /64.
	for i := 0; i < 10; i++ {
		_, err := f.login(fmt.Sprint("v", i), "wrong", fmt.Sprintf("[2001:db8:1:2::%x]:443", i), "")
		f.mustKind("v6 failure", err, apperr.Auth)
		f.c.Add(10 * time.Second)
	}
	_, err = f.login("admin", testPassword, "2001:db8:1:2:ffff::1", "")
	f.mustKind("same /64", err, apperr.RateLimited)
	_, err = f.login("admin", testPassword, "2001:db8:1:3::1", "")
	f.mustKind("other /64", err, "")
}

// A flood with fresh usernames and addresses is capped in total.
func TestBrakeGlobal(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	for i := 0; i < 30; i++ {
		_, err := f.login(fmt.Sprint("u", i), "wrong", fmt.Sprint("198.18.0.", i), "")
		f.mustKind("failure", err, apperr.Auth)
	}
	_, err := f.login("someone", "wrong", "198.18.1.1", "")
	f.mustKind("31st", err, apperr.RateLimited)
	tok, err := f.login("admin", testPassword, "198.18.1.2", "")
	f.mustKind("untrusted admin during the flood", err, apperr.RateLimited)
	_ = tok
}

func TestDeviceTokens(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	tok, err := f.login("admin", testPassword, "192.0.2.1", "")
	f.mustKind("login", err, "")
	admin := f.admin
	id, ok := verifyDeviceToken(admin, "admin", tok.DeviceToken, f.c.Now())
	if !ok || len(id) != 24 {
		t.Fatalf("issued device token does not verify: %q", tok.DeviceToken)
	}
	parts := strings.Split(tok.DeviceToken, ".")
	other, _ := ParseAdminSecret(mustSecret(t, "admin", testPassword))
	for name, c := range map[string]struct {
		admin Admin
		user  string
		tok   string
		at    time.Time
	}{
		"other username":  {admin, "root", tok.DeviceToken, f.c.Now()},
		"other secret":    {other, "admin", tok.DeviceToken, f.c.Now()},
		"expired":         {admin, "admin", tok.DeviceToken, f.c.Now().Add(91 * 24 * time.Hour)},
		"tampered id":     {admin, "admin", parts[0] + "." + strings.Repeat("0", 24) + "." + parts[2] + "." + parts[3], f.c.Now()},
		"longer validity": {admin, "admin", parts[0] + "." + parts[1] + ".99999999999." + parts[3], f.c.Now()},
		"garbage":         {admin, "admin", "d1.x.y.z", f.c.Now()},
		"too long":        {admin, "admin", strings.Repeat("a", 200), f.c.Now()},
	} {
		if _, ok := verifyDeviceToken(c.admin, c.user, c.tok, c.at); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A device token that keeps failing counts for nothing: its holder falls
// back to the untrusted budgets.
func TestBrakeFailingDevice(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	tok, _ := f.login("admin", testPassword, "192.0.2.1", "")
	for i := 0; i < 5; i++ {
		_, err := f.login("admin", "wrong", "192.0.2.1", tok.DeviceToken)
		f.mustKind("device failure", err, apperr.Auth)
	}
	if f.cnt.n[f.a.brake.counter(ScopeUser, hashID("admin"), 5, time.Minute, f.c.Now()).name] != 0 {
		t.Fatal("a trusted failure spent the username's budget")
	}
	// Now untrusted: the username budget applies.
	for i := 0; i < 5; i++ {
		_, err := f.login("admin", "wrong", fmt.Sprint("198.51.100.", i), tok.DeviceToken)
		f.mustKind("untrusted failure", err, apperr.Auth)
	}
	_, err := f.login("admin", testPassword, "192.0.2.1", tok.DeviceToken)
	f.mustKind("locked device", err, apperr.RateLimited)
}

func TestBrakeEvents(t *testing.T) {
	f := newBrake(t, BrakeOptions{UserFailures: 2, AddressFailures: 3})
	for i := 0; i < 3; i++ {
		_, _ = f.login("admin", "wrong", "203.0.113.1", "")
	}
	var got []string
	for _, e := range f.events {
		got = append(got, e.Type+"/"+e.Scope)
		if e.Username != "admin" || e.Address != "203.0.113.1" {
			t.Fatalf("event %+v", e)
		}
	}
	// Two failures, the second locks the username; the third is refused
	// and records nothing.
	want := "auth.login_failed/ auth.login_failed/ auth.locked/user"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	if l := f.events[2]; !l.Until.Equal(time.Date(2025, 3, 1, 10, 1, 0, 0, time.UTC)) {
		t.Fatalf("locked until %v", l.Until)
	}
}

// Without its counters the login fails closed.
func TestBrakeCountersDown(t *testing.T) {
	f := newBrake(t, BrakeOptions{})
	f.cnt.err = apperr.New(apperr.Connection, "store", "DynamoDB is unreachable.")
	_, err := f.login("admin", testPassword, "192.0.2.1", "")
	if err == nil || !errors.Is(err, f.cnt.err) {
		t.Fatalf("login without counters: %v", err)
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":            "203.0.113.5",
		"203.0.113.5:443":        "203.0.113.5",
		"::ffff:203.0.113.5":     "203.0.113.5",
		"[2001:db8::1]:443":      "2001-db8--/64",
		"2001:db8:0:0:1:2:3:4":   "2001-db8--/64",
		"fe80::1%eth0":           "fe80--/64",
		"":                       "unknown",
		"not an address":         "unknown",
		" 198.51.100.1 ":         "198.51.100.1",
		"2001:db8:aaaa:bbbb::99": "2001-db8-aaaa-bbbb--/64",
	} {
		if got := AddressKey(in); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustSecret(t *testing.T, user, pw string) string {
	t.Helper()
	s, err := NewAdminSecret(user, pw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
