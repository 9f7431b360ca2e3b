package store

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	tb "github.com/timebridge/timebridge/shared/timebridge"
)

// Entry record buckets are read on every report, so their encoding is
// compact and cheap to decode (a year of 10,000 records decodes in a few
// milliseconds; JSON took ten times longer): gzip of a version byte, a
// string table (names repeat across a bucket's records) and per record its
// numbers as varints and its strings as indexes into the table.
const recordCodecV1 = 1

var errRecordCodec = errors.New("entry records: malformed bucket")

func encodeRecords(recs []tb.EntryRecord) ([]byte, error) {
	var body bytes.Buffer
	strs := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		if i, ok := strs[s]; ok {
			return i
		}
		strs[s] = uint64(len(table))
		table = append(table, s)
		return strs[s]
	}
	var tmp [binary.MaxVarintLen64]byte
	putU := func(v uint64) { body.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	putI := func(v int64) { body.Write(tmp[:binary.PutVarint(tmp[:], v)]) }
	putU(uint64(len(recs)))
	for _, r := range recs {
		for _, v := range []int64{r.EntryID, r.TicketID, r.AgentID, r.CustomerID, r.ProjectID, r.ActivityID, r.Zammad, r.Written, r.Kimai, r.TimesheetID} {
			putI(v)
		}
		for _, s := range []string{r.TicketNumber, r.TicketTitle, r.Day, r.Agent, r.Customer, r.Project, r.Activity, string(r.Status), r.Reason} {
			putU(ref(s))
		}
		var flags uint64
		if r.Exported {
			flags |= 1
		}
		if r.KimaiGone {
			flags |= 2
		}
		putU(flags)
	}
	var out bytes.Buffer
	zw := gzips.Get().(*gzip.Writer)
	defer gzips.Put(zw)
	zw.Reset(&out)
	head := []byte{recordCodecV1}
	head = binary.AppendUvarint(head, uint64(len(table)))
	for _, s := range table {
		head = binary.AppendUvarint(head, uint64(len(s)))
		head = append(head, s...)
	}
	if _, err := zw.Write(head); err != nil {
		return nil, err
	}
	if _, err := zw.Write(body.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// gzips keeps gzip writers for reuse: a writer's compressor state is most
// of a megabyte, and a first sync writes a thousand buckets.
var gzips = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// gunzips keeps gzip readers and their buffers for reuse: a year's report
// decodes 366 buckets, and a fresh reader allocates (and clears) tens of
// kilobytes of tables each time.
var gunzips = sync.Pool{New: func() any { return &gunzip{} }}

type gunzip struct {
	zr  gzip.Reader
	src bytes.Reader
	out bytes.Buffer
}

func decodeRecords(data []byte, pid string) ([]tb.EntryRecord, error) {
	g := gunzips.Get().(*gunzip)
	defer gunzips.Put(g)
	g.src.Reset(data)
	if err := g.zr.Reset(&g.src); err != nil {
		return nil, err
	}
	g.out.Reset()
	if _, err := g.out.ReadFrom(&g.zr); err != nil {
		return nil, err
	}
	raw := g.out.Bytes()
	if len(raw) == 0 || raw[0] != recordCodecV1 {
		return nil, fmt.Errorf("%w: unknown version", errRecordCodec)
	}
	b := raw[1:]
	bad := false
	u := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	i := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	nstr := u()
	if bad || nstr > uint64(len(b)) {
		return nil, errRecordCodec
	}
	table := make([]string, nstr)
	for k := range table {
		l := u()
		if bad || l > uint64(len(b)) {
			return nil, errRecordCodec
		}
		table[k], b = string(b[:l]), b[l:]
	}
	s := func() string {
		k := u()
		if k >= uint64(len(table)) {
			bad = true
			return ""
		}
		return table[k]
	}
	count := u()
	if bad || count > uint64(len(b)) {
		return nil, errRecordCodec
	}
	recs := make([]tb.EntryRecord, count)
	for k := range recs {
		r := &recs[k]
		r.ProfileID = pid
		r.EntryID, r.TicketID, r.AgentID, r.CustomerID, r.ProjectID = i(), i(), i(), i(), i()
		r.ActivityID, r.Zammad, r.Written, r.Kimai, r.TimesheetID = i(), i(), i(), i(), i()
		r.TicketNumber, r.TicketTitle, r.Day, r.Agent, r.Customer = s(), s(), s(), s(), s()
		r.Project, r.Activity, r.Status, r.Reason = s(), s(), tb.RecordStatus(s()), s()
		flags := u()
		r.Exported, r.KimaiGone = flags&1 != 0, flags&2 != 0
		if bad {
			return nil, errRecordCodec
		}
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes left over", errRecordCodec, len(b))
	}
	return recs, nil
}
