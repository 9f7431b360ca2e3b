package store

// Internals exported to the external tests.
var (
	FormatTime    = fmtTime
	ClassifyErr   = classify
	DecodeCursor  = decodeCursor
	EncodeRecords = encodeRecords
	DecodeRecords = decodeRecords
)
