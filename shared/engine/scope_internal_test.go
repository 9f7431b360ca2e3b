package engine

import "testing"

func TestSecondPassCheaper(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		tickets, rows, pages, scanned int
		want                          bool
	}{
		{"first sync: 500 tickets, 11 pages, the same rows", 500, 10_000, 11, 10_000, true},
		{"first sync of a window: half the entries in it", 250, 5_000, 11, 10_000, true},
		{"a backfill's chunk: a year scanned for 200 tickets", 200, 4_000, 100, 100_000, false},
		{"few tickets", 5, 100, 11, 10_000, false},
		{"as many tickets as pages", 11, 10_000, 11, 10_000, false},
	} {
		if got := secondPassCheaper(tc.tickets, tc.rows, tc.pages, tc.scanned); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
