package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/testkit"
)

const testPassword = "correct horse battery"

// testSecret builds an admin secret with a cheap bcrypt hash (MinCost) so
// that tests stay fast; NewAdminSecret's cost-12 path is tested once.
func testSecret(t testing.TB, user, password string) (string, []byte) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, _ := json.Marshal(map[string]string{"username": user, "password_hash": string(h), "jwt_key": base64.StdEncoding.EncodeToString(key)})
	return string(b), key
}

func testAdmin(t testing.TB) Admin {
	t.Helper()
	s, _ := testSecret(t, "admin", testPassword)
	a, err := ParseAdminSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAdminSecret(t *testing.T) {
	s, err := NewAdminSecret(" admin ", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, testPassword) {
		t.Fatal("the secret contains the password")
	}
	var j map[string]string
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		t.Fatal(err)
	}
	if j["username"] != "admin" || !strings.HasPrefix(j["password_hash"], fmt.Sprintf("$2a$%d$", BcryptCost)) {
		t.Fatalf("unexpected secret fields: username %q hash prefix %q", j["username"], j["password_hash"][:7])
	}
	a, err := ParseAdminSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	// One check only: each costs a full bcrypt at BcryptCost (slow under -race).
	if !a.CheckPassword(testPassword) {
		t.Fatal("password check wrong")
	}
	if len(a.key) != 32 {
		t.Fatalf("key length %d", len(a.key))
	}
	for _, bad := range []struct{ user, pw string }{{"", testPassword}, {"admin", "short"}, {"admin", strings.Repeat("x", 73)}} {
		if _, err := NewAdminSecret(bad.user, bad.pw); err == nil {
			t.Errorf("NewAdminSecret(%q, %d chars) accepted", bad.user, len(bad.pw))
		}
	}
}

func TestParseAdminSecretRejects(t *testing.T) {
	good, _ := testSecret(t, "admin", testPassword)
	var base map[string]string
	_ = json.Unmarshal([]byte(good), &base)
	with := func(k, v string) string {
		m := map[string]string{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := map[string]string{
		"not json":       "nope",
		"no username":    with("username", ""),
		"no hash":        with("password_hash", ""),
		"unknown hash":   with("password_hash", "md5$abc"),
		"broken bcrypt":  with("password_hash", "$2a$xx$abc"),
		"argon2":         with("password_hash", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
		"no key":         with("jwt_key", ""),
		"short key":      with("jwt_key", base64.StdEncoding.EncodeToString([]byte("short"))),
		"non-base64 key": with("jwt_key", "!!!not base64!!!"),
		"short plain":    `{"username":"admin","password":"short-plain"}`,
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAdminSecret(v)
			if err == nil {
				t.Fatal("accepted")
			}
			if !apperr.Is(err, apperr.Internal) {
				t.Fatalf("kind %s", apperr.KindOf(err))
			}
			if strings.Contains(err.Error(), base["password_hash"]) || strings.Contains(err.Error(), base["jwt_key"]) {
				t.Fatal("error leaks the secret")
			}
		})
	}
}

func TestPlainFallback(t *testing.T) {
	// A CloudFormation-generated secret: plain password, no jwt_key.
	plain := strings.Repeat("Ab3", 12)
	p, err := ParseAdminSecret(fmt.Sprintf(`{"username":"admin","password":%q}`, plain))
	if err != nil {
		t.Fatal(err)
	}
	if !p.CheckPassword(plain) || p.CheckPassword(plain+"x") || len(p.key) != 32 {
		t.Fatal("plain fallback wrong")
	}
	// The template's other form: a bcrypt hash with a generated 64-character
	// alphanumeric jwt_key (valid base64 of 48 bytes).
	h, _ := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	gen, err := ParseAdminSecret(fmt.Sprintf(`{"username":"admin","password_hash":%q,"jwt_key":%q}`, h, strings.Repeat("aZ09", 16)))
	if err != nil || len(gen.key) != 48 {
		t.Fatalf("generated jwt_key: %v (%d bytes)", err, len(gen.key))
	}
	p2, _ := ParseAdminSecret(fmt.Sprintf(`{"username":"admin","password":%q}`, plain+"x"))
	if bytes.Equal(p.key, p2.key) {
		t.Fatal("derived keys of different passwords are equal")
	}
}

func TestBcryptRefusesOverlongPassword(t *testing.T) {
	long := strings.Repeat("a", 72)
	h, _ := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	a := Admin{Username: "admin", hash: string(h), key: make([]byte, 32)}
	if !a.CheckPassword(long) {
		t.Fatal("72-byte password refused")
	}
	// bcrypt itself would accept this (it ignores bytes after the 72nd).
	if a.CheckPassword(long + "tail") {
		t.Fatal("overlong password accepted")
	}
}

func TestAdminNeverPrintsSecrets(t *testing.T) {
	s, key := testSecret(t, "admin", testPassword)
	a, err := ParseAdminSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "admin", a)
	outs := []string{fmt.Sprint(a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), fmt.Sprintf("%v", struct{ A Admin }{a}), buf.String()}
	for _, out := range outs {
		if strings.Contains(out, a.hash) || strings.Contains(out, string(key)) || strings.Contains(out, "$2a$") {
			t.Fatalf("printed secret: %s", out)
		}
	}
}

