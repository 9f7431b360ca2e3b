package store

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/timebridge/timebridge/shared/apperr"
	"github.com/timebridge/timebridge/shared/timebridge"
)

func pkProfileData(pid string) string { return "P#" + pid }

const (
	skMapPrefix      = "MAP#"
	skLinkPrefix     = "LINK#"
	skConflictPrefix = "CONFLICT#"
	skCursor         = "CURSOR"
)

// ---- mappings ----

type mappingItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	ProfileID string `dynamodbav:"profile_id"`
	Kind      string `dynamodbav:"kind"`
	SourceID  string `dynamodbav:"source_id"`
	TargetID  int64  `dynamodbav:"target_id"`
	UpdatedAt string `dynamodbav:"updated_at,omitempty"`
}

func mappingSK(kind timebridge.MappingKind, source string) string {
	return skMapPrefix + string(kind) + "#" + source
}

func (it mappingItem) domain() (timebridge.Mapping, error) {
	t, err := parseTime(it.UpdatedAt)
	return timebridge.Mapping{
		ProfileID: it.ProfileID, Kind: timebridge.MappingKind(it.Kind),
		SourceID: it.SourceID, TargetID: it.TargetID, UpdatedAt: t,
	}, err
}

// Mappings returns all mappings of a profile, ordered by kind and source.
func (st *Store) Mappings(ctx context.Context, pid string) ([]timebridge.Mapping, error) {
	const op = "store: list mappings"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	items, err := queryPrefix[mappingItem](ctx, st, op, pkProfileData(pid), skMapPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]timebridge.Mapping, 0, len(items))
	for _, it := range items {
		m, err := conv(op, it.domain)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// PutMapping creates or replaces a mapping; UpdatedAt is set to now.
func (st *Store) PutMapping(ctx context.Context, m timebridge.Mapping) error {
	const op = "store: put mapping"
	if err := checkMappingKey(op, m.ProfileID, m.Kind, m.SourceID); err != nil {
		return err
	}
	m.UpdatedAt = st.now()
	item, err := marshal(op, mappingItem{
		PK: pkProfileData(m.ProfileID), SK: mappingSK(m.Kind, m.SourceID), Type: "mapping",
		ProfileID: m.ProfileID, Kind: string(m.Kind), SourceID: m.SourceID, TargetID: m.TargetID,
		UpdatedAt: fmtTime(m.UpdatedAt),
	})
	if err != nil {
		return err
	}
	return classify(st.put(ctx, op, item, "", nil, nil), op)
}

// DeleteMapping deletes a mapping, apperr.NotFound if there is none.
func (st *Store) DeleteMapping(ctx context.Context, pid string, kind timebridge.MappingKind, source string) error {
	const op = "store: delete mapping"
	if err := checkMappingKey(op, pid, kind, source); err != nil {
		return err
	}
	return st.deleteExisting(ctx, op, "mapping", key(pkProfileData(pid), mappingSK(kind, source)))
}

func checkMappingKey(op, pid string, kind timebridge.MappingKind, source string) error {
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	if err := checkName(op, "mapping kind", string(kind)); err != nil {
		return err
	}
	if source == "" {
		return invalid(op, "mapping source is empty.")
	}
	return nil
}

// ---- links ----

type linkItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	GSI1PK         string `dynamodbav:"gsi1pk"`
	GSI1SK         string `dynamodbav:"gsi1sk"`
	Type           string `dynamodbav:"type"`
	ProfileID      string `dynamodbav:"profile_id"`
	EntryID        int64  `dynamodbav:"entry_id"`
	TicketID       int64  `dynamodbav:"ticket_id"`
	State          string `dynamodbav:"state"`
	TimesheetID    int64  `dynamodbav:"timesheet_id,omitempty"`
	SourceHash     string `dynamodbav:"source_hash,omitempty"`
	Baseline       string `dynamodbav:"baseline,omitempty"` // JSON timebridge.Timesheet
	EntryCreatedAt string `dynamodbav:"entry_created_at,omitempty"`
	ClaimedAt      string `dynamodbav:"claimed_at,omitempty"`
	Fence          int64  `dynamodbav:"fence,omitempty"`
	WorkedOn       string `dynamodbav:"worked_on,omitempty"`
	Tally          string `dynamodbav:"tally,omitempty"` // see encodeTally
	RunID          string `dynamodbav:"run_id,omitempty"`
	Version        int64  `dynamodbav:"version"`
	UpdatedAt      string `dynamodbav:"updated_at,omitempty"`
}

