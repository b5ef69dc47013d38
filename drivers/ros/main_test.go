package ros

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when goroutines outlive them: every Arm, Camera,
// StatusPublisher and StopListener (and sim/rosbridge's Server and Cameras, the tests'
// robot peer) owns its goroutines and must end them in Close (and goroslib's nodes theirs).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