func newAuth(t testing.TB, c *testkit.Clock, o BrakeOptions) *Authenticator {
	return New(StaticAdmin(testAdmin(t)), newMemCounters(), Options{Now: c.Now, Brake: o})
}

func TestLoginAndVerify(t *testing.T) {
	c := testkit.NewClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	a := newAuth(t, c, BrakeOptions{})
	ctx := context.Background()
	tok, _, err := a.Login(ctx, LoginRequest{Username: "admin", Password: testPassword, Address: "203.0.113.5"})
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(DefaultTokenTTL); !tok.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %v, want %v", tok.ExpiresAt, want)
	}
	cl, err := a.Verify(ctx, tok.Token)
	if err != nil || cl.Username != "admin" {
		t.Fatalf("verify: %v %+v", err, cl)
	}

	for name, tc := range map[string]struct{ user, pw string }{
		"wrong password": {"admin", "wrong"},
		"wrong user":     {"root", testPassword},
		"empty":          {"", ""},
		"case":           {"Admin", testPassword},
	} {
		if _, _, err := a.Login(ctx, LoginRequest{Username: tc.user, Password: tc.pw, Address: "203.0.113.6"}); !apperr.Is(err, apperr.Auth) {
			t.Errorf("%s: %v", name, err)
		}
	}

	c.Add(DefaultTokenTTL + time.Second)
	_, err = a.Verify(ctx, tok.Token)
	if !apperr.Is(err, apperr.Auth) || apperr.MessageOf(err) != msgExpired {
		t.Fatalf("expired token: %v", err)
	}
}

