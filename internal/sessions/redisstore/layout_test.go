package redisstore_test

import (
	"os"
	"reflect"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sessions/redisstore/layout"
)

// What is generated from the layout table is what is committed: run
// `go generate ./internal/sessions/redisstore/` after changing the table.
func TestGeneratedLayoutIsCurrent(t *testing.T) {
	doc, err := os.ReadFile(layout.DocPath)
	if err != nil {
		t.Fatal(err)
	}
	files, err := layout.Files(doc)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run go generate ./internal/sessions/redisstore/", path)
		}
	}
}

// Every field of a sessions.Record is stored, once.
func TestLayoutStoresEveryRecordField(t *testing.T) {
	stored := map[string]int{}
	for _, f := range layout.Fields {
		stored[f.Record]++
	}
	rt := reflect.TypeFor[sessions.Record]()
	for i := range rt.NumField() {
		name := rt.Field(i).Name
		if stored[name] != 1 {
			t.Errorf("sessions.Record.%s is in the layout %d times, want 1", name, stored[name])
		}
		delete(stored, name)
	}
	for name := range stored {
		t.Errorf("the layout stores %s, which sessions.Record does not have", name)
	}
}
