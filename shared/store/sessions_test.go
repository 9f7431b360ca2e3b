package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestSessionState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := ctx(t)
	state := func(id string, wantV int64, wantRevoked bool) {
		t.Helper()
		v, revoked, err := f.st.SessionState(c, id)
		if err != nil || v != wantV || revoked != wantRevoked {
			t.Fatalf("SessionState(%q) = %d, %v, %v; want %d, %v", id, v, revoked, err, wantV, wantRevoked)
		}
	}
	state("", 0, false)
	state("tok-1", 0, false)
	noErr(t, f.st.RevokeToken(c, "tok-1", f.clock.Now().Add(10*time.Minute)))
	state("tok-1", 0, true)
	state("tok-2", 0, false)
	for want := int64(1); want <= 3; want++ {
		if v, err := f.st.BumpSessionVersion(c); err != nil || v != want {
			t.Fatalf("bump: %d %v, want %d", v, err, want)
		}
	}
	state("tok-2", 3, false)
	// A revocation ends with the token's own expiry; the next revocation
	// prunes it.
	f.clock.Add(11 * time.Minute)
	state("tok-1", 3, false)
	noErr(t, f.st.RevokeToken(c, "tok-3", f.clock.Now().Add(10*time.Minute)))
	state("tok-3", 3, true)
	state("tok-1", 3, false)
	raw, err := f.db.GetItem(c, &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "AUTH"}, "sk": &types.AttributeValueMemberS{Value: "SESSION"}}})
	if err != nil {
		t.Fatal(err)
	}
	if set := raw.Item["revoked"].(*types.AttributeValueMemberSS).Value; len(set) != 1 || !strings.HasPrefix(set[0], "tok-3:") {
		t.Fatalf("revoked set %v: the expired entry was not pruned", set)
	}
	if err := f.st.RevokeToken(c, "a:b", f.clock.Now()); err == nil {
		t.Fatal("token id with ':' accepted")
	}
}
