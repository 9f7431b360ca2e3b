package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/timebridge/timebridge/shared/apperr"
)

// timeLayout is RFC 3339 with a fixed nine-digit fraction: valid
// RFC3339Nano that also sorts chronologically as a string.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// fmtTime formats t in UTC with timeLayout; the zero time gives "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fmtTimePtr is fmtTime for optional times.
func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	if t.IsZero() {
		// A set but zero time must survive the round trip as non-nil.
		return time.Time{}.Format(timeLayout)
	}
	return fmtTime(*t)
}

// parseTime parses a stored time; "" is the zero time.
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func parseTimePtr(v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// times parses several stored times, returning the first error.
type timeParser struct{ err error }

func (p *timeParser) t(v string) time.Time {
	t, err := parseTime(v)
	if err != nil && p.err == nil {
		p.err = err
	}
	return t
}

func (p *timeParser) ptr(v string) *time.Time {
	t, err := parseTimePtr(v)
	if err != nil && p.err == nil {
		p.err = err
	}
	return t
}

// pad formats a non-negative id as 12 digits, so that keys sort numerically.
func pad(v int64) string { return fmt.Sprintf("%012d", v) }

// jsonString encodes v as a JSON string attribute; nil/empty gives "".
func jsonString(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if string(b) == "null" {
		return "", nil
	}
	return string(b), nil
}

func fromJSON(v string, out any) error {
	if v == "" {
		return nil
	}
	return json.Unmarshal([]byte(v), out)
}

// ---- page cursors ----

// encodeCursor turns the key attributes of the last returned item into an
// opaque cursor. Only string attributes are used in keys.
func encodeCursor(item map[string]types.AttributeValue, names ...string) string {
	m := make(map[string]string, len(names))
	for _, name := range names {
		m[name] = strAttr(item, name)
	}
	b, _ := json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor validates a cursor against the attribute names of the query
// and the fixed values it must carry (e.g. the partition key), and returns
// the ExclusiveStartKey.
func decodeCursor(op, cursor string, fixed map[string]string, names ...string) (map[string]types.AttributeValue, error) {
	if cursor == "" {
		return nil, nil
	}
	bad := apperr.New(apperr.Validation, op, "The page cursor is invalid; start again from the first page.")
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, bad
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) != len(names) {
		return nil, bad
	}
	key := make(map[string]types.AttributeValue, len(m))
	for _, name := range names {
		v, ok := m[name]
		if !ok || v == "" {
			return nil, bad
		}
		if want, ok := fixed[name]; ok && v != want {
			return nil, bad
		}
		key[name] = avS(v)
	}
	return key, nil
}