func linkSK(entryID int64) string { return skLinkPrefix + pad(entryID) }

func linkTicketPK(pid string, ticketID int64) string { return "LT#" + pid + "#" + pad(ticketID) }

func toLinkItem(l timebridge.Link) (linkItem, error) {
	baseline, err := jsonString(normTimesheet(l.Baseline))
	if err != nil {
		return linkItem{}, err
	}
	return linkItem{
		PK: pkProfileData(l.ProfileID), SK: linkSK(l.EntryID),
		GSI1PK: linkTicketPK(l.ProfileID, l.TicketID), GSI1SK: pad(l.EntryID),
		Type:      "link",
		ProfileID: l.ProfileID, EntryID: l.EntryID, TicketID: l.TicketID,
		State: string(l.State), TimesheetID: l.TimesheetID, SourceHash: l.SourceHash,
		Baseline:       baseline,
		EntryCreatedAt: fmtTime(l.EntryCreatedAt),
		ClaimedAt:      fmtTime(l.ClaimedAt), Fence: l.Fence,
		WorkedOn: l.WorkedOn, Tally: encodeTally(l.Tally),
		RunID: l.RunID, Version: l.Version, UpdatedAt: fmtTime(l.UpdatedAt),
	}, nil
}

func (it linkItem) domain() (timebridge.Link, error) {
	var tp timeParser
	l := timebridge.Link{
		ProfileID: it.ProfileID, EntryID: it.EntryID, TicketID: it.TicketID,
		State: timebridge.LinkState(it.State), TimesheetID: it.TimesheetID, SourceHash: it.SourceHash,
		EntryCreatedAt: tp.t(it.EntryCreatedAt),
		ClaimedAt:      tp.t(it.ClaimedAt), Fence: it.Fence, WorkedOn: it.WorkedOn,
		RunID: it.RunID, Version: it.Version, UpdatedAt: tp.t(it.UpdatedAt),
	}
	if tp.err != nil {
		return l, tp.err
	}
	var err error
	if l.Tally, err = decodeTally(it.Tally); err != nil {
		return l, err
	}
	err = fromJSON(it.Baseline, &l.Baseline)
	return l, err
}

// normTimesheet makes a timesheet's times UTC so that what is returned
// equals what was stored.
func normTimesheet(t timebridge.Timesheet) timebridge.Timesheet {
	if !t.Begin.IsZero() {
		t.Begin = t.Begin.UTC()
	}
	if !t.End.IsZero() {
		t.End = t.End.UTC()
	}
	return t
}

func normTimesheetPtr(t *timebridge.Timesheet) *timebridge.Timesheet {
	if t == nil {
		return nil
	}
	v := normTimesheet(*t)
	return &v
}

func checkLinkKey(op, pid string, entryID int64) error {
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	return checkNum(op, "entry id", entryID)
}

// GetLink returns the link of an entry, apperr.NotFound if there is none.
// Links are keyed by profile and entry; ticketID is accepted for symmetry
// with LinksByTicket but not needed: a link is found even if Zammad has
// moved its entry to another ticket (its TicketID then still names the old
// one).
func (st *Store) GetLink(ctx context.Context, pid string, ticketID, entryID int64) (timebridge.Link, error) {
	const op = "store: get link"
	_ = ticketID
	if err := checkLinkKey(op, pid, entryID); err != nil {
		return timebridge.Link{}, err
	}
	var it linkItem
	ok, err := st.getItem(ctx, op, key(pkProfileData(pid), linkSK(entryID)), &it)
	if err != nil {
		return timebridge.Link{}, err
	}
	if !ok {
		return timebridge.Link{}, notFound(op, "link")
	}
	return conv(op, it.domain)
}

