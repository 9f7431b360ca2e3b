package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
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
	// DefaultTokenTTL is how long a session token is valid; the console
	// renews it (Refresh) while it is used.
	DefaultTokenTTL = 15 * time.Minute
	// DefaultMaxSession is how long renewals can extend a session after
	// its login.
	DefaultMaxSession = 12 * time.Hour
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
	msgSignedOut  = "The session was signed out; log in again."
	msgTooOld     = "The session is older than the longest allowed; log in again."
)

// Options tune an Authenticator; zero fields take defaults.
type Options struct {
	TokenTTL   time.Duration // default DefaultTokenTTL
	MaxSession time.Duration // default DefaultMaxSession
	Brake      BrakeOptions
	Now        func() time.Time // default time.Now
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
	sessions Sessions
	ttl      time.Duration
	maxAge   time.Duration
	now      func() time.Time
	brake    BrakeOptions
}

// Store is what the Authenticator keeps in the table: the login brake's
// counters and the server-side session state.
type Store interface {
	Counters
	Sessions
}

// Sessions is the server-side session state (the store): a version that
// signing out everywhere bumps, and revoked token ids.
type Sessions interface {
	// SessionState returns the current session version and whether the
	// token tokenID ("" for none) was revoked.
	SessionState(ctx context.Context, tokenID string) (version int64, revoked bool, err error)
	// BumpSessionVersion invalidates every token issued so far.
	BumpSessionVersion(ctx context.Context) (int64, error)
	// RevokeToken revokes one token until it expires anyway.
	RevokeToken(ctx context.Context, tokenID string, until time.Time) error
}

// New returns an Authenticator reading the admin secret from src (usually a
// Loader) and keeping the brake's counters and the session state in st (the
// store).
func New(src AdminSource, st Store, opts Options) *Authenticator {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.MaxSession <= 0 {
		opts.MaxSession = DefaultMaxSession
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{src: src, counters: st, sessions: st, ttl: opts.TokenTTL, maxAge: opts.MaxSession,
		now: opts.Now, brake: opts.Brake.withDefaults()}
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
	TokenID   string
	// AuthTime is when the session's login happened; renewals keep it.
	AuthTime time.Time
}

// tokenClaims are the JWT's claims: the registered ones, the session
// version (sv) it was issued under, a tag of the password (pwt; a changed
// password invalidates it) and the login time (auth_time).
type tokenClaims struct {
	jwt.RegisteredClaims
	Version     int64  `json:"sv"`
	PasswordTag string `json:"pwt"`
	AuthTime    int64  `json:"auth_time"`
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
	version, _, err := a.sessions.SessionState(ctx, "")
	if err != nil {
		return Token{}, nil, fmt.Errorf("auth: read session state: %w", err)
	}
	tok, err := a.issue(admin, now, now, version)
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

// issue signs a token for a session that logged in at authTime, valid for
// the TTL but never beyond the session's maximum age.
func (a *Authenticator) issue(admin Admin, now, authTime time.Time, version int64) (Token, error) {
	var jti [12]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return Token{}, apperr.Wrap(err, apperr.Internal, "auth: issue token", "")
	}
	// Whole seconds: the JWT carries seconds, so expires_at matches it exactly.
	now, authTime = now.Truncate(time.Second), authTime.Truncate(time.Second)
	exp := now.Add(a.ttl)
	if end := authTime.Add(a.maxAge); end.Before(exp) {
		exp = end
	}
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   admin.Username,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        hex.EncodeToString(jti[:]),
		},
		Version:     version,
		PasswordTag: admin.passwordTag(),
		AuthTime:    authTime.Unix(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(admin.key)
	if err != nil {
		return Token{}, apperr.Wrap(err, apperr.Internal, "auth: issue token", "")
	}
	return Token{Token: s, ExpiresAt: exp.UTC()}, nil
}

// Verify checks a session token: signature (HS256 only), issuer, audience,
// expiry, that its subject is the current admin and its password tag the
// current password's, and, in the store, that it was issued under the
// current session version and not revoked. Failures are apperr.Auth with a
// message saying why to log in again.
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
	var c tokenClaims
	_, err = p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return admin.key, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, apperr.Wrap(err, apperr.Auth, op, msgExpired)
		}
		return Claims{}, apperr.Wrap(err, apperr.Auth, op, msgBadToken)
	}
	if !admin.CheckUsername(c.Subject) || c.ID == "" || c.AuthTime == 0 {
		// Signed with the current key but for another username (the admin
		// was renamed), or not a token this package issued.
		return Claims{}, apperr.New(apperr.Auth, op, msgBadToken)
	}
	if subtle.ConstantTimeCompare([]byte(c.PasswordTag), []byte(admin.passwordTag())) != 1 {
		return Claims{}, apperr.New(apperr.Auth, op, msgSignedOut) // the password changed
	}
	version, revoked, err := a.sessions.SessionState(ctx, c.ID)
	if err != nil {
		return Claims{}, fmt.Errorf("auth: read session state: %w", err)
	}
	if revoked || version != c.Version {
		return Claims{}, apperr.New(apperr.Auth, op, msgSignedOut)
	}
	return Claims{Username: c.Subject, ExpiresAt: c.ExpiresAt.Time.UTC(), TokenID: c.ID,
		AuthTime: time.Unix(c.AuthTime, 0).UTC()}, nil
}

// Refresh renews a verified session: a new token of the same session
// (login time, version), valid for the TTL but never beyond the session's
// maximum age. The console calls it while it is used.
func (a *Authenticator) Refresh(ctx context.Context, c Claims) (Token, error) {
	const op = "auth: refresh token"
	now := a.now()
	if !now.Before(c.AuthTime.Add(a.maxAge)) {
		return Token{}, apperr.New(apperr.Auth, op, msgTooOld)
	}
	admin, err := a.src.Admin(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("auth: load admin secret: %w", err)
	}
	version, revoked, err := a.sessions.SessionState(ctx, c.TokenID)
	if err != nil {
		return Token{}, fmt.Errorf("auth: read session state: %w", err)
	}
	if revoked {
		return Token{}, apperr.New(apperr.Auth, op, msgSignedOut)
	}
	return a.issue(admin, now, c.AuthTime, version)
}

// Logout revokes one verified token (this browser's sign-out).
func (a *Authenticator) Logout(ctx context.Context, c Claims) error {
	if err := a.sessions.RevokeToken(ctx, c.TokenID, c.ExpiresAt); err != nil {
		return fmt.Errorf("auth: revoke token: %w", err)
	}
	return nil
}

// LogoutEverywhere invalidates every token issued so far, in every browser.
func (a *Authenticator) LogoutEverywhere(ctx context.Context) error {
	if _, err := a.sessions.BumpSessionVersion(ctx); err != nil {
		return fmt.Errorf("auth: bump session version: %w", err)
	}
	return nil
}
