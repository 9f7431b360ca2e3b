package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The login brake. Failed logins are counted in shared counters (DynamoDB
// through Counters), so every Lambda instance sees the same numbers, in
// fixed time windows whose number is part of the counter's name:
//
//   - per client address (an IPv6 address counts by its /64): a source that
//     keeps failing is refused until its window ends, whatever usernames it
//     tries;
//   - per username, for logins without a device token: at most a few
//     guesses per minute in total, from however many addresses;
//   - all untrusted failures together: a cap on the password checks (bcrypt
//     CPU) and audit events a flood can cause;
//   - per device token, for logins that present one.
//
// A device token is what keeps the admin in. Every successful login returns
// one (signed with the admin's key, valid DeviceTTL); a browser that
// presents a valid token for the username is checked only against its own
// counter, so no hostile stream of wrong logins, from any number of
// addresses, refuses the admin in a browser that has signed in before. A
// stolen device token gives no more than DeviceFailures guesses per window.
// A browser that never signed in shares the username's budget with
// everyone else: during a sustained attack it may have to wait (the answer
// says so); renaming the admin in the admin secret ends such an attack.
//
// Refused attempts check no password and write nothing, so they cost one
// read; only failed password checks are counted and audited.

// Counters are shared counters (the store's AddCount and Counts).
type Counters interface {
	AddCount(ctx context.Context, name string, delta int64, expiresAt time.Time) (int64, error)
	Counts(ctx context.Context, names ...string) (map[string]int64, error)
}

// BrakeOptions tune the login brake; zero fields take the defaults.
type BrakeOptions struct {
	// AddressFailures failed logins per client address per AddressWindow
	// (default 10 per 15 min) refuse that address for the rest of the window.
	AddressFailures int
	AddressWindow   time.Duration
	// UserFailures failed logins without a device token per username per
	// UserWindow (default 5 per minute) refuse further such logins for that
	// username for the rest of the window.
	UserFailures int
	UserWindow   time.Duration
	// GlobalFailures failed logins without a device token per GlobalWindow,
	// all usernames and addresses together (default 30 per minute), refuse
	// further such logins for the rest of the window.
	GlobalFailures int
	GlobalWindow   time.Duration
	// DeviceFailures failed logins with one device token per DeviceWindow
	// (default 5 per 15 min) make that token count as absent for the rest of
	// the window.
	DeviceFailures int
	DeviceWindow   time.Duration
	// DeviceTTL is how long a device token is valid (default 90 days); every
	// successful login issues a fresh one.
	DeviceTTL time.Duration
}

func (o BrakeOptions) withDefaults() BrakeOptions {
	def := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defD := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.AddressFailures, 10)
	defD(&o.AddressWindow, 15*time.Minute)
	def(&o.UserFailures, 5)
	defD(&o.UserWindow, time.Minute)
	def(&o.GlobalFailures, 30)
	defD(&o.GlobalWindow, time.Minute)
	def(&o.DeviceFailures, 5)
	defD(&o.DeviceWindow, 15*time.Minute)
	defD(&o.DeviceTTL, 90*24*time.Hour)
	return o
}

// Scopes of a brake, in events and refusals.
const (
	ScopeAddress = "address"
	ScopeUser    = "user"
	ScopeGlobal  = "all"
	ScopeDevice  = "device"
)

// counter is one brake's counter for the current window.
type counter struct {
	scope string
	name  string
	limit int
	end   time.Time // end of the window
}

// window returns the number and end of the window of length d holding now.
func window(now time.Time, d time.Duration) (int64, time.Time) {
	n := now.UnixNano() / int64(d)
	return n, time.Unix(0, (n+1)*int64(d))
}

func (o BrakeOptions) counter(scope, id string, limit int, d time.Duration, now time.Time) counter {
	n, end := window(now, d)
	return counter{scope: scope, name: "login-" + scope + ":" + id + ":" + strconv.FormatInt(n, 10), limit: limit, end: end}
}

// hashID keeps attacker-chosen strings (usernames) out of counter names.
func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// AddressKey is the brake's key for a client address: an IPv4 address
// itself, an IPv6 address by its /64 (one subscriber), "unknown" when the
// address cannot be parsed. A port is ignored.
func AddressKey(addr string) string {
	addr = strings.TrimSpace(addr)
	ap, err := netip.ParseAddrPort(addr)
	a := ap.Addr()
	if err != nil {
		if a, err = netip.ParseAddr(strings.Trim(addr, "[]")); err != nil {
			return "unknown"
		}
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return strings.ReplaceAll(p.String(), ":", "-")
}

// ---- device tokens ----

const deviceTokenVersion = "d1"

// deviceKey derives the key that signs device tokens from the admin's
// signing key, so rotating the admin secret revokes every device token.
func deviceKey(admin Admin) []byte {
	m := hmac.New(sha256.New, admin.key)
	m.Write([]byte("timebridge device token v1"))
	return m.Sum(nil)
}

func deviceMAC(admin Admin, username, id string, exp int64) []byte {
	m := hmac.New(sha256.New, deviceKey(admin))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp))
	m.Write([]byte(deviceTokenVersion + "\x00" + username + "\x00" + id + "\x00"))
	m.Write(b[:])
	return m.Sum(nil)
}

// newDeviceToken returns "d1.<id>.<expiry unix>.<mac>".
func newDeviceToken(admin Admin, now time.Time, ttl time.Duration) (string, error) {
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("auth: device token: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	exp := now.Add(ttl).Unix()
	mac := base64.RawURLEncoding.EncodeToString(deviceMAC(admin, admin.Username, id, exp))
	return deviceTokenVersion + "." + id + "." + strconv.FormatInt(exp, 10) + "." + mac, nil
}

// maxDeviceToken bounds what verifyDeviceToken parses.
const maxDeviceToken = 128

// verifyDeviceToken returns the token's id when it is a valid, unexpired
// device token issued to username by this admin secret.
func verifyDeviceToken(admin Admin, username, token string, now time.Time) (string, bool) {
	if token == "" || len(token) > maxDeviceToken {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != deviceTokenVersion || len(parts[1]) != 24 {
		return "", false
	}
	if _, err := hex.DecodeString(parts[1]); err != nil {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || now.Unix() >= exp {
		return "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || !hmac.Equal(mac, deviceMAC(admin, username, parts[1], exp)) {
		return "", false
	}
	return parts[1], true
}
