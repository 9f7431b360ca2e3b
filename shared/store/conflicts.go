package store

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/timebridge/timebridge/shared/timebridge"
)

type conflictItem struct {
	PK         string `dynamodbav:"pk"`
	SK         string `dynamodbav:"sk"`
	GSI1PK     string `dynamodbav:"gsi1pk"`
	GSI1SK     string `dynamodbav:"gsi1sk"`
	Type       string `dynamodbav:"type"`
	ID         string `dynamodbav:"id"`
	ProfileID  string `dynamodbav:"profile_id"`
	EntryID    int64  `dynamodbav:"entry_id"`
	TicketID   int64  `dynamodbav:"ticket_id"`
	Kind       string `dynamodbav:"kind"`
	Status     string `dynamodbav:"status"`
	Message    string `dynamodbav:"message,omitempty"`
	SourceKey  string `dynamodbav:"source_key,omitempty"`
	Zammad     string `dynamodbav:"zammad,omitempty"`     // JSON EntrySnapshot
	Kimai      string `dynamodbav:"kimai,omitempty"`      // JSON Timesheet
	Desired    string `dynamodbav:"desired,omitempty"`    // JSON Timesheet
	Duplicates string `dynamodbav:"duplicates,omitempty"` // JSON []int64
	Names      string `dynamodbav:"names,omitempty"`      // JSON ConflictNames
	Resolution string `dynamodbav:"resolution,omitempty"`
	ResolvedBy string `dynamodbav:"resolved_by,omitempty"`
	ResolvedAt string `dynamodbav:"resolved_at,omitempty"`
	RunID      string `dynamodbav:"run_id,omitempty"`
	CreatedAt  string `dynamodbav:"created_at,omitempty"`
	UpdatedAt  string `dynamodbav:"updated_at,omitempty"`
	Version    int64  `dynamodbav:"version"`
}

func conflictSK(entryID int64) string { return skConflictPrefix + pad(entryID) }

func conflictGSI1PK(status timebridge.ConflictStatus) string { return "CONFLICTS#" + string(status) }

func toConflictItem(c timebridge.Conflict) (conflictItem, error) {
	it := conflictItem{
		PK: pkProfileData(c.ProfileID), SK: conflictSK(c.EntryID),
		GSI1PK: conflictGSI1PK(c.Status),
		GSI1SK: c.ProfileID + "#" + fmtTime(c.UpdatedAt) + "#" + pad(c.EntryID),
		Type:   "conflict",
		ID:     c.ID, ProfileID: c.ProfileID, EntryID: c.EntryID, TicketID: c.TicketID,
		Kind: string(c.Kind), Status: string(c.Status), Message: c.Message, SourceKey: c.SourceKey,
		Resolution: string(c.Resolution), ResolvedBy: c.ResolvedBy, ResolvedAt: fmtTimePtr(c.ResolvedAt),
		RunID: c.RunID, CreatedAt: fmtTime(c.CreatedAt), UpdatedAt: fmtTime(c.UpdatedAt), Version: c.Version,
	}
	var err error
	if c.Zammad != nil {
		if it.Zammad, err = jsonString(normSnapshot(*c.Zammad)); err != nil {
			return it, err
		}
	}
	if it.Kimai, err = jsonString(normTimesheetPtr(c.Kimai)); err != nil {
		return it, err
	}
	if it.Desired, err = jsonString(normTimesheetPtr(c.Desired)); err != nil {
		return it, err
	}
	if c.Duplicates != nil {
		if it.Duplicates, err = jsonString(c.Duplicates); err != nil {
			return it, err
		}
	}
	if c.Names != nil {
		if it.Names, err = jsonString(c.Names); err != nil {
			return it, err
		}
	}
	return it, nil
}

func normSnapshot(e timebridge.EntrySnapshot) timebridge.EntrySnapshot {
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e
}

