// Package vault keeps Timebridge's secrets (upstream API tokens, webhook
// secrets) in AWS Secrets Manager, under one name prefix per stack such as
// "timebridge/<stack>". Only secret names are stored elsewhere (for example
// timebridge.Connector.TokenSecret); values leave this package only through
// Get and GetSecret.
//
// Reads are cached in memory for a TTL, and concurrent misses for one name
// share a single Secrets Manager call. Put and Delete invalidate the cache
// entry, including a read that is in flight at that moment.
//
// Put invalidates only this process's cache; other Lambda instances hold
// their copies until the TTL ends. A secret described by a versioned
// record (a connector's token) is therefore read with GetFresh and a Want:
// a cached value serves only readers of the record version it was read
// for, or older ones, and only when it has the hint the record shows. A
// reader that sees a newer record reads Secrets Manager again, so every
// instance uses a replaced token on its next call after the record
// changed, not minutes later.
//
// A secret value is never logged and never part of an error string: errors
// carry only the secret's name, and text coming back from Secrets Manager is
// scrubbed of the value. Values held as Secret print as "[redacted]" with
// every fmt verb, in JSON, as text and in slog.
package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/timebridge/timebridge/shared/apperr"
)

// SecretsAPI is the part of the Secrets Manager client the Vault uses; the
// *secretsmanager.Client satisfies it and tests may stub it.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DeleteSecret(ctx context.Context, in *secretsmanager.DeleteSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DeleteSecretOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// Redacted is what a Secret prints as.
const Redacted = "[redacted]"

// Secret is a secret value that does not print: fmt (every verb, including
// %#v), JSON, text marshalling and slog all show "[redacted]". Reveal
// returns the value.
type Secret string

// Reveal returns the secret value itself.
func (s Secret) Reveal() string { return string(s) }

// Hint returns Hint of the value.
func (s Secret) Hint() string { return Hint(string(s)) }

func (Secret) String() string               { return Redacted }
func (Secret) GoString() string             { return Redacted }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, Redacted) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }

// Hint returns a recognisable but useless fragment of a secret for display,
// such as "…a1b2": at most its last four characters, and fewer for short
// values (a quarter of the length, so that at least three quarters stay
// hidden). Values shorter than four characters give just "…"; "" gives "".
func Hint(value string) string {
	if value == "" {
		return ""
	}
	r := []rune(value)
	k := min(4, len(r)/4)
	return "…" + string(r[len(r)-k:])
}

// DefaultTTL is a reasonable cache TTL for tokens.
const DefaultTTL = 5 * time.Minute

// Vault reads and writes secrets under a prefix. It is safe for concurrent
// use. Printing a Vault shows only its prefix.
type Vault struct {
	client SecretsAPI
	prefix string
	ttl    time.Duration
	now    func() time.Time

	mu     sync.Mutex
	cache  map[string]entry // by full name
	flight map[string]*call // in-flight reads by full name
}

type entry struct {
	value   Secret
	err     error // a cached "does not exist" (apperr.NotFound)
	expires time.Time
	version int64 // the record version the value was read for (GetFresh)
}

// Want describes the value a reader of a versioned record expects: the
// record's Version and the Hint it shows of the secret. The zero Want
// accepts any cached value.
type Want struct {
	Version int64
	Hint    string
}

// accepts reports whether a cached entry may answer a reader wanting w.
// A value read for an older record version may be stale; a value whose
// hint differs from the record's is not the one the record describes.
func (e entry) accepts(w Want) bool {
	return e.version >= w.Version && (w.Hint == "" || e.err != nil || Hint(string(e.value)) == w.Hint)
}

// missingTTL is how long a "does not exist" answer is cached (at most the
// vault's TTL): an unsigned webhook flood for a profile without a secret
// then costs one Secrets Manager read per instance per missingTTL instead of
// one per request. Put in this process invalidates it at once; another
// process sees a new secret within missingTTL.
const missingTTL = 30 * time.Second

type call struct {
	done  chan struct{}
	want  Want // the freshest reader the read was started for
	value Secret
	err   error
	// stale is set when Put or Delete ran while the call was in flight: its
	// result is returned to its waiters but not cached.
	stale bool
}

// SetClock replaces the clock the cache's expiry is measured with (tests).
// Call it before the vault is used.
func (v *Vault) SetClock(now func() time.Time) { v.now = now }

// New returns a Vault for secrets named prefix/<name> (prefix may be "";
// a trailing "/" is optional). ttl ≤ 0 disables caching; concurrent reads
// are still shared.
func New(client SecretsAPI, prefix string, ttl time.Duration) *Vault {
	return &Vault{
		client: client,
		prefix: strings.TrimSuffix(prefix, "/"),
		ttl:    ttl,
		now:    time.Now,
		cache:  map[string]entry{},
		flight: map[string]*call{},
	}
}

