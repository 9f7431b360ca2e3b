package zammadsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// This file produces what a Zammad trigger sends to a webhook: the default
// payload (reference §7.4) and the request around it (§7.2).

// Sign returns the X-Hub-Signature value Zammad sends: "sha1=" and the
// lowercase hex HMAC-SHA1 of the raw body keyed with the signature token.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookPayload returns the compact JSON of the default trigger payload for
// ticket: {"ticket":{…},"article":{…}} with sorted keys, association objects
// nested in full (owner, customer, organization, group, priority, …) and
// the article's accounted_time as a float. The article is the one booked by
// the ticket's newest entry that has an article; without one it is {}. It
// returns nil when the ticket does not exist.
func (s *Server) WebhookPayload(ticketID int64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tickets[ticketID]
	if t == nil {
		return nil
	}
	ticket := toMap(s.ticketView(t, false))
	entries := s.ticketEntries(t.ID)
	articleIDs, entryIDs, entryObjs := []int64{}, []int64{}, []any{}
	var last *Entry
	for _, e := range entries {
		entryIDs = append(entryIDs, e.ID)
		entryObjs = append(entryObjs, s.entryView(e, false))
		if e.TicketArticleID != 0 {
			articleIDs = append(articleIDs, e.TicketArticleID)
			last = e
		}
	}
	ticket["state"] = t.State
	ticket["article_ids"] = articleIDs
	ticket["ticket_time_accounting_ids"] = entryIDs
	ticket["ticket_time_accounting"] = entryObjs
	ticket["owner"] = s.nestedUser(t.OwnerID)
	ticket["customer"] = s.nestedUser(t.CustomerID)
	ticket["created_by"] = s.nestedUser(t.CustomerID)
	ticket["updated_by"] = s.nestedUser(t.OwnerID)
	ticket["organization"] = nil
	if o := s.orgs[t.OrganizationID]; o != nil {
		ticket["organization"] = toMap(s.orgView(o))
	}
	if g := s.groups[t.GroupID]; g != nil {
		ticket["group"] = toMap(groupView(g))
	}
	ticket["priority"] = map[string]any{"id": t.PriorityID, "name": priorities[t.PriorityID],
		"default_create": t.PriorityID == 2, "ui_icon": nil, "ui_color": nil, "note": nil, "active": true}
	ticket["create_article_type"] = "email"
	ticket["create_article_sender"] = "Customer"

	article := map[string]any{}
	if last != nil {
		f, _ := strconv.ParseFloat(last.TimeUnit.String(), 64)
		article = map[string]any{
			"id": last.TicketArticleID, "ticket_id": t.ID,
			"from": s.login(last.CreatedByID), "to": "", "cc": nil, "subject": nil,
			"body": "Worked on the ticket.", "content_type": "text/html", "internal": true,
			"sender": "Agent", "sender_id": 1, "type": "note", "type_id": 10,
			"origin_by_id": nil, "origin_by": nil,
			"created_by_id": last.CreatedByID, "updated_by_id": last.CreatedByID,
			"created_by": s.nestedUser(last.CreatedByID), "updated_by": s.nestedUser(last.CreatedByID),
			"created_at": jsTime(last.CreatedAt), "updated_at": jsTime(last.CreatedAt),
			"attachments": []any{}, "accounted_time": rubyFloat(f),
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Ruby's to_json does not escape <, > and &
	if err := enc.Encode(map[string]any{"ticket": ticket, "article": article}); err != nil {
		panic(fmt.Sprintf("zammadsim: encode webhook payload: %v", err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// nestedUser is a user as nested in a webhook payload: without the
// sensitive and bulky keys Zammad strips. s.mu must be held.
func (s *Server) nestedUser(id int64) map[string]any {
	u := s.users[id]
	if u == nil {
		return nil
	}
	m := toMap(s.userView(u, false))
	for _, k := range []string{"last_login", "login_failed", "password", "preferences", "group_ids", "groups", "authorization_ids", "authorizations"} {
		delete(m, k)
	}
	return m
}

// toMap turns a rendered record into a map so keys can be added; numbers
// stay exact as json.Number.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("zammadsim: encode: %v", err))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic(fmt.Sprintf("zammadsim: decode: %v", err))
	}
	return m
}

// WebhookRequest builds the POST a Zammad trigger named trigger sends to
// endpoint for ticket: the default payload, Content-Type, User-Agent,
// X-Zammad-Trigger, a fresh X-Zammad-Delivery id and, when secret is set,
// X-Hub-Signature. Send it with any http.Client (Zammad does not follow
// redirects).
func (s *Server) WebhookRequest(ctx context.Context, endpoint, secret, trigger string, ticketID int64) (*http.Request, error) {
	body := s.WebhookPayload(ticketID)
	if body == nil {
		return nil, fmt.Errorf("zammadsim: webhook: ticket %d does not exist", ticketID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("zammadsim: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Zammad User Agent")
	req.Header.Set("X-Zammad-Trigger", trigger)
	req.Header.Set("X-Zammad-Delivery", s.deliveryID())
	if secret != "" && len(body) > 0 {
		req.Header.Set("X-Hub-Signature", Sign(secret, body))
	}
	return req, nil
}

// deliveryID returns a random (seeded) UUID, like an ActiveJob job_id.
func (s *Server) deliveryID() string {
	s.mu.Lock()
	a, b := s.rng.Uint64(), s.rng.Uint64()
	s.mu.Unlock()
	a = a&^0xf000 | 0x4000     // version 4
	b = b&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}
