// Command genlayout writes what is generated from the stored session layout
// (package layout): redisstore's codec_gen.go and lua/layout.lua, and the
// table in docs/architecture.md. go generate runs it in redisstore's folder.
package main

import (
	"log"
	"os"

	"github.com/sessiond/sessiond/internal/sessions/redisstore/layout"
)

// docPath is docs/architecture.md from redisstore's folder.
const docPath = "../../../docs/architecture.md"

func main() {
	code, err := layout.GoCodec()
	if err != nil {
		log.Fatal(err)
	}
	lua, err := layout.Lua()
	if err != nil {
		log.Fatal(err)
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		log.Fatal(err)
	}
	if doc, err = layout.UpdateDoc(doc); err != nil {
		log.Fatal(err)
	}
	for path, b := range map[string][]byte{"codec_gen.go": code, "lua/layout.lua": lua, docPath: doc} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
