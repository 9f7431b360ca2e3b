package zammad

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/timebridge/timebridge/shared/apperr"
)

// Ticket tags (GET /api/v1/tags, POST /api/v1/tags/add, DELETE
// /api/v1/tags/remove). How Zammad treats them — read from its source, and
// reproduced by shared/sim/zammadsim (tags.go there cites the files):
//
//   - Adding and removing need ticket.agent (user and token) with change
//     access to the ticket's group; reading needs read access (or being
//     the ticket's customer). admin.tag alone does not help.
//   - A name that is not a tag yet may only be added while the tag_new
//     setting is on (the default) or by a user with admin.tag; otherwise
//     403, also for an existing tag spelt in another case.
//   - Zammad strips surrounding whitespace. Adding compares with the
//     ticket's tags case-insensitively (adding "billed" to a ticket with
//     "Billed" is a no-op), but removing matches the exact name: removing
//     "billed" leaves "Billed". Both answer true when there was nothing to
//     do, yet removal touches the ticket even then.
//   - Every add that adds and every remove moves the ticket's updated_at
//     (ticket.touch); time accounting rows are not touched.

// ValidTagName reports why Zammad would refuse name as a tag (Tag::Item
// validates presence and forbids "," and "*"), or "" when it is fine.
func ValidTagName(name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "a tag name cannot be empty"
	case strings.ContainsAny(name, ",*"):
		return fmt.Sprintf("Zammad tag names cannot contain \",\" or \"*\" (%s)", quoteShort(name))
	}
	return ""
}

func tagQuery(ticketID int64) url.Values {
	return url.Values{"object": {"Ticket"}, "o_id": {strconv.FormatInt(ticketID, 10)}}
}

func tagNotFound(ticketID int64) string {
	return fmt.Sprintf("Zammad has no ticket %d (it was deleted, or the token's user cannot see it).", ticketID)
}

// tagDenied explains a refused tag write: Zammad answers 403 both when the
// user may not change the ticket and when it may not create a tag name.
func tagDenied(ticketID int64, tag string) string {
	return fmt.Sprintf("Zammad refused to change the tag %s of ticket %d: the token's user needs the ticket.agent permission "+
		"(in its role and in the token) with change access to the ticket's group (Admin › Groups), and, unless the tag already "+
		"exists in Zammad with exactly this spelling, the \"New Tags\" setting switched on (Settings › Ticket) or the admin.tag permission.",
		quoteShort(tag), ticketID)
}

// TicketTags returns the tags of a ticket in the order they were added.
// It needs read access to the ticket; a deleted ticket is NotFound.
func (c *Client) TicketTags(ctx context.Context, ticketID int64) ([]string, error) {
	var out struct {
		Tags []string `json:"tags"`
	}
	err := c.do(ctx, http.MethodGet, call{
		op:       fmt.Sprintf("zammad: tags of ticket %d", ticketID),
		path:     "/api/v1/tags",
		query:    tagQuery(ticketID),
		perm:     "ticket.agent",
		notFound: tagNotFound(ticketID),
		denied: fmt.Sprintf("Zammad refused to show the tags of ticket %d: the token's user needs the ticket.agent permission "+
			"(in its role and in the token) with access to the ticket's group (Admin › Groups).", ticketID),
	}, &out)
	if err != nil {
		return nil, err
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	return out.Tags, nil
}

// AddTicketTag adds tag to a ticket. Adding a tag the ticket already has,
// in any case, changes nothing and succeeds. Surrounding whitespace is
// dropped, as Zammad does; a name Zammad cannot store is a Validation
// error before any request.
func (c *Client) AddTicketTag(ctx context.Context, ticketID int64, tag string) error {
	op := fmt.Sprintf("zammad: add tag to ticket %d", ticketID)
	tag = strings.TrimSpace(tag)
	if why := ValidTagName(tag); why != "" {
		return apperr.New(apperr.Validation, op, fmt.Sprintf("Cannot tag Zammad ticket %d: %s.", ticketID, why))
	}
	var ok bool
	return c.do(ctx, http.MethodPost, call{
		op:       op,
		path:     "/api/v1/tags/add",
		body:     map[string]any{"object": "Ticket", "o_id": ticketID, "item": tag},
		notFound: tagNotFound(ticketID),
		denied:   tagDenied(ticketID, tag),
	}, &ok)
}

// RemoveTicketTag removes tag from a ticket, in whatever case the ticket
// has it, and succeeds when the ticket does not have it. Zammad removes
// only the exact name and touches the ticket even when nothing goes, so
// the tags are read first: only names that match case-insensitively are
// removed, and a ticket without the tag is not written at all.
func (c *Client) RemoveTicketTag(ctx context.Context, ticketID int64, tag string) error {
	op := fmt.Sprintf("zammad: remove tag from ticket %d", ticketID)
	tag = strings.TrimSpace(tag)
	if why := ValidTagName(tag); why != "" {
		return apperr.New(apperr.Validation, op, fmt.Sprintf("Cannot untag Zammad ticket %d: %s.", ticketID, why))
	}
	have, err := c.TicketTags(ctx, ticketID)
	if err != nil {
		return err
	}
	have = slices.DeleteFunc(have, func(t string) bool { return !strings.EqualFold(strings.TrimSpace(t), tag) })
	for _, exact := range have {
		var ok bool
		if err := c.do(ctx, http.MethodDelete, call{
			op:       op,
			path:     "/api/v1/tags/remove",
			body:     map[string]any{"object": "Ticket", "o_id": ticketID, "item": exact},
			notFound: tagNotFound(ticketID),
			denied:   tagDenied(ticketID, exact),
		}, &ok); err != nil {
			return err
		}
	}
	return nil
}
