// Command genlayout writes what is generated from the stored session layout
// (package layout): redisstore's codec_gen.go and lua/layout.lua, and the
// table in docs/architecture.md. go generate runs it in redisstore's folder.
package main

import (
	"log"
	"os"

	"github.com/sessiond/sessiond/internal/sessions/redisstore/layout"
)

func main() {
	doc, err := os.ReadFile(layout.DocPath)
	if err != nil {
		log.Fatal(err)
	}
	files, err := layout.Files(doc)
	if err != nil {
		log.Fatal(err)
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
