package zammad

import (
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/timebridge/timebridge/shared/decimal"
)

func TestParseTimeUnit(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = error
		err  error
	}{
		{"15.0", "15", nil},
		{"-100.0", "-100", nil},
		{"0.25", "0.25", nil},
		{"30", "30", nil},
		{"7.5", "7.5", nil},
		{" 22.0 ", "22", nil},
		{"0.0", "0", nil},
		{"-0.0", "0", nil},
		{"9999.99", "9999.99", nil},
		{"-9999.99", "-9999.99", nil},
		{"1.125", "1.125", nil},       // more than two decimals: kept exactly
		{"0.123456", "0.123456", nil}, // decimal's full scale
		{"10000", "", decimal.ErrRange},
		{"-10000.0", "", decimal.ErrRange},
		{"9999.995", "", decimal.ErrRange},
		{"0.1234567", "", decimal.ErrRange}, // would need rounding
		{"1e3", "", decimal.ErrSyntax},
		{"1E-2", "", decimal.ErrSyntax},
		{"", "", decimal.ErrSyntax},
		{"abc", "", decimal.ErrSyntax},
		{"1,5", "", decimal.ErrSyntax},
		{"NaN", "", decimal.ErrSyntax},
		{"Infinity", "", decimal.ErrSyntax},
		{"0x10", "", decimal.ErrSyntax},
		{"--1", "", decimal.ErrSyntax},
		{"1.2.3", "", decimal.ErrSyntax},
		{`"15.0"`, "", decimal.ErrSyntax}, // quotes are JSON's business
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := ParseTimeUnit(tt.in)
			if tt.want == "" {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseTimeUnit(%q) = %v, %v; want error %v", tt.in, d, err, tt.err)
				}
				return
			}
			if err != nil || d.String() != tt.want {
				t.Fatalf("ParseTimeUnit(%q) = %v, %v; want %s", tt.in, d, err, tt.want)
			}
		})
	}
}

func TestEntryTimeUnitJSON(t *testing.T) {
	tests := []struct {
		json string
		want string // "" = error
	}{
		{`{"id":1,"time_unit":"15.0"}`, "15"},
		{`{"id":1,"time_unit":"-100.0"}`, "-100"},
		{`{"id":1,"time_unit":12.5}`, "12.5"},
		{`{"id":1,"time_unit":" 3 "}`, "3"},
		{`{"id":1,"time_unit":null}`, ""},
		{`{"id":1}`, ""},
		{`{"id":1,"time_unit":"10000.0"}`, ""},
		{`{"id":1,"time_unit":1e2}`, ""},
		{`{"id":1,"time_unit":"ten"}`, ""},
		{`{"id":1,"time_unit":true}`, ""},
	}
	for _, tt := range tests {
		var e Entry
		err := json.Unmarshal([]byte(tt.json), &e)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%s: decoded to %v, want error", tt.json, e.TimeUnit)
		case tt.want != "" && (err != nil || e.TimeUnit.String() != tt.want):
			t.Errorf("%s: got %v, %v; want %s", tt.json, e.TimeUnit, err, tt.want)
		case tt.want == "" && !strings.Contains(err.Error(), "entry 1"):
			t.Errorf("%s: error %q does not name the entry", tt.json, err)
		}
	}
}

func TestEntryJSONRoundTrip(t *testing.T) {
	in := Entry{ID: 7, TicketID: 50, TimeUnit: decimal.MustParse("-12.5"), TypeID: 2, CreatedByID: 3}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Entry
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("%s decoded to %+v, %v", b, out, err)
	}
}

func TestFormatTimeUnit(t *testing.T) {
	for in, want := range map[string]string{"15": "15.0", "-100": "-100.0", "0.25": "0.25", "0": "0.0"} {
		if got := FormatTimeUnit(decimal.MustParse(in)); got != want {
			t.Errorf("FormatTimeUnit(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzParseTimeUnit checks that the parser never panics, that whatever it
// accepts is in Zammad's range, equals the input exactly (no silent
// rounding), and survives formatting and re-parsing in both the plain and
// Zammad's own form.
func FuzzParseTimeUnit(f *testing.F) {
	for _, s := range []string{
		// Values from the reference samples and Zammad's specs.
		"15.0", "30.0", "35.0", "22.0", "60.0", "-100.0", "0.25", "0.0",
		// Edges.
		"9999.99", "-9999.99", "10000", "9999.995", "0.01", "-0.01", ".5", "+3.", "-", ".", "",
		"1e3", "1E+2", "NaN", "inf", "0x1p3", "1_000", "١٢", " 7 ", "\t8\n", "00000000000015.0",
		"0.1234567", "0.1234560", "99999999999999999999", "-0", "+-1", "1..2",
	} {
		f.Add(s)
	}
	limit := decimal.MustParse("9999.99")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeUnit(s)
		if err != nil {
			if d != (decimal.Dec{}) {
				t.Fatalf("error %v but non-zero value %v", err, d)
			}
			return
		}
		if d.Cmp(limit) > 0 || d.Cmp(limit.Neg()) < 0 {
			t.Fatalf("ParseTimeUnit(%q) = %v, outside ±9999.99", s, d)
		}
		for _, form := range []string{d.String(), FormatTimeUnit(d)} {
			again, err := ParseTimeUnit(form)
			if err != nil || again != d {
				t.Fatalf("ParseTimeUnit(%q) = %v; re-parsing %q gave %v, %v", s, d, form, again, err)
			}
		}
		// Exactness: the value equals the input read as a rational.
		in, ok1 := new(big.Rat).SetString(strings.TrimSpace(s))
		got, ok2 := new(big.Rat).SetString(d.String())
		if ok1 && ok2 && in.Cmp(got) != 0 {
			t.Fatalf("ParseTimeUnit(%q) = %v, not the same number", s, d)
		}
	})
}