// PutLink writes l in place of prev, the link as last read (nil: the
// link must not exist yet; this is how the engine claims an entry exactly
// once). The write is conditional on the stored link still being prev: its
// version and its tally, so that the profile's summary, changed in the same
// transaction by the difference between prev's tally and l's, stays exact.
// It is also refused when the stored link was written under a newer lease
// generation than l.Fence (a run that lost its lease). The stored and
// returned link has Version prev.Version+1, UpdatedAt now and its Tally
// (computed here, see timebridge.TallyOf; l.Tally is ignored). A failed
// condition is apperr.Conflict; a link that no longer exists (prev != nil)
// is apperr.NotFound.
func (st *Store) PutLink(ctx context.Context, l timebridge.Link, prev *timebridge.Link) (timebridge.Link, error) {
	const op = "store: put link"
	if err := checkLinkKey(op, l.ProfileID, l.EntryID); err != nil {
		return l, err
	}
	if err := checkNum(op, "ticket id", l.TicketID); err != nil {
		return l, err
	}
	var expect int64
	var old *timebridge.Tally
	if prev != nil {
		if prev.Version <= 0 || prev.EntryID != l.EntryID || prev.ProfileID != l.ProfileID {
			return l, invalid(op, "The previous link is not a stored version of this link.")
		}
		expect, old = prev.Version, prev.Tally
	}
	l.Version = expect + 1
	l.UpdatedAt = st.now().UTC()
	if !l.EntryCreatedAt.IsZero() {
		l.EntryCreatedAt = l.EntryCreatedAt.UTC()
	}
	l.Baseline = normTimesheet(l.Baseline)
	l.Tally = timebridge.TallyOf(l)
	it, err := toLinkItem(l)
	if err != nil {
		return l, internal(op, err)
	}
	item, err := marshal(op, it)
	if err != nil {
		return l, err
	}
	names, values := map[string]string{}, avMap{}
	var cond string
	switch {
	case expect == 0:
		cond = "attribute_not_exists(pk)"
	case l.Fence <= 0:
		cond = "#v = :expect"
	default:
		// A link written under a newer lease generation is never
		// overwritten by a run holding an older one, even where the version
		// alone could match again after a delete.
		cond = "#v = :expect AND (attribute_not_exists(#f) OR #f <= :fence)"
		names["#f"], values[":fence"] = "fence", avN(l.Fence)
	}
	if expect > 0 {
		names["#v"], values[":expect"] = attrVersion, avN(expect)
		cond = tallyCond(cond, names, values, old)
	}
	k := avMap{attrPK: item[attrPK], attrSK: item[attrSK]}
	err = st.writeLinkItem(ctx, op, item, cond, names, values, tallyUpdates(l.EntryID, old, l.Tally), func(err error) error {
		if expect == 0 && isConditionFailed(err) {
			return apperr.Wrap(err, apperr.Conflict, op, "link already exists.")
		}
		return st.versionFailure(ctx, err, op, "link", k)
	})
	if err != nil {
		return l, err
	}
	return l, nil
}

// DeleteLink deletes prev, the link as last read, when the stored link is
// still prev (version and tally); its tally leaves the summary in the same
// transaction.
func (st *Store) DeleteLink(ctx context.Context, prev timebridge.Link) error {
	const op = "store: delete link"
	if err := checkLinkKey(op, prev.ProfileID, prev.EntryID); err != nil {
		return err
	}
	k := key(pkProfileData(prev.ProfileID), linkSK(prev.EntryID))
	names, values := map[string]string{"#v": attrVersion}, avMap{":expect": avN(prev.Version)}
	cond := tallyCond("attribute_exists(pk) AND #v = :expect", names, values, prev.Tally)
	return st.deleteLinkItem(ctx, op, prev.ProfileID, k, cond, names, values, tallyUpdates(prev.EntryID, prev.Tally, nil), func(err error) error {
		return st.versionFailure(ctx, err, op, "link", k)
	})
}