func (it conflictItem) domain() (timebridge.Conflict, error) {
	var tp timeParser
	c := timebridge.Conflict{
		ID: it.ID, ProfileID: it.ProfileID, EntryID: it.EntryID, TicketID: it.TicketID,
		Kind: timebridge.ConflictKind(it.Kind), Status: timebridge.ConflictStatus(it.Status),
		Message: it.Message, SourceKey: it.SourceKey,
		Resolution: timebridge.Resolution(it.Resolution), ResolvedBy: it.ResolvedBy,
		ResolvedAt: tp.ptr(it.ResolvedAt),
		RunID:      it.RunID, CreatedAt: tp.t(it.CreatedAt), UpdatedAt: tp.t(it.UpdatedAt), Version: it.Version,
	}
	if tp.err != nil {
		return c, tp.err
	}
	if it.Zammad != "" {
		c.Zammad = new(timebridge.EntrySnapshot)
		if err := fromJSON(it.Zammad, c.Zammad); err != nil {
			return c, err
		}
	}
	if it.Kimai != "" {
		c.Kimai = new(timebridge.Timesheet)
		if err := fromJSON(it.Kimai, c.Kimai); err != nil {
			return c, err
		}
	}
	if it.Desired != "" {
		c.Desired = new(timebridge.Timesheet)
		if err := fromJSON(it.Desired, c.Desired); err != nil {
			return c, err
		}
	}
	if it.Duplicates != "" {
		if err := fromJSON(it.Duplicates, &c.Duplicates); err != nil {
			return c, err
		}
	}
	if it.Names != "" {
		c.Names = new(timebridge.ConflictNames)
		if err := fromJSON(it.Names, c.Names); err != nil {
			return c, err
		}
	}
	return c, nil
}

// PutConflict writes a conflict with the same version rule as PutLink
// (expectVersion 0: must not exist). ID is set to ConflictID(ProfileID,
// EntryID), UpdatedAt to now and CreatedAt to UpdatedAt when zero. Status
// must be set.
func (st *Store) PutConflict(ctx context.Context, c timebridge.Conflict, expectVersion int64) (timebridge.Conflict, error) {
	const op = "store: put conflict"
	if err := checkLinkKey(op, c.ProfileID, c.EntryID); err != nil {
		return c, err
	}
	if err := checkName(op, "conflict status", string(c.Status)); err != nil {
		return c, err
	}
	if err := checkNum(op, "expected version", expectVersion); err != nil {
		return c, err
	}
	c.ID = timebridge.ConflictID(c.ProfileID, c.EntryID)
	c.Version = expectVersion + 1
	c.UpdatedAt = st.now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = c.UpdatedAt
	}
	c.CreatedAt = c.CreatedAt.UTC()
	if c.ResolvedAt != nil {
		t := c.ResolvedAt.UTC()
		c.ResolvedAt = &t
	}
	if c.Zammad != nil {
		z := normSnapshot(*c.Zammad)
		c.Zammad = &z
	}
	c.Kimai = normTimesheetPtr(c.Kimai)
	c.Desired = normTimesheetPtr(c.Desired)
	it, err := toConflictItem(c)
	if err != nil {
		return c, internal(op, err)
	}
	item, err := marshal(op, it)
	if err != nil {
		return c, err
	}
	if err := st.putVersioned(ctx, op, "conflict "+c.ID, item, expectVersion); err != nil {
		return c, err
	}
	return c, nil
}

// GetConflict returns the conflict of an entry, apperr.NotFound if none.
func (st *Store) GetConflict(ctx context.Context, pid string, entryID int64) (timebridge.Conflict, error) {
	const op = "store: get conflict"
	if err := checkLinkKey(op, pid, entryID); err != nil {
		return timebridge.Conflict{}, err
	}
	var it conflictItem
	ok, err := st.getItem(ctx, op, key(pkProfileData(pid), conflictSK(entryID)), &it)
	if err != nil {
		return timebridge.Conflict{}, err
	}
	if !ok {
		return timebridge.Conflict{}, notFound(op, "conflict "+timebridge.ConflictID(pid, entryID))
	}
	return conv(op, it.domain)
}