func (v *Vault) String() string             { return "vault(" + v.prefix + ")" }
func (v *Vault) GoString() string           { return v.String() }
func (v *Vault) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, v.String()) }

// FullName returns the Secrets Manager name of the secret called name.
func (v *Vault) FullName(name string) string {
	if v.prefix == "" {
		return name
	}
	return v.prefix + "/" + name
}

// checkName validates a secret name: Secrets Manager allows ASCII letters,
// digits and /_+=.@- in up to 512 characters.
func (v *Vault) checkName(op, name string) (string, error) {
	if name == "" {
		return "", apperr.New(apperr.Validation, op, "The secret name is empty.")
	}
	full := v.FullName(name)
	if len(full) > 512 {
		return "", apperr.New(apperr.Validation, op, "The secret name is too long.")
	}
	for _, c := range full {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+=.@-", c)
		if !ok {
			return "", apperr.New(apperr.Validation, op, fmt.Sprintf("The secret name %q contains characters Secrets Manager does not allow.", name))
		}
	}
	return full, nil
}

// Get returns the current value of the secret called name: from the cache
// when fresh, otherwise from Secrets Manager (one call for all concurrent
// callers). A missing secret is apperr.NotFound.
func (v *Vault) Get(ctx context.Context, name string) (string, error) {
	s, err := v.GetSecret(ctx, name)
	return string(s), err
}

// GetSecret is Get returning the value as a Secret, which does not print.
func (v *Vault) GetSecret(ctx context.Context, name string) (Secret, error) {
	return v.GetFresh(ctx, name, Want{})
}

// GetFresh is GetSecret for the secret of a versioned record: a cached
// value answers only when it was read for want.Version or a later one and
// has want.Hint (see Want); otherwise Secrets Manager is read again. A
// value that does not match want.Hint is returned (it is the current one)
// but not cached, so the next reader asks again until the record and the
// secret agree.
func (v *Vault) GetFresh(ctx context.Context, name string, want Want) (Secret, error) {
	const op = "vault: get secret"
	full, err := v.checkName(op, name)
	if err != nil {
		return "", err
	}
	v.mu.Lock()
	if e, ok := v.cache[full]; ok && v.now().Before(e.expires) && e.accepts(want) {
		v.mu.Unlock()
		return e.value, e.err
	}
	c, ok := v.flight[full]
	if ok && c.want.Version < want.Version {
		// A read started for an older record may return what that record
		// described: start a fresh one; the older one still answers its
		// own waiters.
		ok = false
	}
	if !ok {
		c = &call{done: make(chan struct{}), want: want}
		v.flight[full] = c
		// The read must not fail for every waiter because the first
		// caller gave up: detach it from the caller's cancellation.
		go v.fetch(context.WithoutCancel(ctx), full, c)
	}
	v.mu.Unlock()

	select {
	case <-c.done:
		return c.value, c.err
	case <-ctx.Done():
		return "", apperr.Wrap(ctx.Err(), apperr.Timeout, op, "Reading a secret took too long.")
	}
}

// fetchTimeout bounds one shared read.
const fetchTimeout = 30 * time.Second

func (v *Vault) fetch(ctx context.Context, full string, c *call) {
	const op = "vault: get secret"
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	out, err := v.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(full)})
	if err != nil {
		c.err = classify(err, op, full, "")
	} else if out.SecretString == nil {
		c.err = apperr.New(apperr.Internal, op, "The secret "+full+" holds binary data, not text.")
	} else {
		c.value = Secret(*out.SecretString)
	}
	v.mu.Lock()
	if v.flight[full] == c {
		delete(v.flight, full)
	}
	prev, cached := v.cache[full]
	switch {
	case c.stale || v.ttl <= 0:
	case cached && prev.version > c.want.Version:
		// A read for a newer record has answered meanwhile.
	case c.err == nil && c.want.Hint != "" && c.value.Hint() != c.want.Hint:
		// Not the value the record describes (its new value is still being
		// stored, or the record is already outdated): serve, don't keep.
	case c.err == nil:
		v.cache[full] = entry{value: c.value, expires: v.now().Add(v.ttl), version: c.want.Version}
	case apperr.Is(c.err, apperr.NotFound):
		v.cache[full] = entry{err: c.err, expires: v.now().Add(min(v.ttl, missingTTL)), version: c.want.Version}
	}
	v.mu.Unlock()
	close(c.done)
}