// LinksByTicket returns the links of one ticket, ordered by entry id. It
// reads gsi1 and is therefore eventually consistent (see the package
// documentation for why that is safe).
func (st *Store) LinksByTicket(ctx context.Context, pid string, ticketID int64) ([]timebridge.Link, error) {
	const op = "store: links by ticket"
	if err := checkID(op, "profile id", pid); err != nil {
		return nil, err
	}
	if err := checkNum(op, "ticket id", ticketID); err != nil {
		return nil, err
	}
	var out []timebridge.Link
	err := st.queryPages(ctx, op, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexGSI1),
		KeyConditionExpression:    aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: avMap{":pk": avS(linkTicketPK(pid, ticketID))},
	}, func(items []avMap) error {
		links, err := decodeLinks(op, items)
		out = append(out, links...)
		return err
	})
	return out, err
}

// LinkPageSize is the number of links Links passes to fn at a time (the
// last page may be shorter).
const LinkPageSize = 500

// Links calls fn with all links of a profile in pages of at most
// LinkPageSize, ordered by entry id, reading the base table with strong
// consistency. An error from fn stops the iteration and is returned.
func (st *Store) Links(ctx context.Context, pid string, fn func([]timebridge.Link) error) error {
	const op = "store: list links"
	if err := checkID(op, "profile id", pid); err != nil {
		return err
	}
	return st.queryPages(ctx, op, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
		ExpressionAttributeValues: avMap{":pk": avS(pkProfileData(pid)), ":prefix": avS(skLinkPrefix)},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(LinkPageSize),
	}, func(items []avMap) error {
		links, err := decodeLinks(op, items)
		if err != nil {
			return err
		}
		return fn(links)
	})
}

func decodeLinks(op string, items []avMap) ([]timebridge.Link, error) {
	var its []linkItem
	if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
		return nil, internal(op, err)
	}
	out := make([]timebridge.Link, 0, len(its))
	for _, it := range its {
		if !strings.HasPrefix(it.SK, skLinkPrefix) {
			continue
		}
		l, err := conv(op, it.domain)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// ---- cursor ----

type cursorItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Type      string `dynamodbav:"type"`
	ProfileID string `dynamodbav:"profile_id"`
	UpdatedAt string `dynamodbav:"updated_at,omitempty"`
	RunID     string `dynamodbav:"run_id,omitempty"`
}

// GetCursor returns the profile's incremental cursor; ok is false when none
// has been stored yet.
func (st *Store) GetCursor(ctx context.Context, pid string) (timebridge.Cursor, bool, error) {
	const op = "store: get cursor"
	if err := checkID(op, "profile id", pid); err != nil {
		return timebridge.Cursor{}, false, err
	}
	var it cursorItem
	ok, err := st.getItem(ctx, op, key(pkProfileData(pid), skCursor), &it)
	if err != nil || !ok {
		return timebridge.Cursor{}, false, err
	}
	t, err := parseTime(it.UpdatedAt)
	if err != nil {
		return timebridge.Cursor{}, false, internal(op, err)
	}
	return timebridge.Cursor{ProfileID: it.ProfileID, UpdatedAt: t, RunID: it.RunID}, true, nil
}

// PutCursor stores the profile's incremental cursor (unconditionally: a
// cursor moved back by a slower overlapping run only causes re-reading,
// which the engine's hashes make harmless).
func (st *Store) PutCursor(ctx context.Context, c timebridge.Cursor) error {
	const op = "store: put cursor"
	if err := checkID(op, "profile id", c.ProfileID); err != nil {
		return err
	}
	item, err := marshal(op, cursorItem{
		PK: pkProfileData(c.ProfileID), SK: skCursor, Type: "cursor",
		ProfileID: c.ProfileID, UpdatedAt: fmtTime(c.UpdatedAt), RunID: c.RunID,
	})
	if err != nil {
		return err
	}
	return classify(st.put(ctx, op, item, "", nil, nil), op)
}
