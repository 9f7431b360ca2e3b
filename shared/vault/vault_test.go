package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/testkit"
	"github.com/timebridge/timebridge/shared/testkit/kumotest"
	"github.com/timebridge/timebridge/shared/vault"
)

func TestMain(m *testing.M) { os.Exit(kumotest.Run(m)) }

// counting wraps the real client, counts GetSecretValue calls and can hold
// them until released.
type counting struct {
	vault.SecretsAPI
	gets    atomic.Int32
	hold    chan struct{} // if non-nil, GetSecretValue waits for it
	entered chan struct{} // if non-nil, signalled (when there is room) as a GetSecretValue call starts, before the hold
}

func (c *counting) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.gets.Add(1)
	if c.entered != nil {
		select {
		case c.entered <- struct{}{}:
		default: // nobody waits for a later read
		}
	}
	if c.hold != nil {
		<-c.hold
	}
	return c.SecretsAPI.GetSecretValue(ctx, in, opts...)
}

func newVault(t *testing.T, ttl time.Duration) (*vault.Vault, *counting, string) {
	t.Helper()
	env := kumotest.Get(t)
	cl := &counting{SecretsAPI: env.Secrets}
	prefix := "timebridge/" + kumotest.UniqueName(t)
	return vault.New(cl, prefix, ttl), cl, prefix
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestPutGetRotateDelete(t *testing.T) {
	t.Parallel()
	v, cl, prefix := newVault(t, time.Hour)
	c := ctx(t)

	_, err := v.Get(c, "connectors/z1/token")
	if !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	if err := v.Put(c, "connectors/z1/token", "tok-one-1234"); err != nil {
		t.Fatal(err)
	}
	// Stored under the prefix.
	env := kumotest.Get(t)
	out, err := env.Secrets.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: strPtr(prefix + "/connectors/z1/token")})
	if err != nil || *out.SecretString != "tok-one-1234" {
		t.Fatalf("raw secret: %v", err)
	}
	if got, err := v.Get(c, "connectors/z1/token"); err != nil || got != "tok-one-1234" {
		t.Fatalf("get = %q, %v", got, err)
	}
	// Rotate: the cache is invalidated.
	if err := v.Put(c, "connectors/z1/token", "tok-two-5678"); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get(c, "connectors/z1/token"); got != "tok-two-5678" {
		t.Fatalf("after rotation get = %q", got)
	}
	gets := cl.gets.Load()
	if got, _ := v.Get(c, "connectors/z1/token"); got != "tok-two-5678" || cl.gets.Load() != gets {
		t.Fatalf("cached get = %q after %d calls (was %d)", got, cl.gets.Load(), gets)
	}
	// Delete.
	if err := v.Delete(c, "connectors/z1/token"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(c, "connectors/z1/token"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := v.Delete(c, "connectors/z1/token"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// The name can be used again.
	if err := v.Put(c, "connectors/z1/token", "tok-three-9999"); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get(c, "connectors/z1/token"); got != "tok-three-9999" {
		t.Fatalf("re-created get = %q", got)
	}
	_ = v.Delete(c, "connectors/z1/token")
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	v, cl, prefix := newVault(t, 150*time.Millisecond)
	clock := testkit.NewClock(time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC))
	v.SetClock(clock.Now)
	c := ctx(t)
	if err := v.Put(c, "s", "value-123456"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "s") })
	for i := 0; i < 5; i++ {
		if _, err := v.Get(c, "s"); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.gets.Load(); n != 1 {
		t.Fatalf("%d reads within the TTL, want 1", n)
	}
	clock.Add(149 * time.Millisecond)
	if _, err := v.Get(c, "s"); err != nil || cl.gets.Load() != 1 {
		t.Fatalf("just inside the TTL: %v, %d reads", err, cl.gets.Load())
	}
	clock.Add(time.Millisecond)
	if _, err := v.Get(c, "s"); err != nil {
		t.Fatal(err)
	}
	if n := cl.gets.Load(); n != 2 {
		t.Fatalf("%d reads after the TTL, want 2", n)
	}

	// ttl 0: no caching.
	v0 := vault.New(cl, prefix, 0)
	before := cl.gets.Load()
	_, _ = v0.Get(c, "s")
	_, _ = v0.Get(c, "s")
	if n := cl.gets.Load() - before; n != 2 {
		t.Fatalf("ttl 0: %d reads, want 2", n)
	}
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	t.Parallel()
	v, cl, _ := newVault(t, time.Hour)
	c := ctx(t)
	if err := v.Put(c, "shared", "shared-secret-1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "shared") })
	cl.hold = make(chan struct{})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := v.Get(c, "shared")
			if err == nil && got != "shared-secret-1" {
				err = fmt.Errorf("got %q", got)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	// Let the goroutines pile up on the held read, then release it.
	time.Sleep(100 * time.Millisecond)
	close(cl.hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := cl.gets.Load(); got != 1 {
		t.Fatalf("%d reads for %d concurrent misses, want 1", got, n)
	}
}

func TestCallerCancellationDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	v, cl, _ := newVault(t, time.Hour)
	c := ctx(t)
	if err := v.Put(c, "k", "cancel-secret-1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "k") })
	cl.hold, cl.entered = make(chan struct{}), make(chan struct{}, 1)
	first, cancel := context.WithCancel(c)
	done := make(chan error, 1)
	go func() { _, err := v.Get(first, "k"); done <- err }()
	<-cl.entered // the first caller's read is in flight
	second := make(chan string, 1)
	go func() { s, _ := v.Get(c, "k"); second <- s }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !apperr.Is(err, apperr.Timeout) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(cl.hold)
	if got := <-second; got != "cancel-secret-1" {
		t.Fatalf("second caller got %q", got)
	}
}

func TestPutDuringReadIsNotCachedStale(t *testing.T) {
	t.Parallel()
	v, cl, _ := newVault(t, time.Hour)
	c := ctx(t)
	if err := v.Put(c, "r", "old-value-111"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "r") })
	cl.hold, cl.entered = make(chan struct{}), make(chan struct{}, 1)
	got := make(chan string, 1)
	go func() { s, _ := v.Get(c, "r"); got <- s }()
	<-cl.entered // the read is in flight
	// The read is in flight; it reads "old" or "new" depending on timing,
	// but must not be cached after the Put.
	putDone := make(chan error, 1)
	go func() { putDone <- v.Put(c, "r", "new-value-222") }()
	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	close(cl.hold)
	<-got
	if s, _ := v.Get(c, "r"); s != "new-value-222" {
		t.Fatalf("after put during read: %q", s)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	const value = "super-secret-token-a1b2"
	s := vault.Secret(value)
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s|%v|%+v|%#v|%q|%x|%X|%d|%10s", s, s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v", struct{ Token vault.Secret }{s}),
		fmt.Sprintf("%+v", &struct{ Token vault.Secret }{s}),
		fmt.Sprintf("%v", []vault.Secret{s}),
		fmt.Sprintf("%v", map[string]vault.Secret{"k": s}),
	}
	b, _ := json.Marshal(map[string]any{"token": s})
	outputs = append(outputs, string(b))
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "token", s)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "token", s)
	outputs = append(outputs, logBuf.String())
	for _, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, vault.Redacted) {
			t.Errorf("no redaction marker in %s", out)
		}
	}
	if s.Reveal() != value || s.Hint() != "…a1b2" {
		t.Fatal("Reveal/Hint")
	}
}

