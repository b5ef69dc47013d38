package task

import (
	"math"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/control"
)

func TestTargetNoise(t *testing.T) {
	down := control.Pose{Pos: mgl64.Vec3{0.5, -0.1, 0.2}, Rot: mgl64.QuatRotate(math.Pi, mgl64.Vec3{1, 0, 0})}
	n, err := NewTargetNoise(0.01, 0.1, 0, 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Driven (Approach): the per-axis offset's standard deviation is Sigma; z and the
	// tool's tilt are never touched.
	const dt = 10 * time.Millisecond
	var sx, sy, syaw float64
	const steps = 200000
	for i := 0; i < steps; i++ {
		out := n.Apply(time.Duration(i)*dt, Approach, down)
		off, yaw := n.Offset()
		sx += off[0] * off[0]
		sy += off[1] * off[1]
		syaw += yaw * yaw
		if out.Pos[2] != down.Pos[2] {
			t.Fatalf("z moved: %v", out.Pos)
		}
		if d := out.Pos.Sub(down.Pos); math.Abs(d[0]-off[0]) > 1e-12 || math.Abs(d[1]-off[1]) > 1e-12 {
			t.Fatalf("position offset %v, process at %v", d, off)
		}
		// Turning about the vertical keeps the tool pointing down.
		if z := out.Rot.Rotate(mgl64.Vec3{0, 0, 1}); math.Abs(z[2]+1) > 1e-9 {
			t.Fatalf("tool axis %v after the yaw offset", z)
		}
	}
	for name, got := range map[string]float64{"x": math.Sqrt(sx / steps), "y": math.Sqrt(sy / steps)} {
		if math.Abs(got-0.01) > 0.0015 {
			t.Errorf("%s offset std %.4f m, want 0.01", name, got)
		}
	}
	if got := math.Sqrt(syaw / steps); math.Abs(got-0.1) > 0.015 {
		t.Errorf("yaw offset std %.4f rad, want 0.1", got)
	}
	// Smooth: a 10 ms step moves the offset by about sigma*sqrt(2 dt/tau) = 2 mm at most
	// a few times that.
	prev, _ := n.Offset()
	for i := steps; i < steps+1000; i++ {
		n.Apply(time.Duration(i)*dt, Carry, down)
		off, _ := n.Offset()
		if off.Sub(prev).Len() > 0.01 {
			t.Fatalf("offset jumped %.4f m in one 10 ms step", off.Sub(prev).Len())
		}
		prev = off
	}
	// Not driven (Descend .. Open): decays to nothing with the 0.2 s time constant.
	for i := steps + 1000; i < steps+1200; i++ { // 2 s = 10 time constants
		n.Apply(time.Duration(i)*dt, Descend, down)
	}
	if off, yaw := n.Offset(); off.Len() > 1e-5 || math.Abs(yaw) > 1e-4 {
		t.Errorf("after 2 s of Descend the offset is still %v, %g rad", off, yaw)
	}
	// Reset zeroes it; the same seed gives the same stream.
	a, _ := NewTargetNoise(0.01, 0, 0, 0, 3)
	b, _ := NewTargetNoise(0.01, 0, 0, 0, 3)
	for i := 0; i < 50; i++ {
		pa := a.Apply(time.Duration(i)*dt, Approach, down)
		pb := b.Apply(time.Duration(i)*dt, Approach, down)
		if pa != pb {
			t.Fatalf("step %d: same seed, %v and %v", i, pa.Pos, pb.Pos)
		}
	}
	a.Reset()
	if off, yaw := a.Offset(); off != (mgl64.Vec2{}) || yaw != 0 {
		t.Errorf("after Reset: %v %g", off, yaw)
	}
}

func TestTargetNoiseRejectsBadParameters(t *testing.T) {
	for _, c := range []struct {
		sigma, yaw float64
		tau        time.Duration
	}{{-0.01, 0, 0}, {0.2, 0, 0}, {math.NaN(), 0, 0}, {0.01, 2, 0}, {0.01, 0, -time.Second}} {
		if _, err := NewTargetNoise(c.sigma, c.yaw, c.tau, 0, 1); err == nil {
			t.Errorf("NewTargetNoise(%g, %g, %v) accepted", c.sigma, c.yaw, c.tau)
		}
	}
}
