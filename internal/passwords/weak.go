package passwords

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
)

// commonText is the embedded list of common passwords (common.txt).
//
//go:embed common.txt
var commonText string

// commonSet is commonText as a set, parsed on first use; it never changes.
var commonSet = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for _, line := range strings.Split(commonText, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = true
		}
	}
	return set
})

// minDistinct is the fewest different characters a password may use
// (WeakDistinct says it in words).
const minDistinct = 5

// Weakness rules, each a phrase that follows the field's name ("New
// password must not be ..."). None repeats the password.
const (
	WeakEmail    = "must not be your email address or the part of it before the @"
	WeakRepeated = "must not be one character or a short pattern repeated (like aaaa or abcabc)"
	WeakDistinct = "must use at least 5 different characters"
	WeakSequence = "must not be a sequence like abcd, 1234 or qwerty"
	WeakCommon   = "must not be a common password, even with digits or symbols added or letters swapped (like P@ssword1!)"
)

// Weakness reports why password is too easy to guess for the account with
// this email, as one of the Weak* phrases, or "" when it passes every rule.
// Comparisons ignore case. The rules, in order:
//
//   - it is the email, or the email's local part (before the last @),
//     possibly with digits or symbols added before or after;
//   - it is one string repeated (aaaa…, abcabc…, passwordpassword);
//   - it uses fewer than minDistinct different characters;
//   - at least three quarters of its steps from one character to the next
//     repeat a character or move to a neighbour in the alphabet, the digits
//     or a keyboard row (abcdefgh…, 12345678…, qwertyuiop…, 9876…);
//   - it is in the embedded list of common passwords (common.txt), also
//     once digits and symbols are cut from both ends, common letter swaps
//     (0→o, @→a, 3→e, $→s, …) undone, or a repetition reduced to one.
//
// Length is the caller's rule. Weakness's work is the password's length
// times its number of divisors (the repetition check), small for the at
// most 1024 bytes callers accept.
func Weakness(password, email string) string {
	lower := strings.ToLower(password)
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	switch {
	case isEmail(lower, core, strings.ToLower(email)):
		return WeakEmail
	case repeatedUnit(lower) != "":
		return WeakRepeated
	case distinct(lower) < minDistinct:
		return WeakDistinct
	case sequential(lower):
		return WeakSequence
	case isCommon(lower, core):
		return WeakCommon
	}
	return ""
}

// isEmail reports whether the password (lower case, and its core without
// leading and trailing digits and symbols) is the email or its local part.
func isEmail(lower, core, email string) bool {
	if email == "" {
		return false
	}
	local := email
	if i := strings.LastIndex(email, "@"); i >= 0 {
		local = email[:i]
	}
	for _, s := range []string{lower, core} {
		if s == email || (local != "" && s == local) {
			return true
		}
	}
	return false
}

// repeatedUnit returns u when s is u repeated at least twice, else "": s
// is its prefix of length n repeated exactly when n divides its length and
// s shifted by n equals s, one comparison per divisor.
func repeatedUnit(s string) string {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && s[n:] == s[:len(s)-n] {
			return s[:n]
		}
	}
	return ""
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// adjacent holds every pair of neighbours, either way round, in the orders
// a "next character" step follows: the alphabet, the digits (9 then 0, as
// on a keyboard) and the letter rows of a keyboard. Built once; read only.
var adjacent = sync.OnceValue(func() map[[2]rune]bool {
	pairs := map[[2]rune]bool{}
	for _, seq := range []string{"abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"} {
		rs := []rune(seq)
		for i := 1; i < len(rs); i++ {
			pairs[[2]rune{rs[i-1], rs[i]}] = true
			pairs[[2]rune{rs[i], rs[i-1]}] = true
		}
	}
	return pairs
})

// sequential reports whether at least three quarters of s's steps repeat
// the previous character or move to a neighbour (adjacent).
func sequential(s string) bool {
	rs := []rune(s)
	if len(rs) < 2 {
		return false
	}
	pairs, predictable := adjacent(), 0
	for i := 1; i < len(rs); i++ {
		if rs[i] == rs[i-1] || pairs[[2]rune{rs[i-1], rs[i]}] {
			predictable++
		}
	}
	return predictable*4 >= (len(rs)-1)*3
}

// unleet undoes the common letter swaps, in two readings of 1 (i and l).
var unleet = []*strings.Replacer{
	strings.NewReplacer("0", "o", "1", "i", "!", "i", "3", "e", "4", "a", "@", "a", "$", "s", "5", "s", "7", "t", "8", "b", "9", "g"),
	strings.NewReplacer("0", "o", "1", "l", "!", "i", "3", "e", "4", "a", "@", "a", "$", "s", "5", "s", "7", "t", "8", "b", "9", "g"),
}

// isCommon reports whether the password, or a simple variation of it, is
// in the common list.
func isCommon(lower, core string) bool {
	set := commonSet()
	candidates := []string{lower, core}
	for _, r := range unleet {
		candidates = append(candidates, r.Replace(lower), r.Replace(core))
	}
	for _, c := range candidates {
		if set[c] {
			return true
		}
		if u := repeatedUnit(c); u != "" && set[u] {
			return true
		}
	}
	return false
}
