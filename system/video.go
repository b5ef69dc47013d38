package system

import (
	"fmt"
	"image"
	"image/png"
	"os"

	"github.com/robotd/robotd/episode"
	"github.com/robotd/robotd/sim/mujoco"
)

// SceneVideo renders a camera of the embedded simulator at a fixed frame rate of
// simulated time into an mp4, for a person to watch: the demo's scene.mp4 and eval's
// episode videos. It encodes with episode.VideoFile (the dataset videos' encoder) at
// libx264's medium preset, CRF 23, a keyframe every 250 frames, 480x360 pixels.
// It satisfies eval.Video. Frame must be called from the goroutine that steps the
// simulator (lockstep: rendering reads the simulator's state).
type SceneVideo struct {
	r      *mujoco.Renderer
	cam    int
	w, h   int
	buf    []byte // the last rendered frame, RGB
	video  *episode.VideoFile
	path   string
	period float64 // seconds of simulated time between frames
	next   float64 // simulated time of the next frame (s)
	frames int
	closed bool
}

// NewSceneVideo starts a video of the named camera of s at path, fps frames per second
// of simulated time. It needs ffmpeg (episode.CreateVideo).
func NewSceneVideo(s *mujoco.Sim, camera, path string, fps int) (*SceneVideo, error) {
	cam, err := s.ID(mujoco.ObjCamera, camera)
	if err != nil {
		return nil, err
	}
	const w, h = 480, 360
	r, err := mujoco.NewRenderer(s, w, h)
	if err != nil {
		return nil, err
	}
	video, err := episode.CreateVideo(path, w, h, fps, episode.VideoSpec{Preset: "medium", CRF: 23, GOP: 250, Tune: "none"})
	if err != nil {
		r.Close()
		return nil, err
	}
	return &SceneVideo{r: r, cam: cam, w: w, h: h, buf: make([]byte, w*h*3), video: video, path: path, period: 1 / float64(fps)}, nil
}

// Path is the mp4's path, as given to NewSceneVideo.
func (v *SceneVideo) Path() string { return v.path }

// Frames is how many frames were written so far.
func (v *SceneVideo) Frames() int { return v.frames }

// Frame renders and writes a frame when simulated time t (s) has reached the next
// frame; the first frame is at t = 0.
func (v *SceneVideo) Frame(t float64) error {
	if t+1e-9 < v.next {
		return nil
	}
	v.next += v.period
	if err := v.r.RGB(v.cam, v.buf); err != nil {
		return err
	}
	if err := v.video.Write(v.buf); err != nil {
		return fmt.Errorf("video: %w", err)
	}
	v.frames++
	return nil
}

// Close finishes the video and releases the renderer; it is safe to call twice.
func (v *SceneVideo) Close() error {
	if v.closed {
		return nil
	}
	v.closed = true
	err := v.video.Close()
	v.r.Close()
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	return nil
}

// SavePNG writes the last rendered frame to path (black before the first frame).
func (v *SceneVideo) SavePNG(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, v.w, v.h))
	for i := 0; i < v.w*v.h; i++ {
		copy(img.Pix[4*i:4*i+3], v.buf[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
