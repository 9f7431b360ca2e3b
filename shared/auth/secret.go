// Package auth authenticates Timebridge's single admin user: it parses the
// admin secret (username, password hash, JWT signing key) kept in Secrets
// Manager, checks passwords in constant time, brakes failed logins (brake.go), and
// issues and verifies the HS256 session tokens the HTTP API accepts as
// "Authorization: Bearer <token>".
//
// The admin secret is a JSON string:
//
//	{"username":"admin","password_hash":"<bcrypt>","jwt_key":"<base64 of ≥ 32 random bytes>"}
//
// NewAdminSecret makes one (the local stack uses it). Two fallbacks exist
// for secrets that a CloudFormation template generates with
// GenerateSecretString, which can produce one random field but can neither
// hash it nor produce a second one: a plain "password" (≥ 32 characters,
// compared through SHA-256 in constant time) may stand in for
// "password_hash", and without "jwt_key" the signing key is derived from
// that generated password with HMAC-SHA256. Anyone who can read the secret
// can sign tokens either way, so the fallbacks weaken nothing as long as
// the password is generated (hence the length rule).
//
// Sessions end on the server: a token lives 15 minutes and is renewed
// (Refresh) for at most 12 hours after its login; Logout revokes one token,
// LogoutEverywhere bumps the session version every token carries, and a
// token also carries a tag of the password, so a new password signs every
// session out. Changing jwt_key invalidates every token too, once the
// functions' cached copy of the secret expires (Loader TTL).
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/crypto/bcrypt"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Limits of the admin secret's values.
const (
	// MinPasswordLength applies to passwords hashed by NewAdminSecret.
	MinPasswordLength = 8
	// MaxBcryptPassword is bcrypt's input limit; longer passwords would be
	// silently truncated by the algorithm, so they are refused instead.
	MaxBcryptPassword = 72
	// MinKeyBytes is the minimum JWT signing key length (HS256 wants ≥ 256 bits).
	MinKeyBytes = 32
	// minGeneratedPassword is the length a plain (generated) password must
	// have to be accepted, and to derive a signing key from.
	minGeneratedPassword = 32
	// BcryptCost is the cost of hashes made by NewAdminSecret: 0.12 s per
	// check on one core (BenchmarkCheckPassword), so about 0.43 s on the api
	// function's 512 MB (Lambda gives 512/1769 of a vCPU) and 0.85 s on
	// 256 MB, hence the api function's 512 MB. A rarely used admin login
	// can afford it, it slows offline guessing (OWASP's minimum is 10), and
	// the login brake caps how many checks a flood can cause.
	BcryptCost = 11
)

// Admin is the parsed admin secret. It never prints its secrets: String,
// GoString, Format and LogValue show only the username.
type Admin struct {
	Username string

	hash     string   // bcrypt hash, "" with a plain password
	plainSum [32]byte // SHA-256 of the plain password (fallback)
	hasPlain bool
	key      []byte // JWT signing key
}

func (a Admin) String() string             { return "admin(" + a.Username + ")" }
func (a Admin) GoString() string           { return a.String() }
func (a Admin) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }
func (a Admin) LogValue() slog.Value       { return slog.StringValue(a.String()) }

type adminJSON struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash,omitempty"`
	Password     string `json:"password,omitempty"`
	JWTKey       string `json:"jwt_key,omitempty"`
}

func malformed(reason string) error {
	return apperr.New(apperr.Internal, "auth: parse admin secret",
		"The admin secret is malformed ("+reason+"); regenerate it.")
}

