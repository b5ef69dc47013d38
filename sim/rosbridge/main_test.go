package rosbridge

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when goroutines outlive them: every Server and
// Cameras owns its goroutines and must end them in Close (and goroslib's nodes theirs).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