// invalidate drops the cached value of full and marks a read in flight as
// stale, so that the next Get reads Secrets Manager again.
func (v *Vault) invalidate(full string) {
	v.mu.Lock()
	delete(v.cache, full)
	if c, ok := v.flight[full]; ok {
		c.stale = true
		delete(v.flight, full)
	}
	v.mu.Unlock()
}

// Put stores value as the secret called name: it creates the secret, or, if
// it exists, stores value as its new current version. The cache entry is
// invalidated.
func (v *Vault) Put(ctx context.Context, name, value string) error {
	const op = "vault: put secret"
	full, err := v.checkName(op, name)
	if err != nil {
		return err
	}
	if value == "" {
		return apperr.New(apperr.Validation, op, "The secret value is empty.")
	}
	defer v.invalidate(full)
	v.invalidate(full)

	// A name that was just force-deleted can be refused for a short while
	// (InvalidRequestException) until the deletion completes: retry.
	delay := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		_, err = v.client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(full),
			SecretString: aws.String(value),
			Description:  aws.String("Managed by Timebridge"),
		})
		if err == nil {
			return nil
		}
		var exists *smtypes.ResourceExistsException
		if errors.As(err, &exists) {
			break
		}
		var invalidReq *smtypes.InvalidRequestException
		if !errors.As(err, &invalidReq) || attempt >= 5 {
			return classify(err, op, full, value)
		}
		select {
		case <-ctx.Done():
			return apperr.Wrap(ctx.Err(), apperr.Timeout, op, "Storing a secret took too long.")
		case <-time.After(delay):
		}
		delay *= 2
	}
	_, err = v.client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(full),
		SecretString: aws.String(value),
	})
	return classify(err, op, full, value)
}

// Delete deletes the secret called name immediately (no recovery window).
// Deleting a secret that does not exist is not an error.
func (v *Vault) Delete(ctx context.Context, name string) error {
	const op = "vault: delete secret"
	full, err := v.checkName(op, name)
	if err != nil {
		return err
	}
	defer v.invalidate(full)
	v.invalidate(full)
	_, err = v.client.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId:                   aws.String(full),
		ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	return classify(err, op, full, "")
}

// classify turns a Secrets Manager error into an apperr.Error whose text
// names the secret but never contains value.
func classify(err error, op, full, value string) error {
	if err == nil {
		return nil
	}
	err = scrubbed{err: err, value: value}
	what := "The secret " + full
	var nf *smtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return apperr.Wrap(err, apperr.NotFound, op, what+" does not exist.")
	}
	var ir *smtypes.InvalidRequestException
	if errors.As(err, &ir) && strings.Contains(strings.ToLower(ir.ErrorMessage()), "delet") {
		return apperr.Wrap(err, apperr.NotFound, op, what+" is scheduled for deletion.")
	}
	var df *smtypes.DecryptionFailure
	if errors.As(err, &df) {
		return apperr.Wrap(err, apperr.Permission, op, what+" cannot be decrypted with the available KMS permissions.")
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return apperr.Wrap(err, apperr.Timeout, op, "Secrets Manager did not answer in time.")
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDeniedException", "AccessDenied":
			return apperr.Wrap(err, apperr.Permission, op, "Timebridge may not access "+full+"; check its IAM policy.")
		case "ThrottlingException", "LimitExceededException":
			return apperr.Wrap(err, apperr.RateLimited, op, "Secrets Manager is throttling requests; try again shortly.")
		case "InternalServiceError", "InternalServiceErrorException":
			return apperr.Wrap(err, apperr.Upstream, op, "Secrets Manager failed; try again.")
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return apperr.Wrap(err, apperr.Connection, op, "Secrets Manager could not be reached.")
	}
	return apperr.Wrap(err, apperr.Internal, op, "A Secrets Manager request failed; the details are in the logs.")
}

// scrubbed hides a secret value in an error's text while keeping the chain
// for errors.As.
type scrubbed struct {
	err   error
	value string
}

func (e scrubbed) Error() string {
	msg := e.err.Error()
	if len(e.value) >= 4 {
		msg = strings.ReplaceAll(msg, e.value, Redacted)
	}
	return msg
}

func (e scrubbed) Unwrap() error { return e.err }

// ConnectorToken names the upstream token of connector id. The name is
// derived from the id, never read from a stored record, so that whoever
// could write a record still cannot make Timebridge send another secret (a
// webhook secret, say) to a connector's host.
func ConnectorToken(id string) string { return "connectors/" + id + "/token" }

// WebhookSecret names the webhook secret of profile id.
func WebhookSecret(profileID string) string { return "profiles/" + profileID + "/webhook-secret" }