func TestVerifyRejectsForgedTokens(t *testing.T) {
	c := testkit.NewClock(time.Now())
	admin := testAdmin(t)
	a := New(StaticAdmin(admin), newMemCounters(), Options{Now: c.Now})
	now := c.Now() // the verifier's own clock: iat must not be after it
	claims := func() tokenClaims {
		return tokenClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: "admin", Audience: jwt.ClaimStrings{Audience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: "t1"},
			PasswordTag: admin.passwordTag(), AuthTime: now.Unix()}
	}
	sign := func(m jwt.SigningMethod, cl tokenClaims, key any) string {
		s, err := jwt.NewWithClaims(m, cl).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherKey := bytes.Repeat([]byte{1}, 32)
	noExp := claims()
	noExp.ExpiresAt = nil
	wrongAud := claims()
	wrongAud.Audience = jwt.ClaimStrings{"other"}
	wrongSub := claims()
	wrongSub.Subject = "root"
	wrongIss := claims()
	wrongIss.Issuer = "someone"
	noID := claims()
	noID.ID = ""
	oldPassword := claims()
	oldPassword.PasswordTag = "a-previous-password"
	oldVersion := claims()
	oldVersion.Version = -1
	good := sign(jwt.SigningMethodHS256, claims(), admin.key)
	cases := map[string]string{
		"other key":       sign(jwt.SigningMethodHS256, claims(), otherKey),
		"alg none":        sign(jwt.SigningMethodNone, claims(), jwt.UnsafeAllowNoneSignatureType),
		"HS512":           sign(jwt.SigningMethodHS512, claims(), admin.key),
		"no exp":          sign(jwt.SigningMethodHS256, noExp, admin.key),
		"wrong audience":  sign(jwt.SigningMethodHS256, wrongAud, admin.key),
		"wrong subject":   sign(jwt.SigningMethodHS256, wrongSub, admin.key),
		"wrong issuer":    sign(jwt.SigningMethodHS256, wrongIss, admin.key),
		"no token id":     sign(jwt.SigningMethodHS256, noID, admin.key),
		"old password":    sign(jwt.SigningMethodHS256, oldPassword, admin.key),
		"old version":     sign(jwt.SigningMethodHS256, oldVersion, admin.key),
		"tampered":        tamperSignature(t, good),
		"garbage":         "abc.def.ghi",
		"empty":           "",
		"too long":        strings.Repeat("a", MaxTokenLength+1),
		"payload swapped": strings.Split(good, ".")[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999,"iss":"timebridge","aud":"timebridge-api","jti":"t1","auth_time":1}`)) + "." + strings.Split(good, ".")[2],
	}
	if _, err := a.Verify(context.Background(), good); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
	for name, tok := range cases {
		_, err := a.Verify(context.Background(), tok)
		if !apperr.Is(err, apperr.Auth) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

type countingGetter struct {
	mu    sync.Mutex
	calls int
	value string
	err   error
}

func (g *countingGetter) Get(context.Context, string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	return g.value, g.err
}

func TestLoaderCaches(t *testing.T) {
	s, _ := testSecret(t, "admin", testPassword)
	g := &countingGetter{value: s}
	c := testkit.NewClock(time.Now())
	l := NewLoader(g, "timebridge/admin", time.Minute)
	l.now = c.Now
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if a, err := l.Admin(ctx); err != nil || a.Username != "admin" {
			t.Fatal(a, err)
		}
	}
	if g.calls != 1 {
		t.Fatalf("calls %d, want 1", g.calls)
	}
	c.Add(2 * time.Minute)
	s2, _ := testSecret(t, "root", testPassword)
	g.value = s2
	if a, _ := l.Admin(ctx); a.Username != "root" || g.calls != 2 {
		t.Fatalf("not refreshed: %v, %d calls", a, g.calls)
	}
	// A failing refresh keeps the last good value.
	c.Add(2 * time.Minute)
	g.err = errors.New("secrets manager down")
	if a, err := l.Admin(ctx); err != nil || a.Username != "root" {
		t.Fatalf("stale value not served: %v %v", a, err)
	}
	// … but not for more than an hour: a broken rotation must not keep the
	// old password and key valid for ever.
	c.Add(2 * time.Hour)
	if _, err := l.Admin(ctx); err == nil {
		t.Fatal("a stale admin secret was served hours after reads started failing")
	}
	// Without a good value the error is returned.
	l2 := NewLoader(&countingGetter{err: apperr.New(apperr.Internal, "x", "down")}, "n", 0)
	if _, err := l2.Admin(ctx); err == nil {
		t.Fatal("no error")
	}
	l3 := NewLoader(&countingGetter{value: "garbage"}, "n", 0)
	if _, err := l3.Admin(ctx); !apperr.Is(err, apperr.Internal) {
		t.Fatalf("malformed: %v", err)
	}
}

type fakeSM struct{ value *string }

func (f fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != "arn:aws:secretsmanager:eu-west-1:1:secret:admin-AbCdEf" {
		return nil, errors.New("ResourceNotFoundException")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: f.value}, nil
}

func TestFromSecretsManager(t *testing.T) {
	v := "value"
	g := FromSecretsManager(fakeSM{&v})
	got, err := g.Get(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:admin-AbCdEf")
	if err != nil || got != "value" {
		t.Fatal(got, err)
	}
	if _, err := g.Get(context.Background(), "other"); !apperr.Is(err, apperr.Internal) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := FromSecretsManager(fakeSM{}).Get(context.Background(), "arn:aws:secretsmanager:eu-west-1:1:secret:admin-AbCdEf"); err == nil {
		t.Fatal("binary secret accepted")
	}
}

// tamperSignature flips one bit of a decoded signature byte. Replacing
// base64 characters instead is not always a change: the last character of
// a 32-byte signature carries padding bits, so a substitution can decode to
// the very same signature.
func tamperSignature(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		t.Fatalf("decode signature: %v", err)
	}
	sig[len(sig)/2] ^= 0x01
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// BenchmarkCheckPassword measures one bcrypt check at BcryptCost, the CPU a
// failed login costs (README: the api function's memory is sized by it).
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	a := Admin{Username: "admin", hash: h}
	for b.Loop() {
		if a.CheckPassword("wrong horse battery") {
			b.Fatal("accepted")
		}
	}
}