// ParseAdminSecret parses the admin secret JSON. Errors never contain the
// secret's values.
func ParseAdminSecret(value string) (Admin, error) {
	var j adminJSON
	if err := json.Unmarshal([]byte(value), &j); err != nil {
		return Admin{}, malformed("not a JSON object")
	}
	a := Admin{Username: strings.TrimSpace(j.Username)}
	if a.Username == "" || len(a.Username) > 128 {
		return Admin{}, malformed("username missing or longer than 128 characters")
	}
	switch {
	case j.PasswordHash != "":
		if err := checkHash(j.PasswordHash); err != nil {
			return Admin{}, err
		}
		a.hash = j.PasswordHash
	case j.Password != "":
		if len(j.Password) < minGeneratedPassword {
			return Admin{}, malformed(fmt.Sprintf("a plain password must be generated, ≥ %d characters; store password_hash instead", minGeneratedPassword))
		}
		a.plainSum, a.hasPlain = sha256.Sum256([]byte(j.Password)), true
	default:
		return Admin{}, malformed("password_hash missing")
	}
	switch {
	case j.JWTKey != "":
		k, err := decodeKey(j.JWTKey)
		if err != nil {
			return Admin{}, err
		}
		a.key = k
	case j.Password != "":
		m := hmac.New(sha256.New, []byte(j.Password))
		m.Write([]byte("timebridge jwt signing key v1"))
		a.key = m.Sum(nil)
	default:
		return Admin{}, malformed("jwt_key missing")
	}
	return a, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) < MinKeyBytes {
				return nil, malformed(fmt.Sprintf("jwt_key shorter than %d bytes", MinKeyBytes))
			}
			return k, nil
		}
	}
	return nil, malformed("jwt_key is not base64")
}

// checkHash validates a stored password hash without a password. Only
// bcrypt is accepted: argon2id would need golang.org/x/sys, which this
// module does not carry, and bcrypt at cost 11 is ample for one admin login.
func checkHash(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return malformed("password_hash is not a valid bcrypt hash")
		}
		return nil
	case strings.HasPrefix(h, "$argon2"):
		return malformed("argon2 hashes are not supported; store a bcrypt hash (auth.NewAdminSecret makes one)")
	}
	return malformed("password_hash is not a bcrypt hash")
}

// CheckPassword reports whether password is the admin's. The work done does
// not depend on where a wrong password differs.
func (a Admin) CheckPassword(password string) bool {
	switch {
	case a.hasPlain:
		sum := sha256.Sum256([]byte(password))
		return subtle.ConstantTimeCompare(sum[:], a.plainSum[:]) == 1
	case a.hash != "":
		pw := []byte(password)
		tooLong := len(pw) > MaxBcryptPassword
		if tooLong {
			// bcrypt ignores bytes after the 72nd; compare anyway so that
			// the time spent is the same, but never accept.
			pw = pw[:MaxBcryptPassword]
		}
		ok := bcrypt.CompareHashAndPassword([]byte(a.hash), pw) == nil
		return ok && !tooLong
	}
	return false
}

