// Package decimal provides the fixed-point decimal Timebridge uses for
// Zammad's time units and the profile's minutes-per-unit factor. Zammad
// serialises time_unit (a decimal(6,2) column) as a JSON string such as
// "15.0" or "-100.0"; parsing it into float64 would lose exactness, so values
// are held as integer millionths.
package decimal

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Scale is the number of fractional digits kept.
const Scale = 6

const unit = 1_000_000 // 10^Scale

// Dec is a signed decimal with six fractional digits. The zero value is 0.
type Dec struct{ micros int64 }

// ErrSyntax reports an unparseable decimal.
var ErrSyntax = errors.New("decimal: invalid syntax")

// ErrRange reports a decimal with too many digits.
var ErrRange = errors.New("decimal: value out of range")

// FromInt returns n as a Dec.
func FromInt(n int64) Dec { return Dec{micros: n * unit} }

// Parse reads a plain decimal: optional sign, digits, optional fraction
// ("15", "15.0", "-0.25", ".5", "+3."). Surrounding spaces are allowed;
// exponents, thousands separators, NaN and infinities are not. Fraction
// digits beyond six must be zero, so no input is silently rounded.
func Parse(s string) (Dec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Dec{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return Dec{}, fmt.Errorf("%w: %q has no digits", ErrSyntax, s)
	}
	if hasDot && strings.Contains(frac, ".") {
		return Dec{}, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Dec{}, fmt.Errorf("%w: %q", ErrSyntax, s)
			}
		}
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 12 {
		return Dec{}, fmt.Errorf("%w: %q", ErrRange, s)
	}
	if len(frac) > Scale {
		if strings.TrimRight(frac[Scale:], "0") != "" {
			return Dec{}, fmt.Errorf("%w: %q has more than %d decimals", ErrRange, s, Scale)
		}
		frac = frac[:Scale]
	}
	frac += strings.Repeat("0", Scale-len(frac))
	var whole, fr int64
	if intPart != "" {
		whole, _ = strconv.ParseInt(intPart, 10, 64) // ≤ 12 digits: cannot fail
	}
	fr, _ = strconv.ParseInt(frac, 10, 64)
	v := whole*unit + fr
	if neg {
		v = -v
	}
	return Dec{micros: v}, nil
}

// MustParse is Parse for constants; it panics on error.
func MustParse(s string) Dec {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns the shortest plain form: "15", "-0.25".
func (d Dec) String() string {
	v := d.micros
	sign := ""
	if v < 0 {
		sign = "-"
	}
	u := uint64(v)
	if v < 0 {
		u = uint64(-v)
	}
	whole, frac := u/unit, u%unit
	if frac == 0 {
		return sign + strconv.FormatUint(whole, 10)
	}
	fs := fmt.Sprintf("%06d", frac)
	return sign + strconv.FormatUint(whole, 10) + "." + strings.TrimRight(fs, "0")
}

// Sign returns -1, 0 or +1.
func (d Dec) Sign() int {
	switch {
	case d.micros < 0:
		return -1
	case d.micros > 0:
		return 1
	}
	return 0
}

// IsZero reports whether d is 0.
func (d Dec) IsZero() bool { return d.micros == 0 }

// Add returns d+e.
func (d Dec) Add(e Dec) Dec { return Dec{micros: d.micros + e.micros} }

// Sub returns d-e.
func (d Dec) Sub(e Dec) Dec { return Dec{micros: d.micros - e.micros} }

// Neg returns -d.
func (d Dec) Neg() Dec { return Dec{micros: -d.micros} }

// Cmp compares d and e: -1, 0 or +1.
func (d Dec) Cmp(e Dec) int {
	switch {
	case d.micros < e.micros:
		return -1
	case d.micros > e.micros:
		return 1
	}
	return 0
}

// Mul returns d×e rounded half away from zero to six decimals, and false if
// the result does not fit.
func (d Dec) Mul(e Dec) (Dec, bool) {
	p := new(big.Int).Mul(big.NewInt(d.micros), big.NewInt(e.micros))
	return fromScaled(p, unit)
}

// Seconds interprets d as minutes and returns whole seconds, rounded half
// away from zero, and false on overflow.
func (d Dec) Seconds() (int64, bool) {
	p := new(big.Int).Mul(big.NewInt(d.micros), big.NewInt(60))
	r, ok := divRound(p, unit)
	if !ok {
		return 0, false
	}
	return r, true
}

func fromScaled(p *big.Int, div int64) (Dec, bool) {
	r, ok := divRound(p, div)
	return Dec{micros: r}, ok
}

func divRound(p *big.Int, div int64) (int64, bool) {
	q, m := new(big.Int).QuoRem(p, big.NewInt(div), new(big.Int))
	// half away from zero
	if new(big.Int).Abs(m).Cmp(big.NewInt(div/2)) >= 0 {
		if p.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() || q.Int64() == math.MinInt64 {
		return 0, false
	}
	return q.Int64(), true
}

// MarshalJSON writes d as a JSON string, like Zammad does.
func (d Dec) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts a JSON string ("15.0") or number (15.0); Zammad sends
// strings for time_unit but floats for a webhook's accounted_time.
func (d *Dec) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*d = Dec{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = str
	} else if strings.ContainsAny(s, "eE") {
		// A JSON number in exponent form: accept it through float parsing
		// only when it is exactly representable at our scale.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrSyntax, s)
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText and UnmarshalText let Dec live in maps and attribute values.
func (d Dec) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses text written by MarshalText.
func (d *Dec) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
