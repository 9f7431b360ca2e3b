package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/timebridge/timebridge/shared/apperr"
	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// ZammadTagger is what billing calls on Zammad: a ticket's tags.
type ZammadTagger interface {
	TicketTags(ctx context.Context, ticketID int64) ([]string, error)
	AddTicketTag(ctx context.Context, ticketID int64, tag string) error
	RemoveTicketTag(ctx context.Context, ticketID int64, tag string) error
}

// Billed reports whether a ticket counts as billed: it has synced entries
// and Kimai marks every one of their timesheets exported. An entry that is
// not synced (a conflict, a pending create, a failure) keeps it unbilled.
func Billed(recs []tb.EntryRecord) bool {
	if len(recs) == 0 {
		return false
	}
	for _, r := range recs {
		if r.Status != tb.RecordSynced || !r.Exported || r.KimaiGone || r.TimesheetID == 0 {
			return false
		}
	}
	return true
}

// bill brings the billed tag of the given tickets in line with their
// records: added once every synced entry is exported, removed when an entry
// is added or a timesheet un-exported. Failures are the run's item errors.
func (r *runner) bill(ctx context.Context, tickets map[int64]bool) {
	if len(tickets) == 0 {
		return
	}
	tg, ok := r.z.(ZammadTagger)
	if !ok {
		r.itemError(0, 0, time.Time{}, apperr.New(apperr.Internal, "engine: billing", "This Zammad client cannot tag tickets."))
		return
	}
	tag := r.profile.Billing.Tag
	_ = forEach(ctx, r.e.opts.ReadConcurrency, keys(tickets), func(ctx context.Context, t int64) error {
		if err := r.billTicket(ctx, tg, t, tag); err != nil {
			r.itemError(0, t, time.Time{}, err)
		}
		return nil
	})
}

func (r *runner) billTicket(ctx context.Context, tg ZammadTagger, ticket int64, tag string) error {
	recs, err := r.records().TicketRecords(ctx, r.profile.ID, ticket)
	if err != nil {
		return fmt.Errorf("engine: read records of ticket %d: %w", ticket, err)
	}
	billed := Billed(recs)
	tags, err := tg.TicketTags(ctx, ticket)
	if apperr.Is(err, apperr.NotFound) {
		return nil // the ticket is gone
	}
	if err != nil {
		return fmt.Errorf("engine: read tags of ticket %d: %w", ticket, err)
	}
	has := slices.ContainsFunc(tags, func(s string) bool { return strings.EqualFold(s, tag) })
	number := ""
	if len(recs) > 0 {
		number = recs[0].TicketNumber
	}
	subject := fmt.Sprintf("ticket %d", ticket)
	switch {
	case billed && !has:
		if err := tg.AddTicketTag(ctx, ticket, tag); err != nil {
			return fmt.Errorf("engine: tag ticket %d %q: %w", ticket, tag, err)
		}
		r.addAudit(tb.AuditEvent{Type: "ticket.tagged", Subject: subject,
			Message: fmt.Sprintf("Tagged ticket #%s %q: Kimai marks all %d of its synced entries exported", number, tag, len(recs))})
	case !billed && has:
		if err := tg.RemoveTicketTag(ctx, ticket, tag); err != nil {
			return fmt.Errorf("engine: untag ticket %d %q: %w", ticket, tag, err)
		}
		r.addAudit(tb.AuditEvent{Type: "ticket.untagged", Subject: subject,
			Message: fmt.Sprintf("Removed %q from ticket #%s: %s", tag, number, unbilledWhy(recs))})
	}
	return nil
}

func unbilledWhy(recs []tb.EntryRecord) string {
	if len(recs) == 0 {
		return "it has no synced entries"
	}
	for _, r := range recs {
		switch {
		case r.Status != tb.RecordSynced:
			return fmt.Sprintf("entry %d is %s", r.EntryID, r.Status)
		case r.KimaiGone:
			return fmt.Sprintf("the timesheet of entry %d was deleted in Kimai", r.EntryID)
		case !r.Exported:
			return fmt.Sprintf("timesheet %d (entry %d) is not exported", r.TimesheetID, r.EntryID)
		}
	}
	return "not every entry is exported"
}