// passwordTag identifies the current password (hash) in session tokens
// without revealing it: an HMAC under the signing key, truncated. A new
// password gives new tags, so it signs every session out.
func (a Admin) passwordTag() string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("timebridge password tag v1\x00"))
	m.Write([]byte(a.hash))
	m.Write(a.plainSum[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// CheckUsername compares username with the admin's in constant time.
func (a Admin) CheckUsername(username string) bool {
	return subtle.ConstantTimeCompare([]byte(username), []byte(a.Username)) == 1
}

// HashPassword returns the bcrypt hash (cost BcryptCost) of password.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("auth: the admin password must have at least %d characters", MinPasswordLength)
	}
	if len(password) > MaxBcryptPassword {
		return "", fmt.Errorf("auth: the admin password must have at most %d bytes", MaxBcryptPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// NewAdminSecret returns the admin secret JSON for username and password:
// a bcrypt hash of the password and a fresh random 32-byte signing key. The
// local stack stores it in Secrets Manager; the password itself is not in it.
func NewAdminSecret(username, password string) (string, error) {
	username = strings.TrimSpace(username)
	if username == "" || len(username) > 128 {
		return "", errors.New("auth: the admin username must have 1 to 128 characters")
	}
	h, err := HashPassword(password)
	if err != nil {
		return "", err
	}
	key := make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("auth: generate signing key: %w", err)
	}
	b, err := json.Marshal(adminJSON{Username: username, PasswordHash: h, JWTKey: base64.StdEncoding.EncodeToString(key)})
	if err != nil {
		return "", fmt.Errorf("auth: encode admin secret: %w", err)
	}
	return string(b), nil
}

// ---- loading the secret ----

// SecretGetter reads a secret's current value by name (or ARN). The
// *vault.Vault (with an empty prefix) and FromSecretsManager satisfy it.
type SecretGetter interface {
	Get(ctx context.Context, name string) (string, error)
}

// SecretsManagerAPI is the part of the Secrets Manager client the adapter uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsManagerAPI = (*secretsmanager.Client)(nil)

// FromSecretsManager reads secrets directly from Secrets Manager. Unlike
// the vault it accepts a full ARN as well as a name, which is what a
// template's !Ref of a secret yields.
func FromSecretsManager(client SecretsManagerAPI) SecretGetter { return smGetter{client} }

type smGetter struct{ client SecretsManagerAPI }

func (g smGetter) Get(ctx context.Context, name string) (string, error) {
	out, err := g.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return "", apperr.Wrap(err, apperr.Internal, "auth: read admin secret "+name,
			"The admin secret cannot be read; check TIMEBRIDGE_ADMIN_SECRET and the function's permission to read it.")
	}
	if out.SecretString == nil {
		return "", apperr.New(apperr.Internal, "auth: read admin secret "+name, "The admin secret holds binary data, not JSON text.")
	}
	return *out.SecretString, nil
}

// AdminSource returns the current admin secret.
type AdminSource interface {
	Admin(ctx context.Context) (Admin, error)
}

// Loader reads and parses the admin secret and caches it for a TTL, so
// that a warm function does not call Secrets Manager per request. When a
// refresh fails, the last good value is kept (a Secrets Manager outage must
// not log the admin out); a rotation is picked up within the TTL.
type Loader struct {
	src  SecretGetter
	name string
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	admin   Admin
	have    bool
	expires time.Time
	loaded  time.Time // when admin was last read successfully
}

// DefaultLoaderTTL is how long a loaded admin secret is used before it is
// read again.
const DefaultLoaderTTL = 5 * time.Minute

// NewLoader returns a Loader for the secret called name; ttl ≤ 0 means
// DefaultLoaderTTL.
func NewLoader(src SecretGetter, name string, ttl time.Duration) *Loader {
	if ttl <= 0 {
		ttl = DefaultLoaderTTL
	}
	return &Loader{src: src, name: name, ttl: ttl, now: time.Now}
}

// maxStale bounds how long the last good admin secret is used while reading
// a fresh one fails.
const maxStale = time.Hour

// Admin returns the cached admin secret, reading it when the cache is
// empty or expired.
func (l *Loader) Admin(ctx context.Context) (Admin, error) {
	l.mu.Lock()
	if l.have && l.now().Before(l.expires) {
		a := l.admin
		l.mu.Unlock()
		return a, nil
	}
	l.mu.Unlock()

	v, err := l.src.Get(ctx, l.name)
	var a Admin
	if err == nil {
		a, err = ParseAdminSecret(v)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		// Keep serving the last good copy through a short Secrets Manager
		// outage, but not for ever: a rotation that fails to parse must
		// not keep the old password and signing key valid indefinitely.
		if l.have && l.now().Sub(l.loaded) < maxStale {
			return l.admin, nil
		}
		return Admin{}, err
	}
	now := l.now()
	l.admin, l.have, l.expires, l.loaded = a, true, now.Add(l.ttl), now
	return a, nil
}

// AdminFunc adapts a function to AdminSource.
type AdminFunc func(ctx context.Context) (Admin, error)

// Admin calls f.
func (f AdminFunc) Admin(ctx context.Context) (Admin, error) { return f(ctx) }

// StaticAdmin is an AdminSource that always returns a (tests, tools).
func StaticAdmin(a Admin) AdminSource {
	return AdminFunc(func(context.Context) (Admin, error) { return a, nil })
}
