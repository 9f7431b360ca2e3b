package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Token claims.
const (
	Issuer   = "timebridge"
	Audience = "timebridge-api"
	// DefaultTokenTTL is how long a session token is valid.
	DefaultTokenTTL = 12 * time.Hour
	// MaxTokenLength bounds what Verify parses.
	MaxTokenLength = 4096
	// MaxUsernameLength and MaxPasswordLength bound login input (the API
	// validates them too; this keeps the package safe on its own).
	MaxUsernameLength = 128
	MaxPasswordLength = 1024
)

// Messages shown to users.
const (
	msgWrongLogin = "The username or password is wrong."
	msgExpired    = "The session has expired; log in again."
	msgBadToken   = "The session token is invalid; log in again."
)

// Options tune an Authenticator; zero fields take defaults.
type Options struct {
	TokenTTL time.Duration // default DefaultTokenTTL
	Brake    BrakeOptions
	Now      func() time.Time // default time.Now
}

// Event types.
const (
	EventLoginFailed = "auth.login_failed"
	EventLocked      = "auth.locked"
)

// Event is a failed login or a lockout. Username is what the client sent
// (trimmed, at most MaxUsernameLength bytes), not necessarily a real user.
type Event struct {
	Type     string
	Username string
	Address  string    // the client address as given to Login
	Device   bool      // the login presented a valid device token
	Scope    string    // EventLocked: which brake (Scope*)
	Until    time.Time // EventLocked: when the lock ends
}

// Authenticator logs the admin in and verifies session tokens. It is safe
// for concurrent use.
type Authenticator struct {
	src      AdminSource
	counters Counters
	ttl      time.Duration
	now      func() time.Time
	brake    BrakeOptions
}

// New returns an Authenticator reading the admin secret from src (usually a
// Loader) and counting failed logins in counters (the store).
func New(src AdminSource, counters Counters, opts Options) *Authenticator {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{src: src, counters: counters, ttl: opts.TokenTTL, now: opts.Now,
		brake: opts.Brake.withDefaults()}
}

// Token is an issued session token. Its value is a bearer credential: it
// is shown to the client once and never logged. DeviceToken marks the
// client as one the admin has signed in from (see the login brake); the
// client keeps it and presents it with later logins.
type Token struct {
	Token       string    `json:"token"`
	ExpiresAt   time.Time `json:"expires_at"`
	DeviceToken string    `json:"device_token,omitempty"`
}

// Claims are what a verified token says.
type Claims struct {
	Username  string
	ExpiresAt time.Time
}

// LoginRequest is one login attempt.
type LoginRequest struct {
	Username string
	Password string
	// Address is the client's real address (host or host:port): behind
	// CloudFront the viewer's, never a client-supplied header.
	Address string
	// DeviceToken is the token an earlier successful login returned, if
	// the client has one.
	DeviceToken string
}

