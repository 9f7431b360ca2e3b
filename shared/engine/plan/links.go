package plan

import (
	"time"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// LinkScope is what a run knows about the stored links it loaded: which
// entries it desires and how much of Zammad it saw.
type LinkScope struct {
	Mode tb.RunMode
	// Present holds the entries the run computed a desired state for.
	Present map[int64]bool
	// Scanned holds, in a full run, every entry id Zammad listed (also
	// those outside the run's window); nil in other runs.
	Scanned map[int64]bool
	// Gone holds the tickets in scope, true for those Zammad no longer has
	// (runs other than full ones).
	Gone map[int64]bool
	// DeleteAfter: a full run never takes an entry created before it as
	// deleted (the profile's deletion window).
	DeleteAfter time.Time
}

// LinkClasses sorts stored links by what a run does with them.
type LinkClasses struct {
	// InScope are the links of present entries, by entry id.
	InScope map[int64]tb.Link
	// Vanished are links whose entries Zammad no longer has.
	Vanished []tb.Link
	// Strays are pending links of entries a full run saw in Zammad but
	// left out of its window: their unsettled creates must be settled too,
	// or they would wait for ever.
	Strays []tb.Link
}

// ClassifyLinks decides, from what the run saw, which of the links it
// loaded are in scope, which entries have vanished from Zammad and which
// pending links a full run must settle although their entries are outside
// its window. Only runs that can tell take an entry as vanished: a full run
// (every entry listed, inside the deletion window), a one-ticket run for
// its ticket (all of that ticket's entries are known), and other runs for
// tickets Zammad no longer has at all.
func ClassifyLinks(all []tb.Link, s LinkScope) LinkClasses {
	out := LinkClasses{InScope: make(map[int64]tb.Link)}
	for _, l := range all {
		present := s.Present[l.EntryID]
		if present {
			out.InScope[l.EntryID] = l
		}
		if s.Scanned != nil {
			switch {
			case !s.Scanned[l.EntryID] && !l.EntryCreatedAt.Before(s.DeleteAfter):
				out.Vanished = append(out.Vanished, l)
			case s.Scanned[l.EntryID] && !present && l.State == tb.LinkPending:
				out.Strays = append(out.Strays, l)
			}
			continue
		}
		gone, inScope := s.Gone[l.TicketID]
		if inScope && (s.Mode == tb.ModeTicket || gone) && !present {
			out.Vanished = append(out.Vanished, l)
		}
	}
	return out
}

// Settled reports whether an entry needs nothing: its link already records
// exactly this desired state. A missing link is settled only when no
// timesheet is wanted and nothing is wrong.
func Settled(d Desired, l tb.Link) bool {
	if d.Conflict != nil {
		// Netting conflicts depend on the ticket's other entries; the
		// others (unmapped keys) only on the entry itself.
		return d.Conflict.Kind != tb.ConflictUnmatchedNegative
	}
	switch l.State {
	case tb.LinkSynced:
		return d.Sheet != nil && d.Hash == l.SourceHash
	case tb.LinkSkipped:
		return true
	case tb.LinkNone:
		return d.Sheet == nil || l.SourceHash == d.Hash
	case "":
		return d.Sheet == nil
	}
	return false
}
