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

// TagAbilities is what a token may do with ticket tags, read without
// changing anything (for the connector test).
type TagAbilities struct {
	// TicketAgent: GET /api/v1/tickets answered, so the token holds
	// ticket.agent (a customer-only token would pass too; a sync user is
	// never one).
	TicketAgent bool
	// GroupAccess is the user's access per group (users/me group_ids):
	// tagging a ticket needs "change" or "full" in the ticket's group.
	GroupAccess map[int64][]string
	// TagNew is the tag_new setting (signshow's frontend config): any
	// agent may add tag names that do not exist yet. TagNewKnown is false
	// when signshow did not say.
	TagNew, TagNewKnown bool
	// AdminTag: GET /api/v1/tag_list answered, so user and token hold
	// admin.tag and may add new names whatever tag_new says. (Zammad asks
	// only the user; a user with admin.tag whose token lacks it is
	// reported as without.)
	AdminTag bool
}

// CanChange reports whether the access levels allow tagging.
func CanChange(levels []string) bool {
	return slices.Contains(levels, "change") || slices.Contains(levels, "full")
}

// TagAbilities reads what the token may do with ticket tags. A refusal of
// one of its reads is an answer (false), not an error; other failures are
// errors.
func (c *Client) TagAbilities(ctx context.Context) (TagAbilities, error) {
	var ab TagAbilities
	forbidden := func(err error) bool { return apperr.Is(err, apperr.Permission) }

	var me struct {
		GroupIDs map[string][]string `json:"group_ids"`
	}
	if err := c.do(ctx, http.MethodGet, call{op: "zammad: tag abilities: current user", path: "/api/v1/users/me"}, &me); err != nil {
		return ab, err
	}
	ab.GroupAccess = map[int64][]string{}
	for k, v := range me.GroupIDs {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			ab.GroupAccess[id] = v
		}
	}

	var tickets []Ticket
	err := c.do(ctx, http.MethodGet, call{op: "zammad: tag abilities: tickets", path: "/api/v1/tickets",
		query: url.Values{"per_page": {"1"}, "page": {"1"}}}, &tickets)
	switch {
	case err == nil:
		ab.TicketAgent = true
	case !forbidden(err):
		return ab, err
	}

	var show struct {
		Config map[string]any `json:"config"`
	}
	if err := c.do(ctx, http.MethodGet, call{op: "zammad: tag abilities: settings", path: "/api/v1/signshow"}, &show); err != nil && !forbidden(err) {
		return ab, err
	}
	if v, ok := show.Config["tag_new"].(bool); ok {
		ab.TagNew, ab.TagNewKnown = v, true
	}

	var items []map[string]any
	err = c.do(ctx, http.MethodGet, call{op: "zammad: tag abilities: tag list", path: "/api/v1/tag_list",
		query: url.Values{"limit": {"1"}}}, &items)
	switch {
	case err == nil:
		ab.AdminTag = true
	case !forbidden(err):
		return ab, err
	}
	return ab, nil
}

// TagExists reports whether Zammad has a tag of exactly this name (the
// spelling an agent without admin.tag must use while tag_new is off). It
// uses the tag search (ticket.agent or admin.tag).
func (c *Client) TagExists(ctx context.Context, name string) (bool, error) {
	name = strings.TrimSpace(name)
	var hits []struct {
		Value string `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, call{op: fmt.Sprintf("zammad: find tag %s", quoteShort(name)), path: "/api/v1/tag_search",
		query: url.Values{"term": {name}, "limit": {"50"}}, perm: "ticket.agent"}, &hits)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(hits, func(h struct {
		Value string `json:"value"`
	}) bool {
		return h.Value == name
	}), nil
}
