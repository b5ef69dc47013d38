package mujoco

import (
	"testing"
	"time"
)

func TestScratchInterleave(t *testing.T) {
	s := loadScene(t)
	var tGo, tC time.Duration
	for round := 0; round < 20; round++ {
		s.Reset()
		t0 := time.Now()
		for i := 0; i < 1000; i++ {
			s.Step()
		}
		tGo += time.Since(t0)
		s.Reset()
		t0 = time.Now()
		s.stepN(1000)
		tC += time.Since(t0)
	}
	t.Logf("per-call Go: %.0f steps/s, C loop: %.0f steps/s, ratio %.3f", 20000/tGo.Seconds(), 20000/tC.Seconds(), tC.Seconds()/tGo.Seconds())
}
