package sessions

import (
	"slices"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
)

// Factors: the authentication methods a session's user proved (RFC 8176
// "amr" values), each with when it was last verified, and the assurance
// level they give. Like the other rules, the functions here have Lua twins
// that the stores apply inside their atomic step (verify's step-up check,
// regenerate's merge); redisstore's tests compare them on random cases.
//
// A record keeps its factors as one string, "method:kind:ms,…": the method,
// its kind (k knowledge, p possession, i inherence) and the time it was
// verified in ms after the session's created_at. The kind is written in so
// that Lua computes the level without a table of methods.

// Factor is one method the user proved, and when (the API's amr entry).
type Factor struct {
	Method string `json:"method"`
	At     Time   `json:"at"`
}

// Assurance levels.
const (
	// AAL1 is any session: one factor or none.
	AAL1 = 1
	// AAL2 is a session whose user proved factors of two different kinds.
	AAL2 = 2
)

// factorKinds maps each method sessiond accepts (RFC 8176) to its kind.
var factorKinds = map[string]byte{
	"pwd": 'k', "pin": 'k', "kba": 'k',
	"otp": 'p', "hwk": 'p', "swk": 'p', "sms": 'p', "tel": 'p', "sc": 'p', "pop": 'p',
	"face": 'i', "fpt": 'i', "iris": 'i', "retina": 'i', "vbm": 'i',
}

// FactorMethods returns the methods sessiond accepts, sorted.
func FactorMethods() []string {
	out := make([]string, 0, len(factorKinds))
	for m := range factorKinds {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// maxFactors bounds the methods one request may name.
const maxFactors = 8

// factorList checks the methods a request names (field is its name) and
// returns them as "method:kind,…" for AddFactors, each once, in order.
// fault.InvalidRequest for an unknown method or too many.
func factorList(field string, methods []string) (string, error) {
	if len(methods) > maxFactors {
		return "", fault.Invalid(field, "names at most %d methods", maxFactors)
	}
	var b strings.Builder
	seen := map[string]bool{}
	for _, m := range methods {
		k, ok := factorKinds[m]
		if !ok {
			return "", fault.Invalid(field, "names a method sessiond does not know; one of %s", strings.Join(FactorMethods(), ", "))
		}
		if seen[m] {
			continue
		}
		seen[m] = true
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m)
		b.WriteByte(':')
		b.WriteByte(k)
	}
	return b.String(), nil
}

// methodsOf returns the methods of "method:kind,…", comma-separated.
func methodsOf(list string) string {
	var b strings.Builder
	for list != "" {
		var e string
		e, list, _ = strings.Cut(list, ",")
		m, _, _ := strings.Cut(e, ":")
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m)
	}
	return b.String()
}

// storedFactor is one entry of a record's factors.
type storedFactor struct {
	method string
	kind   byte
	at     int64 // ms after created_at
}

// parseFactors reads a record's factors; malformed entries are skipped.
func parseFactors(s string) []storedFactor {
	var out []storedFactor
	for s != "" {
		var e string
		e, s, _ = strings.Cut(s, ",")
		m, rest, ok1 := strings.Cut(e, ":")
		k, t, ok2 := strings.Cut(rest, ":")
		at, err := strconv.ParseInt(t, 10, 64)
		if !ok1 || !ok2 || len(k) != 1 || err != nil {
			continue
		}
		out = append(out, storedFactor{method: m, kind: k[0], at: at})
	}
	return out
}

func formatFactors(fs []storedFactor) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(f.method)
		b.WriteByte(':')
		b.WriteByte(f.kind)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(f.at, 10))
	}
	return b.String()
}

// AddFactors returns factors with each "method:kind" of add verified at
// now, on a session created at base: a method already there gets the new
// time (in place), a new one is appended. Lua: add_factors(amr, add, now,
// base).
func AddFactors(factors, add string, now, base int64) string {
	if add == "" {
		return factors
	}
	fs := parseFactors(factors)
	for add != "" {
		var e string
		e, add, _ = strings.Cut(add, ",")
		m, k, _ := strings.Cut(e, ":")
		i := slices.IndexFunc(fs, func(f storedFactor) bool { return f.method == m })
		if i < 0 {
			fs = append(fs, storedFactor{method: m, kind: k[0]})
			i = len(fs) - 1
		}
		fs[i].at = now - base
	}
	return formatFactors(fs)
}

// AAL returns the assurance level of factors: AAL2 when they hold two
// different kinds, else AAL1. Lua: aal(amr).
func AAL(factors string) int { return aalOf(parseFactors(factors)) }

func aalOf(fs []storedFactor) int {
	var first byte
	for _, f := range fs {
		switch {
		case first == 0:
			first = f.kind
		case f.kind != first:
			return AAL2
		}
	}
	return AAL1
}

// StepUpMet reports whether a session created at base with factors meets,
// at now, the level minAAL and every "method:ms" of ages (each method
// verified at most ms ago). Lua: step_up_met(amr, base, now, min_aal,
// ages).
func StepUpMet(factors string, base, now int64, minAAL int, ages string) bool {
	have, stale := stepUpMissing(factors, base, now, ages)
	return have >= minAAL && len(stale) == 0
}

// stepUpMissing names what a session lacks for a step-up: the level it
// has and needs, and the methods missing or too old.
func stepUpMissing(factors string, base, now int64, ages string) (have int, stale []string) {
	fs := parseFactors(factors)
	for ages != "" {
		var e string
		e, ages, _ = strings.Cut(ages, ",")
		m, v, _ := strings.Cut(e, ":")
		maxAge, _ := strconv.ParseInt(v, 10, 64)
		i := slices.IndexFunc(fs, func(f storedFactor) bool { return f.method == m })
		if i < 0 || now-(base+fs[i].at) > maxAge {
			stale = append(stale, m)
		}
	}
	return aalOf(fs), stale
}

// factorAges checks a verify's max_factor_age and returns it as
// "method:ms,…" in method order for StepUpMet.
func factorAges(ages map[string]int) (string, error) {
	methods := make([]string, 0, len(ages))
	for m := range ages {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	var b strings.Builder
	for _, m := range methods {
		if _, ok := factorKinds[m]; !ok {
			return "", fault.Invalid("max_factor_age", "names a method sessiond does not know; one of %s", strings.Join(FactorMethods(), ", "))
		}
		if ages[m] < 0 {
			return "", fault.Invalid("max_factor_age", "each age must be a whole number of seconds, 0 or more")
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(int64(ages[m])*1000, 10))
	}
	return b.String(), nil
}

// factorsOf returns the API's view of a record's factors (never nil) and
// their assurance level, parsing them once.
func factorsOf(r Record) ([]Factor, int) {
	fs := parseFactors(r.Factors)
	out := make([]Factor, len(fs))
	for i, f := range fs {
		out[i] = Factor{Method: f.method, At: msTime(r.CreatedAt + f.at)}
	}
	return out, aalOf(fs)
}
