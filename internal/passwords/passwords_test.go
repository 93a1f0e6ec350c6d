package passwords

import (
	"strings"
	"testing"
)

var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashIsAPHCStringThatChecks(t *testing.T) {
	h := Hash("correct horse battery", cheap)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if ok, err := Check("correct horse battery", h); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := Check("correct horse batterY", h); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	if Hash("correct horse battery", cheap) == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestDefaultParametersAreUsedForZeroFields(t *testing.T) {
	h := Hash("x", Params{})
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q", h)
	}
}

func TestMalformedHashesAreRefused(t *testing.T) {
	good := Hash("pw", cheap)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":           "",
		"bcrypt":          "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":         strings.Replace(good, "argon2id", "argon2i", 1),
		"another version": strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":     strings.Replace(good, "m=64", "m=99999999", 1),
		"zero passes":     strings.Replace(good, "t=1", "t=0", 1),
		"salt not base64": "$" + strings.Join([]string{parts[1], parts[2], parts[3], "!!!", parts[5]}, "$"),
		"missing key":     "$" + strings.Join(parts[1:5], "$"),
	} {
		t.Run(name, func(t *testing.T) {
			if ok, err := Check("pw", h); ok || err != ErrMalformed {
				t.Fatalf("Check = %v, %v", ok, err)
			}
		})
	}
}
