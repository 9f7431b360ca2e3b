// Package ident makes and checks the ids of Timebridge's records. One
// generator (New, ULID-style) names connectors, profiles, runs, audit events
// and leases' owners; one rule (Valid) decides what may name a record,
// wherever an id arrives: an API path, a webhook URL, a store key. Valid also
// accepts ids made otherwise but within the rule (a conflict's id is
// "<profile>.<entry>").
package ident

import (
	"crypto/rand"
	"encoding/binary"
	"regexp"
	"sync"
	"time"
)

var idState struct {
	sync.Mutex
	ms   uint64
	rand [10]byte
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a 26-character ULID-style id for time t: 48 bits of Unix
// milliseconds and 80 random bits in Crockford base32. Ids sort by time, and
// ids made by one process for the same millisecond sort in creation order.
func New(t time.Time) string {
	ms := uint64(t.UnixMilli())
	idState.Lock()
	if ms == idState.ms {
		// Monotonic: increment the random part.
		for i := len(idState.rand) - 1; i >= 0; i-- {
			idState.rand[i]++
			if idState.rand[i] != 0 {
				break
			}
		}
	} else {
		idState.ms = ms
		_, _ = rand.Read(idState.rand[:])
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	copy(b[6:], idState.rand[:])
	idState.Unlock()

	// 128 bits → 26 base32 digits (the first carries 3 bits).
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// MaxLen is the longest id Valid accepts.
const MaxLen = 128

var pattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Valid reports whether id may name a record: 1 to 128 ASCII letters,
// digits, '.', '_' or '-', starting with a letter or digit. Nothing else can
// reach a DynamoDB key ('#' separates key parts) or a secret's name ('/'
// separates its parts).
func Valid(id string) bool { return pattern.MatchString(id) }
