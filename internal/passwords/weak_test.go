package passwords_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/passwords"
)

func TestWeaknessNamesTheRuleAWeakPasswordBreaks(t *testing.T) {
	const email = "Ops.Lead@acme.example"
	for _, c := range []struct{ password, want string }{
		{"aaaaaaaaaaaa", passwords.WeakRepeated},
		{"abcabcabcabc", passwords.WeakRepeated},
		{"passwordpassword", passwords.WeakRepeated},
		{"aaaaaaaaaaab", passwords.WeakDistinct},
		{"123456789012", passwords.WeakSequence},
		{"abcdefghijkl", passwords.WeakSequence},
		{"ZYXWVUTSRQPO", passwords.WeakSequence},
		{"qwertyuiop12", passwords.WeakSequence},
		{"abcdefgh1234", passwords.WeakSequence},
		{"password1234", passwords.WeakCommon},
		{"Password2024!", passwords.WeakCommon},
		{"P@ssw0rd2024", passwords.WeakCommon},
		{"!!iloveyou!!", passwords.WeakCommon},
		{"trustno1trustno1", passwords.WeakRepeated},
		{"1qaz2wsx3edc", passwords.WeakCommon},
		{"Welc0me12345", passwords.WeakCommon},
		{"adminadmin2024", passwords.WeakCommon},
		{"ops.lead@acme.example", passwords.WeakEmail},
		{"OPS.LEAD@ACME.EXAMPLE", passwords.WeakEmail},
		{"ops.lead2024!", passwords.WeakEmail},
	} {
		if got := passwords.Weakness(c.password, email); got != c.want {
			t.Errorf("Weakness(%q) = %q, want %q", c.password, got, c.want)
		}
	}
	for _, strong := range []string{
		"correct horse battery staple", "a brand new password", "Tr0ub4dor&3 xylophone",
		"vKq8-Lm2p-Zr7w", "ops lead at the acme example", "ünïcödé pässwörd ✓",
	} {
		if got := passwords.Weakness(strong, email); got != "" {
			t.Errorf("Weakness(%q) = %q, want none", strong, got)
		}
	}
}

// The longest password callers accept (1024 bytes) bounds Weakness's work.
func BenchmarkWeaknessOfTheLongestPassword(b *testing.B) {
	pw := strings.Repeat("vKq8-Lm2p-Zr7w", 74)[:1023] + "!"
	for b.Loop() {
		if passwords.Weakness(pw, "ops@acme.example") != "" {
			b.Fatal("refused")
		}
	}
}