func TestVaultDoesNotPrintCachedValues(t *testing.T) {
	t.Parallel()
	v, _, _ := newVault(t, time.Hour)
	c := ctx(t)
	if err := v.Put(c, "p", "cached-secret-value"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "p") })
	if _, err := v.Get(c, "p"); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v)} {
		if strings.Contains(out, "cached-secret-value") {
			t.Fatalf("vault printed its cache: %s", out)
		}
	}
}

// failing returns errors that echo the secret value, as a careless backend
// might.
type failing struct {
	vault.SecretsAPI
}

func (failing) CreateSecret(_ context.Context, in *secretsmanager.CreateSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error) {
	return nil, &smtypes.InvalidParameterException{Message: strPtr("bad value " + *in.SecretString)}
}

func (failing) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, &smtypes.ResourceNotFoundException{Message: strPtr("gone")}
}

func TestErrorsNeverContainTheValue(t *testing.T) {
	t.Parallel()
	v := vault.New(failing{}, "timebridge/test", time.Minute)
	const value = "leaky-secret-value-9876"
	err := v.Put(context.Background(), "x", value)
	if err == nil {
		t.Fatal("no error")
	}
	if msg := err.Error(); strings.Contains(msg, value) || !strings.Contains(msg, vault.Redacted) {
		t.Fatalf("error text: %s", msg)
	}
	var ipe *smtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatal("error chain lost")
	}
	if apperr.MessageOf(err) == "" || strings.Contains(apperr.MessageOf(err), value) {
		t.Fatalf("message: %q", apperr.MessageOf(err))
	}
	_, err = v.Get(context.Background(), "x")
	if !apperr.Is(err, apperr.NotFound) || !strings.Contains(err.Error(), "timebridge/test/x") {
		t.Fatalf("get: %v", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	v := vault.New(failing{}, "timebridge/test/", time.Minute)
	if got := v.FullName("a/b"); got != "timebridge/test/a/b" {
		t.Fatalf("full name = %q", got)
	}
	c := context.Background()
	for _, name := range []string{"", "has space", "ümlaut", strings.Repeat("x", 600)} {
		if _, err := v.Get(c, name); !apperr.Is(err, apperr.Validation) {
			t.Errorf("Get(%q): %v", name, err)
		}
	}
	if err := v.Put(c, "ok", ""); !apperr.Is(err, apperr.Validation) {
		t.Errorf("empty value: %v", err)
	}
	if got := vault.New(nil, "", 0).FullName("n"); got != "n" {
		t.Errorf("no prefix: %q", got)
	}
}

func TestHint(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "…"},
		{"abcd", "…d"},
		{"abcdefg", "…g"},
		{"abcdefgh", "…gh"},
		{"abcdefghijkl", "…jkl"},
		{"abcdefghijklmnop", "…mnop"},
		{"a-very-long-api-token-a1b2", "…a1b2"},
		{"ééééééééé€€€€", "…€€€"},
	}
	for _, tc := range tests {
		got := vault.Hint(tc.in)
		if got != tc.want {
			t.Errorf("Hint(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if n := len([]rune(strings.TrimPrefix(got, "…"))); n > 4 || n > len([]rune(tc.in))/4 {
			t.Errorf("Hint(%q) reveals %d characters", tc.in, n)
		}
	}
}