// Login checks username and password and returns a session token and a
// fresh device token, and the events to audit (failed logins, lockouts;
// also with an error). Failed logins are braked (see BrakeOptions): a
// refused attempt is apperr.RateLimited with RetryAfter and checks no
// password, so a correct guess while refused is not confirmed either. A
// wrong username or password is apperr.Auth; both are always checked, so
// the answer time does not tell which was wrong.
func (a *Authenticator) Login(ctx context.Context, in LoginRequest) (Token, []Event, error) {
	const op = "auth: login"
	now := a.now()
	admin, err := a.src.Admin(ctx)
	if err != nil {
		return Token{}, nil, fmt.Errorf("auth: load admin secret: %w", err)
	}
	// The username as CheckUsername compares it: "ADMIN " is another user.
	user := strings.TrimSpace(in.Username)
	if len(user) > MaxUsernameLength {
		user = user[:MaxUsernameLength]
	}
	o := a.brake
	addr := o.counter(ScopeAddress, AddressKey(in.Address), o.AddressFailures, o.AddressWindow, now)
	usr := o.counter(ScopeUser, hashID(user), o.UserFailures, o.UserWindow, now)
	all := o.counter(ScopeGlobal, "all", o.GlobalFailures, o.GlobalWindow, now)
	names := []string{addr.name, usr.name, all.name}
	deviceID, trusted := verifyDeviceToken(admin, user, in.DeviceToken, now)
	var dev counter
	if trusted {
		dev = o.counter(ScopeDevice, deviceID, o.DeviceFailures, o.DeviceWindow, now)
		names = append(names, dev.name)
	}
	counts, err := a.counters.Counts(ctx, names...)
	if err != nil {
		return Token{}, nil, fmt.Errorf("auth: read login counters: %w", err)
	}
	if trusted && counts[dev.name] >= int64(dev.limit) {
		trusted = false // a device token that keeps failing is worth nothing
	}
	brakes := []counter{addr, usr, all}
	if trusted {
		brakes = []counter{dev}
	}
	for _, c := range brakes {
		if counts[c.name] >= int64(c.limit) {
			return Token{}, nil, refused(op, c, now)
		}
	}

	// Both comparisons always run (no short-circuit).
	valid := len(in.Username) <= MaxUsernameLength && len(in.Password) <= MaxPasswordLength
	userOK := admin.CheckUsername(user)
	passOK := valid && admin.CheckPassword(in.Password)
	if !valid || !userOK || !passOK {
		events := []Event{{Type: EventLoginFailed, Username: user, Address: in.Address, Device: trusted}}
		for _, c := range brakes {
			n, err := a.counters.AddCount(ctx, c.name, 1, c.end.Add(time.Minute))
			if err != nil {
				return Token{}, nil, fmt.Errorf("auth: count failed login: %w", err)
			}
			if n == int64(c.limit) {
				events = append(events, Event{Type: EventLocked, Username: user, Address: in.Address, Device: trusted, Scope: c.scope, Until: c.end})
			}
		}
		return Token{}, events, apperr.New(apperr.Auth, op, msgWrongLogin)
	}
	tok, err := a.issue(admin, now)
	if err != nil {
		return Token{}, nil, err
	}
	if tok.DeviceToken, err = newDeviceToken(admin, now, o.DeviceTTL); err != nil {
		return Token{}, nil, apperr.Wrap(err, apperr.Internal, op, "")
	}
	return tok, nil, nil
}

// refused is the answer while brake c holds.
func refused(op string, c counter, now time.Time) error {
	secs := int((c.end.Sub(now) + time.Second - 1) / time.Second)
	var msg string
	switch c.scope {
	case ScopeAddress:
		msg = fmt.Sprintf("Too many failed logins from your address; try again in %d seconds.", secs)
	case ScopeUser:
		msg = fmt.Sprintf("Too many failed logins for this username; try again in %d seconds. A browser you have signed in from before is not held back.", secs)
	default:
		msg = fmt.Sprintf("Too many failed logins right now; try again in %d seconds. A browser you have signed in from before is not held back.", secs)
	}
	return &apperr.Error{Kind: apperr.RateLimited, Op: op, RetryAfter: time.Duration(secs) * time.Second, Message: msg}
}

func (a *Authenticator) issue(admin Admin, now time.Time) (Token, error) {
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return Token{}, apperr.Wrap(err, apperr.Internal, "auth: issue token", "")
	}
	// Whole seconds: the JWT carries seconds, so expires_at matches it exactly.
	now = now.Truncate(time.Second)
	exp := now.Add(a.ttl)
	claims := jwt.RegisteredClaims{
		Issuer:    Issuer,
		Subject:   admin.Username,
		Audience:  jwt.ClaimStrings{Audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        hex.EncodeToString(jti[:]),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(admin.key)
	if err != nil {
		return Token{}, apperr.Wrap(err, apperr.Internal, "auth: issue token", "")
	}
	return Token{Token: s, ExpiresAt: exp.UTC()}, nil
}

// Verify checks a session token: signature (HS256 only), issuer, audience,
// expiry and that its subject is the current admin. Failures are
// apperr.Auth with a message saying whether to log in again because the
// session expired or because the token is invalid.
func (a *Authenticator) Verify(ctx context.Context, token string) (Claims, error) {
	const op = "auth: verify token"
	if token == "" || len(token) > MaxTokenLength {
		return Claims{}, apperr.New(apperr.Auth, op, msgBadToken)
	}
	admin, err := a.src.Admin(ctx)
	if err != nil {
		return Claims{}, fmt.Errorf("auth: load admin secret: %w", err)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(a.now),
	)
	var c jwt.RegisteredClaims
	_, err = p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return admin.key, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, apperr.Wrap(err, apperr.Auth, op, msgExpired)
		}
		return Claims{}, apperr.Wrap(err, apperr.Auth, op, msgBadToken)
	}
	if !admin.CheckUsername(c.Subject) {
		// Signed with the current key but for another username: the admin
		// was renamed.
		return Claims{}, apperr.New(apperr.Auth, op, msgBadToken)
	}
	return Claims{Username: c.Subject, ExpiresAt: c.ExpiresAt.Time.UTC()}, nil
}
