package main

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// buildLine finds the `go build` command of a file, without its output path.
var buildLine = regexp.MustCompile(`(?m)^(?:RUN )?(CGO_ENABLED=\S+ .*go build .*) -o \S+ (\./cmd/server)$`)

// TestDockerfileAndBuildScriptBuildAlike keeps the test's build honest: the
// Dockerfile and scripts/build-static.sh must run the same go build.
func TestDockerfileAndBuildScriptBuildAlike(t *testing.T) {
	var got []string
	for _, f := range []string{"../../Dockerfile", "../../scripts/build-static.sh"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := buildLine.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s has no go build line", f)
		}
		got = append(got, string(m[1])+" "+string(m[2]))
	}
	if got[0] != got[1] {
		t.Fatalf("the Dockerfile builds with\n  %s\nbut the test builds with\n  %s", got[0], got[1])
	}
}

func execCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return exec.CommandContext(ctx, name, args...)
}

// assertStatic fails unless bin is an ELF executable with no interpreter
// and no dynamic libraries, as the distroless/static image requires.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatalf("%s has an ELF interpreter: not static", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("%s links %v: not static", bin, libs)
	}
}
