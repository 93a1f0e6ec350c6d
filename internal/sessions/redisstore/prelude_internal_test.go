package redisstore

import (
	"maps"
	"slices"
	"testing"
)

// The names a piece of Lua uses are those outside its comments and
// strings: "--" in a string starts no comment, an escaped quote ends no
// string. (The
// scripts use no long strings or comments, [[...]].)
func TestLuaNamesSkipCommentsOnly(t *testing.T) {
	src := "local x = f('a--b', \"c\\\"--\", g) -- h(i)\n-- j\nk = y_2 .. 'it''s' -- l\n"
	got := slices.Sorted(maps.Keys(luaNames(src)))
	want := []string{"f", "g", "k", "local", "x", "y_2"}
	if !slices.Equal(got, want) {
		t.Fatalf("luaNames = %v, want %v", got, want)
	}
}

// Each script is sent with only the common definitions it uses: whatever
// its text and theirs name is defined in it, and nothing of commonLua is
// lost on the way (every definition is one of commonDefs).
func TestEveryScriptDefinesWhatItUses(t *testing.T) {
	var all string
	for _, d := range commonDefs {
		all += d.text
	}
	if all != commonLua {
		t.Fatal("commonDefs do not add up to commonLua")
	}
	for _, sc := range allScripts {
		body := mustRead(sc.name)
		src := prelude(body) + body
		used := luaNames(src)
		for _, d := range commonDefs {
			for _, name := range d.names {
				if used[name] && !slices.Contains(definedIn(prelude(body)), name) {
					t.Errorf("%s uses %s, which it does not define", sc.name, name)
				}
			}
		}
	}
}

// definedIn returns the names the definitions in src define.
func definedIn(src string) []string {
	var names []string
	for _, d := range luaDefinitions(src) {
		names = append(names, d.names...)
	}
	return names
}
