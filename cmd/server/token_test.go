package main

import (
	"encoding/base64"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// Every operator token `sessiond keygen` (and `serve --dev`) makes passes
// the operator token checks, with room to spare.
func TestKeygenTokensPassTheStrengthCheck(t *testing.T) {
	mk, _ := base64.StdEncoding.DecodeString(newMasterKey())
	for i := 0; i < 2000; i++ {
		tok := newOperatorToken()
		if err := (config.Config{OperatorToken: tok, MasterKey: mk}).Validate(); err != nil {
			t.Fatalf("keygen token %d refused: %v", i, err)
		}
		if bits := config.OperatorTokenBits(tok); bits < 1.5*config.MinOperatorTokenBits {
			t.Fatalf("keygen token %d is estimated at only %.0f bits", i, bits)
		}
	}
}
