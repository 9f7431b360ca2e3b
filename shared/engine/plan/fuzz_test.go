package plan

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// FuzzNet checks the normaliser's invariants on arbitrary entry sets: no
// entry is dropped, no timesheet goes negative, and per agent and type the
// booked total is conserved: Σ net = Σ positive − (Σ |negative| − Σ unmatched).
func FuzzNet(f *testing.F) {
	f.Add([]byte{1, 120, 1, 156}) // 120, then -100
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{255, 255, 255, 1, 1, 1, 128, 127})
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []Entry
		for i := 0; i+4 <= len(data) && len(entries) < 64; i += 4 {
			agent := int64(data[i] % 3)
			typ := int64(data[i+1] % 3)
			units := int64(int16(binary.BigEndian.Uint16(data[i+2 : i+4]))) // −32768…32767 hundredths
			minute := int(data[i]) * 7 % 50                                 // collisions on purpose
			entries = append(entries, Entry{
				ID: int64(len(entries) + 1), TicketID: 1, AgentID: agent, TypeID: typ,
				Units:     decimal.MustParse(hundredths(units)),
				CreatedAt: t0.Add(time.Duration(minute) * time.Minute),
			})
		}
		got := Net(entries)
		if len(got) != len(entries) {
			t.Fatalf("dropped entries: %d of %d", len(got), len(entries))
		}
		type g struct{ a, t int64 }
		pos, neg, net, unmatched := map[g]decimal.Dec{}, map[g]decimal.Dec{}, map[g]decimal.Dec{}, map[g]decimal.Dec{}
		seen := map[int64]bool{}
		for _, n := range got {
			if seen[n.ID] {
				t.Fatalf("entry %d twice", n.ID)
			}
			seen[n.ID] = true
			k := g{n.AgentID, n.TypeID}
			if n.Net.Sign() < 0 || n.Unmatched.Sign() < 0 {
				t.Fatalf("negative result %+v", n)
			}
			if n.Units.Sign() > 0 {
				pos[k] = pos[k].Add(n.Units)
				if n.Net.Cmp(n.Units) > 0 {
					t.Fatalf("net grew: %+v", n)
				}
			} else {
				neg[k] = neg[k].Add(n.Units.Neg())
				if !n.Net.IsZero() {
					t.Fatalf("a correction has a timesheet: %+v", n)
				}
			}
			net[k] = net[k].Add(n.Net)
			unmatched[k] = unmatched[k].Add(n.Unmatched)
		}
		for k := range pos {
			want := pos[k].Sub(neg[k].Sub(unmatched[k]))
			if net[k].Cmp(want) != 0 {
				t.Fatalf("group %+v: net %s, want %s (pos %s neg %s unmatched %s)", k, net[k], want, pos[k], neg[k], unmatched[k])
			}
		}
	})
}

func hundredths(v int64) string {
	d := decimal.FromInt(v)
	c, _ := d.Mul(decimal.MustParse("0.01"))
	return c.String()
}