func strPtr(s string) *string { return &s }

// A missing secret is remembered briefly, so a flood of unsigned webhooks
// for a profile without a secret does not read Secrets Manager each time;
// Put makes the new secret visible at once.
func TestMissingSecretIsCachedBriefly(t *testing.T) {
	t.Parallel()
	v, cl, _ := newVault(t, time.Minute)
	c := ctx(t)
	for i := 0; i < 20; i++ {
		if _, err := v.Get(c, "profiles/p1/webhook-secret"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if n := cl.gets.Load(); n != 1 {
		t.Fatalf("%d reads of a missing secret, want 1", n)
	}
	if err := v.Put(c, "profiles/p1/webhook-secret", "now-it-exists-1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), "profiles/p1/webhook-secret") })
	if got, err := v.Get(c, "profiles/p1/webhook-secret"); err != nil || got != "now-it-exists-1" {
		t.Fatalf("after Put: %q %v", got, err)
	}
}

// TestGetFreshFollowsTheRecord is the multi-instance case: instance B
// caches a connector's token, instance A replaces it (Put, then the record
// gets a new version and hint). B, reading for the new record, must read
// Secrets Manager again at once instead of serving its copy for the TTL;
// readers of the old record version may keep the copy.
func TestGetFreshFollowsTheRecord(t *testing.T) {
	t.Parallel()
	a, _, prefix := newVault(t, time.Hour)
	env := kumotest.Get(t)
	cl := &counting{SecretsAPI: env.Secrets}
	b := vault.New(cl, prefix, time.Hour)
	c := ctx(t)
	const name = "connectors/c1/token"
	t.Cleanup(func() { _ = a.Delete(context.Background(), name) })
	if err := a.Put(c, name, "old-token-1111"); err != nil {
		t.Fatal(err)
	}
	v1 := vault.Want{Version: 1, Hint: vault.Hint("old-token-1111")}
	for range 3 {
		if got, err := b.GetFresh(c, name, v1); err != nil || got.Reveal() != "old-token-1111" {
			t.Fatalf("B at v1: %q, %v", got.Reveal(), err)
		}
	}
	if n := cl.gets.Load(); n != 1 {
		t.Fatalf("B read %d times at one version, want 1 (cached)", n)
	}

	if err := a.Put(c, name, "new-token-2222"); err != nil {
		t.Fatal(err)
	}
	v2 := vault.Want{Version: 2, Hint: vault.Hint("new-token-2222")}
	if got, _ := b.GetFresh(c, name, v1); got.Reveal() != "old-token-1111" {
		t.Fatalf("a reader of the old record may keep B's copy; got %q", got.Reveal())
	}
	if got, err := b.GetFresh(c, name, v2); err != nil || got.Reveal() != "new-token-2222" {
		t.Fatalf("B at v2: %q, %v; want the new token at once", got.Reveal(), err)
	}
	if got, _ := b.GetFresh(c, name, v1); got.Reveal() != "new-token-2222" {
		t.Fatalf("after the new read, older readers get the new value too; got %q", got.Reveal())
	}
	reads := cl.gets.Load()
	if got, _ := b.GetFresh(c, name, v2); got.Reveal() != "new-token-2222" || cl.gets.Load() != reads {
		t.Fatalf("the new value is cached for v2: %q, %d reads", got.Reveal(), cl.gets.Load()-reads)
	}

	// The record already shows v3's hint while the token is still being
	// stored: B gets what Secrets Manager holds, but keeps asking until
	// the two agree.
	v3 := vault.Want{Version: 3, Hint: vault.Hint("third-token-3333")}
	for range 2 {
		if got, _ := b.GetFresh(c, name, v3); got.Reveal() != "new-token-2222" {
			t.Fatalf("before the Put: %q", got.Reveal())
		}
	}
	if n := cl.gets.Load() - reads; n != 2 {
		t.Fatalf("%d reads for a record ahead of its secret, want 2 (never cached)", n)
	}
	if err := a.Put(c, name, "third-token-3333"); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.GetFresh(c, name, v3); got.Reveal() != "third-token-3333" {
		t.Fatalf("after the Put: %q", got.Reveal())
	}

	// Same hint, new version (a token with the same last characters):
	// the version alone forces the read.
	if err := a.Put(c, name, "fourth-tok-3333"); err != nil {
		t.Fatal(err)
	}
	v4 := vault.Want{Version: 4, Hint: vault.Hint("fourth-tok-3333")}
	if got, _ := b.GetFresh(c, name, v4); got.Reveal() != "fourth-tok-3333" {
		t.Fatalf("same hint, newer version: %q", got.Reveal())
	}
}

// TestGetFreshDoesNotJoinAnOlderRead: a read in flight for an older record
// version must not answer a reader of a newer one.
func TestGetFreshDoesNotJoinAnOlderRead(t *testing.T) {
	t.Parallel()
	v, cl, _ := newVault(t, time.Hour)
	c := ctx(t)
	const name = "connectors/c2/token"
	if err := v.Put(c, name, "token-aaaa"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Delete(context.Background(), name) })
	cl.hold, cl.entered = make(chan struct{}), make(chan struct{}, 1)
	old := make(chan string, 1)
	go func() {
		s, _ := v.GetFresh(c, name, vault.Want{Version: 1})
		old <- s.Reveal()
	}()
	<-cl.entered
	newer := make(chan string, 1)
	go func() {
		s, _ := v.GetFresh(c, name, vault.Want{Version: 2})
		newer <- s.Reveal()
	}()
	select {
	case <-cl.entered: // a second read started: the newer reader did not join
	case <-time.After(10 * time.Second):
		close(cl.hold)
		t.Fatal("the reader of version 2 joined the read for version 1")
	}
	close(cl.hold)
	if <-old != "token-aaaa" || <-newer != "token-aaaa" {
		t.Fatal("wrong values")
	}
	if n := cl.gets.Load(); n != 2 {
		t.Fatalf("%d reads, want 2", n)
	}
	// The v2 read is cached and serves both versions.
	if _, err := v.GetFresh(c, name, vault.Want{Version: 2}); err != nil || cl.gets.Load() != 2 {
		t.Fatalf("cached v2: %v, %d reads", err, cl.gets.Load())
	}
}