// ConflictByID returns the conflict with id ConflictID(pid, entry).
func (st *Store) ConflictByID(ctx context.Context, id string) (timebridge.Conflict, error) {
	const op = "store: get conflict"
	pid, entry, err := ParseConflictID(id)
	if err != nil {
		return timebridge.Conflict{}, invalid(op, "conflict id "+strconv.Quote(id)+" is malformed.")
	}
	return st.GetConflict(ctx, pid, entry)
}

// ParseConflictID splits an id made by timebridge.ConflictID.
func ParseConflictID(id string) (pid string, entryID int64, err error) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 || i == len(id)-1 {
		return "", 0, strconv.ErrSyntax
	}
	entryID, err = strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || entryID < 0 {
		return "", 0, strconv.ErrSyntax
	}
	return id[:i], entryID, nil
}

// DeleteConflict deletes a conflict when its stored version equals
// expectVersion.
func (st *Store) DeleteConflict(ctx context.Context, pid string, entryID, expectVersion int64) error {
	const op = "store: delete conflict"
	if err := checkLinkKey(op, pid, entryID); err != nil {
		return err
	}
	return st.deleteVersioned(ctx, op, "conflict "+timebridge.ConflictID(pid, entryID),
		key(pkProfileData(pid), conflictSK(entryID)), expectVersion)
}

// ListConflicts returns conflicts newest (UpdatedAt) first. With a profile
// id it reads that profile's partition (strongly consistent), optionally
// filtered by status; with pid "" it lists all profiles' conflicts of the
// given status (or of both statuses when status is "") through gsi1
// (eventually consistent).
func (st *Store) ListConflicts(ctx context.Context, pid string, status timebridge.ConflictStatus) ([]timebridge.Conflict, error) {
	const op = "store: list conflicts"
	var items []avMap
	collect := func(page []avMap) error { items = append(items, page...); return nil }
	if pid != "" {
		if err := checkID(op, "profile id", pid); err != nil {
			return nil, err
		}
		in := &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
			ExpressionAttributeValues: avMap{":pk": avS(pkProfileData(pid)), ":prefix": avS(skConflictPrefix)},
			ConsistentRead:            aws.Bool(true),
		}
		if status != "" {
			in.FilterExpression = aws.String("#status = :status")
			in.ExpressionAttributeNames = map[string]string{"#status": "status"}
			in.ExpressionAttributeValues[":status"] = avS(string(status))
		}
		if err := st.queryPages(ctx, op, in, collect); err != nil {
			return nil, err
		}
	} else {
		statuses := []timebridge.ConflictStatus{status}
		if status == "" {
			statuses = []timebridge.ConflictStatus{timebridge.ConflictOpen, timebridge.ConflictResolved}
		}
		for _, stt := range statuses {
			if err := checkName(op, "conflict status", string(stt)); err != nil {
				return nil, err
			}
			err := st.queryPages(ctx, op, &dynamodb.QueryInput{
				IndexName:                 aws.String(indexGSI1),
				KeyConditionExpression:    aws.String("gsi1pk = :pk"),
				ExpressionAttributeValues: avMap{":pk": avS(conflictGSI1PK(stt))},
			}, collect)
			if err != nil {
				return nil, err
			}
		}
	}
	var its []conflictItem
	if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
		return nil, internal(op, err)
	}
	out := make([]timebridge.Conflict, 0, len(its))
	for _, it := range its {
		c, err := conv(op, it.domain)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.After(out[j].UpdatedAt)
		}
		if out[i].ProfileID != out[j].ProfileID {
			return out[i].ProfileID < out[j].ProfileID
		}
		return out[i].EntryID < out[j].EntryID
	})
	return out, nil
}
