package decimal

import (
	"encoding/json"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"15.0", "15", true},
		{"-100.0", "-100", true},
		{"0.25", "0.25", true},
		{".5", "0.5", true},
		{"+3.", "3", true},
		{" 7 ", "7", true},
		{"9999.99", "9999.99", true},
		{"0.1234560", "0.123456", true},
		{"0.1234567", "", false}, // would be silently rounded
		{"", "", false},
		{"-", "", false},
		{".", "", false},
		{"1e3", "", false},
		{"1,5", "", false},
		{"1.2.3", "", false},
		{"NaN", "", false},
		{"1234567890123", "", false},
		{"--1", "", false},
	}
	for _, tt := range tests {
		d, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) err=%v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && d.String() != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, d, tt.want)
		}
	}
}

func TestArithmetic(t *testing.T) {
	tests := []struct {
		units, factor string
		seconds       int64
	}{
		{"15", "1", 900},
		{"0.25", "60", 900},
		{"1", "15", 900},
		{"1.5", "60", 5400},
		{"-2", "60", -7200},
		{"0.01", "1", 1},  // 0.6 s rounds half away from zero → 1
		{"0.005", "1", 0}, // 0.3 s → 0
		{"-0.01", "1", -1},
		{"9999.99", "60", 35999964},
		{"1", "0.5", 30},
	}
	for _, tt := range tests {
		m, ok := MustParse(tt.units).Mul(MustParse(tt.factor))
		if !ok {
			t.Fatalf("Mul overflow for %s×%s", tt.units, tt.factor)
		}
		s, ok := m.Seconds()
		if !ok || s != tt.seconds {
			t.Errorf("%s×%s = %s min = %d s, want %d", tt.units, tt.factor, m, s, tt.seconds)
		}
	}
	a, b := MustParse("30"), MustParse("-100")
	if got := a.Add(b).String(); got != "-70" {
		t.Errorf("Add = %s", got)
	}
	if a.Cmp(b) != 1 || b.Sign() != -1 || !FromInt(0).IsZero() || b.Neg().String() != "100" || a.Sub(b).String() != "130" {
		t.Error("Cmp/Sign/IsZero/Neg/Sub wrong")
	}
}

func TestJSON(t *testing.T) {
	var v struct{ A, B, C Dec }
	if err := json.Unmarshal([]byte(`{"A":"15.0","B":-2.5,"C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.String() != "15" || v.B.String() != "-2.5" || !v.C.IsZero() {
		t.Fatalf("got %+v", v)
	}
	out, _ := json.Marshal(v.B)
	if string(out) != `"-2.5"` {
		t.Fatalf("marshal = %s", out)
	}
	if err := json.Unmarshal([]byte(`{"A":"x"}`), &v); err == nil {
		t.Fatal("garbage accepted")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"15.0", "-100.0", "0.25", ".5", "9999.99", "", "1e3", "-0", "00012.3400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(d.String())
		if err != nil || back != d {
			t.Fatalf("round trip %q → %s → %v (%v)", s, d, back, err)
		}
	})
}
