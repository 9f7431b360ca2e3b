package webhook

import (
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// RejectLimit is how many deliveries for one profile one instance rejects
// (401) per minute before it stops looking at deliveries that carry no
// well-formed signature at all.
const RejectLimit = 30

// maxTrackedProfiles bounds the memory of the rejection counters.
const maxTrackedProfiles = 10_000

// rejections counts rejected deliveries per profile in one-minute windows,
// in this instance's memory. It is a cost brake, not a security boundary:
// over the limit, a delivery without a well-formed signature is answered
// 429 before the profile and its secret are read. A delivery with a
// well-formed signature is always verified, so a flood of garbage for a
// profile never turns away Zammad's real, signed deliveries.
type rejections struct {
	mu     sync.Mutex
	window int64
	n      map[string]int
}

func minute(now time.Time) int64 { return now.Unix() / 60 }

// count returns the rejections of pid in now's window.
func (r *rejections) count(now time.Time, pid string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.window != minute(now) {
		return 0
	}
	return r.n[pid]
}

// add counts one rejection of pid and returns the window's total for it.
func (r *rejections) add(now time.Time, pid string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := minute(now); r.window != w || r.n == nil {
		r.window, r.n = w, map[string]int{}
	}
	if _, ok := r.n[pid]; !ok && len(r.n) >= maxTrackedProfiles {
		return 0
	}
	r.n[pid]++
	return r.n[pid]
}

// windowEnd is when now's window ends.
func windowEnd(now time.Time) time.Time { return time.Unix((minute(now)+1)*60, 0) }

// wellFormed reports whether header looks like Zammad's signature,
// "sha1=" and 40 hex digits, whatever its value.
func wellFormed(header string) bool {
	prefix, sig, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(prefix, "sha1") || len(sig) != 40 {
		return false
	}
	_, err := hex.DecodeString(sig)
	return err == nil
}
