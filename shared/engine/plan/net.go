package plan

import (
	"fmt"
	"sort"
	"time"

	"github.com/timebridge/timebridge/shared/decimal"
)

// Entry is a Zammad time accounting entry as the engine sees it.
type Entry struct {
	ID        int64
	TicketID  int64
	Units     decimal.Dec // Zammad's time_unit, may be negative
	TypeID    int64       // 0 = no type
	AgentID   int64       // created_by_id
	CreatedAt time.Time   // UTC
	UpdatedAt time.Time
}

// Ticket is the part of a Zammad ticket the engine uses.
type Ticket struct {
	ID      int64
	Number  string
	Title   string
	OrgID   int64 // 0 = no organization
	GroupID int64
}

// Netted is an entry after negative corrections were applied.
type Netted struct {
	Entry
	// Net is the units left after corrections; > 0 means a timesheet.
	Net decimal.Dec
	// Into is, for a negative entry, the positive entry that absorbed
	// (most of) it; 0 otherwise.
	Into int64
	// Unmatched is, for a negative entry, the part no earlier positive
	// entry could absorb (as a positive number); zero when fully netted.
	Unmatched decimal.Dec
}

// Net applies Zammad's negative corrections within one ticket. A negative
// entry is netted into the latest earlier positive entry of the same agent and
// type; if that entry cannot absorb all of it, the rest carries to the next
// earlier one, so a correction is never silently dropped. Whatever no
// earlier positive entry can absorb is reported as Unmatched (a conflict).
// Entries are returned in chronological order (created_at, then id).
func Net(entries []Entry) []Netted {
	out := make([]Netted, len(entries))
	for i, e := range entries {
		out[i] = Netted{Entry: e, Net: e.Units}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	type group struct{ agent, typ int64 }
	positives := map[group][]int{} // indexes into out, chronological
	for i := range out {
		e := &out[i]
		g := group{e.AgentID, e.TypeID}
		switch e.Units.Sign() {
		case 1:
			positives[g] = append(positives[g], i)
		case -1:
			need := e.Units.Neg()
			stack := positives[g]
			for k := len(stack) - 1; k >= 0 && need.Sign() > 0; k-- {
				p := &out[stack[k]]
				if p.Net.Sign() <= 0 {
					continue
				}
				if e.Into == 0 {
					e.Into = p.ID
				}
				take := need
				if p.Net.Cmp(take) < 0 {
					take = p.Net
				}
				p.Net = p.Net.Sub(take)
				need = need.Sub(take)
			}
			e.Net = decimal.Dec{}
			e.Unmatched = need
		}
	}
	return out
}

// Seconds converts net units into a whole-minute duration in seconds using
// the profile's minutes-per-unit factor. Kimai stores whole minutes (it
// floors begin and ceils end), so sending whole minutes keeps what Kimai
// stores equal to what Zammad booked; half a minute rounds up, and any
// positive time books at least one minute so that nothing booked vanishes.
func Seconds(units, minutesPerUnit decimal.Dec) (int64, error) {
	minutes, ok := units.Mul(minutesPerUnit)
	if !ok {
		return 0, fmt.Errorf("engine: %s units × %s minutes overflows", units, minutesPerUnit)
	}
	secs, ok := minutes.Seconds()
	if !ok {
		return 0, fmt.Errorf("engine: %s minutes overflows", minutes)
	}
	// round half up to whole minutes
	m := (secs + 30) / 60
	if secs < 0 {
		m = -((-secs + 30) / 60)
	}
	if m == 0 && secs > 0 {
		m = 1
	}
	return m * 60, nil
}
