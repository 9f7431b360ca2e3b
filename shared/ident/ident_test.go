package ident

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNewIsTimeOrdered(t *testing.T) {
	prev := ""
	for i := 0; i < 10000; i++ {
		id := New(t0.Add(time.Duration(i/100) * time.Millisecond))
		if len(id) != 26 || id <= prev || !Valid(id) {
			t.Fatalf("id %d = %q after %q", i, id, prev)
		}
		prev = id
	}
	if a, b := New(t0.Add(time.Hour)), New(t0); a <= b {
		t.Fatalf("later id %q sorts before earlier %q", a, b)
	}
}

func TestValid(t *testing.T) {
	for _, id := range []string{New(t0), "01JD0000000000000000000000.42", "a", "a-b_c.d", strings.Repeat("x", MaxLen)} {
		if !Valid(id) {
			t.Errorf("Valid(%q) = false", id)
		}
	}
	for _, id := range []string{"", ".hidden", "-x", "_x", "a#b", "a/b", "../x", "a b", "a\x00", "é", "a:b", "a%2Fb",
		strings.Repeat("x", MaxLen+1)} {
		if Valid(id) {
			t.Errorf("Valid(%q) = true", id)
		}
	}
}
