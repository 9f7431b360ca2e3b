package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
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
	Throttle ThrottleOptions
	Now      func() time.Time // default time.Now
}

// Authenticator logs the admin in and verifies session tokens. It is safe
// for concurrent use.
type Authenticator struct {
	src      AdminSource
	ttl      time.Duration
	now      func() time.Time
	throttle *throttle
}

// New returns an Authenticator reading the admin secret from src (usually a
// Loader).
func New(src AdminSource, opts Options) *Authenticator {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{src: src, ttl: opts.TokenTTL, now: opts.Now, throttle: newThrottle(opts.Throttle)}
}

// Token is an issued session token. Its value is a bearer credential: it
// is shown to the client once and never logged.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Claims are what a verified token says.
type Claims struct {
	Username  string
	ExpiresAt time.Time
}

// throttle keys: the username with the source IP, and the username alone.
func keys(username, sourceIP string) (pair, user string) {
	u := strings.ToLower(strings.TrimSpace(username))
	if len(u) > MaxUsernameLength {
		u = u[:MaxUsernameLength]
	}
	ip := sourceIP
	if host, _, err := net.SplitHostPort(sourceIP); err == nil {
		ip = host
	}
	return "ip:" + ip + "|" + u, "user:" + u
}

// Login checks username and password and returns a session token.
// sourceIP is the client's address (RemoteAddr; a port is ignored). Failed
// logins are throttled per username and source IP and per username: while
// locked out, Login answers apperr.RateLimited (with RetryAfter) without
// checking the password, so a correct guess during a lockout is not
// confirmed either. A wrong username or password is apperr.Auth; both are
// always checked, so the answer time does not tell which was wrong.
func (a *Authenticator) Login(ctx context.Context, username, password, sourceIP string) (Token, error) {
	const op = "auth: login"
	now := a.now()
	pairKey, userKey := keys(username, sourceIP)
	if d := a.throttle.wait(now, pairKey, userKey); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		return Token{}, &apperr.Error{Kind: apperr.RateLimited, Op: op, RetryAfter: time.Duration(secs) * time.Second,
			Message: fmt.Sprintf("Too many failed logins; try again in %d seconds.", secs)}
	}
	if len(username) > MaxUsernameLength || len(password) > MaxPasswordLength {
		a.throttle.fail(now, pairKey, a.throttle.opts.FreeAttempts, a.throttle.opts.MaxLockout)
		a.throttle.fail(now, userKey, a.throttle.opts.FreeAttemptsPerUser, a.throttle.opts.MaxUserLockout)
		return Token{}, apperr.New(apperr.Auth, op, msgWrongLogin)
	}
	admin, err := a.src.Admin(ctx)
	if err != nil {
		return Token{}, fmt.Errorf("auth: load admin secret: %w", err)
	}
	// Both comparisons always run (no short-circuit).
	userOK := admin.CheckUsername(strings.TrimSpace(username))
	passOK := admin.CheckPassword(password)
	if !userOK || !passOK {
		a.throttle.fail(now, pairKey, a.throttle.opts.FreeAttempts, a.throttle.opts.MaxLockout)
		a.throttle.fail(now, userKey, a.throttle.opts.FreeAttemptsPerUser, a.throttle.opts.MaxUserLockout)
		return Token{}, apperr.New(apperr.Auth, op, msgWrongLogin)
	}
	a.throttle.reset(pairKey, userKey)
	return a.issue(admin, now)
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
