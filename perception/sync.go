package perception

import (
	"errors"
	"fmt"
	"time"
)

// ErrSkew is matched (errors.Is) by every *SkewError.
var ErrSkew = errors.New("camera frames too far apart")

// SkewError refuses an observation whose frames were captured too far from its time.
type SkewError struct {
	Camera string        // the camera whose frame is farthest from the observation time
	At     time.Duration // the observation time
	Frame  time.Duration // that camera's frame's capture time
	Max    time.Duration // the allowed skew
}

func (e *SkewError) Error() string {
	return fmt.Sprintf("perception: observation at %v: camera %s: closest frame captured at %v, %v away (max skew %v)",
		e.At, e.Camera, e.Frame, absDur(e.Frame-e.At), e.Max)
}

// Is makes errors.Is(err, ErrSkew) true.
func (e *SkewError) Is(target error) bool { return target == ErrSkew }

// Assemble gathers one observation's images: into dst[i] the frame of cams[i] captured
// closest to t (see [Latest.Closest]). skew is the largest |frame.Time - t| over the cameras.
// It refuses with the camera's *StaleError (wrapped; errors.Is ErrStale) when any camera is
// stale at t, and with a *SkewError naming the farthest camera when skew exceeds maxSkew; dst
// is then partly written and must not be used. len(dst) must equal len(cams). It allocates
// nothing once each dst[i] has held a frame of its camera's size (errors aside).
func Assemble(t time.Duration, cams []*Latest, maxSkew time.Duration, dst []Frame) (skew time.Duration, err error) {
	if len(dst) != len(cams) {
		panic(fmt.Sprintf("perception: Assemble: %d destination frames for %d cameras", len(dst), len(cams)))
	}
	if maxSkew < 0 {
		return 0, fmt.Errorf("perception: Assemble: negative max skew %v", maxSkew)
	}
	worst := -1
	for i, c := range cams {
		if err := c.Closest(t, &dst[i]); err != nil {
			return 0, fmt.Errorf("perception: observation at %v: %w", t, err)
		}
		if d := absDur(dst[i].Time - t); worst < 0 || d > skew {
			skew, worst = d, i
		}
	}
	if skew > maxSkew {
		return skew, &SkewError{Camera: cams[worst].Name(), At: t, Frame: dst[worst].Time, Max: maxSkew}
	}
	return skew, nil
}
