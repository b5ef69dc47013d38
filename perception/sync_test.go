package perception

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAssemble(t *testing.T) {
	// front at 30 fps starting at 0, wrist at 60 fps starting at 5 ms.
	front, wrist := newHarness(t, Freshness{}), newNamedHarness(t, "wrist", Freshness{})
	for i := range 10 {
		at := time.Duration(i) * 33 * ms
		front.push(at, rgb(uint64(i+1), at, byte(i)))
	}
	for i := range 20 {
		at := 5*ms + time.Duration(i)*16*ms
		wrist.push(at, rgb(uint64(i+1), at, byte(i)))
	}
	// Frames kept (Keep 4): front 198, 231, 264, 297 ms; wrist 261, 277, 293, 309 ms.
	cams := []*Latest{front.l, wrist.l}
	dst := make([]Frame, 2)
	for _, tc := range []struct {
		t                 time.Duration
		wantFront, wantWr time.Duration
		skew              time.Duration
	}{
		{300 * ms, 297 * ms, 293 * ms, 7 * ms},
		{305 * ms, 297 * ms, 309 * ms, 8 * ms},
		{270 * ms, 264 * ms, 277 * ms, 7 * ms},
		{262 * ms, 264 * ms, 261 * ms, 2 * ms},
	} {
		skew, err := Assemble(tc.t, cams, 10*ms, dst)
		if err != nil || skew != tc.skew || dst[0].Time != tc.wantFront || dst[1].Time != tc.wantWr ||
			dst[0].Camera != "front" || dst[1].Camera != "wrist" {
			t.Errorf("Assemble(%v) = skew %v, frames at %v (%s) and %v (%s), %v; want %v, %v, skew %v",
				tc.t, skew, dst[0].Time, dst[0].Camera, dst[1].Time, dst[1].Camera, err,
				tc.wantFront, tc.wantWr, tc.skew)
		}
	}

	// Too much skew: refused, naming the farthest camera (wrist's 293 ms frame is 7 ms off,
	// front's 297 ms frame 3 ms).
	skew, err := Assemble(300*ms, cams, 5*ms, dst)
	var se *SkewError
	if !errors.As(err, &se) || !errors.Is(err, ErrSkew) || !strings.Contains(err.Error(), "camera wrist") {
		t.Errorf("Assemble with max skew 5 ms = %v, %v; want a skew error naming wrist", skew, err)
	}
	if skew != 7*ms || se == nil || se.Camera != "wrist" || se.Frame != 293*ms || se.At != 300*ms || se.Max != 5*ms {
		t.Errorf("skew %v, %+v", skew, se)
	}
	t.Log(err)

	// The wrist camera stops; at 420 ms its newest frame (309 ms) is too old: refused, naming it.
	front.push(330*ms, rgb(11, 330*ms, 1))
	front.push(363*ms, rgb(12, 363*ms, 2))
	front.push(396*ms, rgb(13, 396*ms, 3))
	_, err = Assemble(420*ms, cams, time.Second, dst)
	var stale *StaleError
	if !errors.Is(err, ErrStale) || !errors.As(err, &stale) || stale.Camera != "wrist" || stale.Reason != TooOld ||
		!strings.Contains(err.Error(), "camera wrist") {
		t.Errorf("Assemble with wrist stale = %v", err)
	}
	t.Log(err)

	if _, err := Assemble(0, cams, -1, dst); err == nil {
		t.Error("negative max skew accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("Assemble with 1 destination for 2 cameras did not panic")
		}
	}()
	Assemble(0, cams, 0, dst[:1])
}
