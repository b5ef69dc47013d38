package mujoco

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/robotd/robotd/perception"
)

// CameraConfig names a camera of the model and the frames it delivers.
type CameraConfig struct {
	// Camera is the name of the MJCF <camera> to render.
	Camera string
	// Name is the camera's name in robotd (Frame.Camera, observation keys). Default: Camera for
	// RGB8, Camera+"_depth" for Depth32F, so that the colour and depth streams of one MJCF
	// camera have different names.
	Name string
	// Format is perception.RGB8 (the default) or perception.Depth32F: metres along the
	// camera's viewing axis; pixels that show nothing read as the far clipping distance
	// ([Sim.ClipPlanes]).
	Format perception.Format
	// Noise adds Gaussian noise of this standard deviation (8-bit levels) to every colour
	// value of RGB8 frames, clamped to 0..255: a sensor-noise model for robustness tests.
	// The noise sequence is seeded by NoiseSeed, so runs repeat. Default 0 (none).
	Noise     float64
	NoiseSeed uint64
}

// Camera is a perception.Camera over one fixed camera of a Sim, drawn by a Renderer.
//
// It runs in lockstep with the simulation: Read renders the Sim's current state at once (it
// never waits for a frame period: pacing is the caller's) and stamps the frame with the
// simulation clock (Time, the same clock as Arm.Now), the wall clock (Wall) and a sequence
// number from 1. Rows are top-down, as in every perception.Frame. The Renderer's rule holds:
// nothing may step or modify the Sim while Read runs, so in a closed loop render between
// ticks (one goroutine, or a hand-over that stops the stepping while a frame is drawn).
//
// Rendering happens on the Renderer's own locked OS thread; a Renderer may serve several
// Cameras of its Sim (calls are serialized). Read allocates nothing once dst.Data is large
// enough. Like every perception.Camera, a Camera is read by one goroutine at a time.
type Camera struct {
	r      *Renderer
	id     int
	name   string
	format perception.Format
	seq    uint64
	depth  []float32 // Depth32F: the Renderer's output before encoding into Frame.Data
	noise  float64
	seed   uint64    // NoiseSeed
	pcg    *rand.PCG // rng's source, reseeded by Reseed
	rng    *rand.Rand
	closed bool
}

// NewCamera makes a Camera rendering cfg.Camera of r's Sim at r's size. An unknown camera
// name gives an error listing the model's cameras.
func NewCamera(r *Renderer, cfg CameraConfig) (*Camera, error) {
	s := r.sim
	if s.c == nil {
		return nil, ErrClosed
	}
	if cfg.Format == "" {
		cfg.Format = perception.RGB8
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Camera
		if cfg.Format == perception.Depth32F {
			cfg.Name += "_depth"
		}
	}
	id, err := s.ID(ObjCamera, cfg.Camera)
	if err != nil {
		return nil, fmt.Errorf("mujoco: %s has no camera %q (%s)", s.path, cfg.Camera, s.cameraList())
	}
	c := &Camera{r: r, id: id, name: cfg.Name, format: cfg.Format}
	switch cfg.Format {
	case perception.RGB8:
		if cfg.Noise < 0 || math.IsNaN(cfg.Noise) {
			return nil, fmt.Errorf("mujoco: camera %s: noise %v: want >= 0", cfg.Name, cfg.Noise)
		}
		if cfg.Noise > 0 {
			c.noise, c.seed, c.pcg = cfg.Noise, cfg.NoiseSeed, rand.NewPCG(cfg.NoiseSeed, uint64(id))
			c.rng = rand.New(c.pcg)
		}
	case perception.Depth32F:
		c.depth = make([]float32, r.width*r.height)
	default:
		return nil, fmt.Errorf("mujoco: camera %s: format %q not supported: want %s or %s", cfg.Name, cfg.Format,
			perception.RGB8, perception.Depth32F)
	}
	return c, nil
}

// Reseed restarts the noise sequence from NoiseSeed and episode, so that an episode's
// frames do not depend on how many frames earlier episodes drew (evaluations compare
// seeds across runs). Without noise it does nothing. It allocates nothing.
func (c *Camera) Reseed(episode uint64) {
	if c.pcg != nil {
		c.pcg.Seed(c.seed^(episode*0x9e3779b97f4a7c15), uint64(c.id))
	}
}

// cameraList says which cameras the model has, for error messages.
func (s *Sim) cameraList() string {
	n := s.Count(ObjCamera)
	if n == 0 {
		return "the model has no cameras"
	}
	names := make([]string, n)
	for i := range names {
		if names[i] = s.Name(ObjCamera, i); names[i] == "" {
			names[i] = fmt.Sprintf("#%d (unnamed)", i)
		}
	}
	return "cameras: " + strings.Join(names, ", ")
}

// Name implements perception.Camera.
func (c *Camera) Name() string { return c.name }

// ID is the MuJoCo camera id (for Sim.CameraPose and Sim.CameraFovy).
func (c *Camera) ID() int { return c.id }

// Read implements perception.Camera: it renders the current state into dst.
func (c *Camera) Read(ctx context.Context, dst *perception.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.closed {
		return fmt.Errorf("mujoco: camera %s: %w", c.name, ErrClosed)
	}
	w, h := c.r.width, c.r.height
	n := w * h * c.format.BytesPerPixel()
	if cap(dst.Data) < n {
		dst.Data = make([]byte, n)
	}
	dst.Data = dst.Data[:n]
	var err error
	if c.format == perception.RGB8 {
		if err = c.r.RGB(c.id, dst.Data); err == nil && c.noise > 0 {
			addNoise(dst.Data, c.noise, c.rng)
		}
	} else if err = c.r.Depth(c.id, c.depth); err == nil {
		for i, v := range c.depth {
			binary.LittleEndian.PutUint32(dst.Data[4*i:], math.Float32bits(v))
		}
	}
	if err != nil {
		return fmt.Errorf("mujoco: camera %s: %w", c.name, err)
	}
	c.seq++
	dst.Camera = c.name
	dst.Seq = c.seq
	dst.Time = time.Duration(math.Round(c.r.sim.Time() * 1e9))
	dst.Wall = time.Now()
	dst.Format = c.format
	dst.Width, dst.Height = w, h
	return nil
}

// addNoise adds N(0, sigma) to every byte, rounded and clamped to 0..255.
func addNoise(b []byte, sigma float64, rng *rand.Rand) {
	for i, v := range b {
		x := math.Round(float64(v) + sigma*rng.NormFloat64())
		b[i] = byte(min(255, max(0, x)))
	}
}

// Close implements perception.Camera: later Reads fail. The Renderer is the caller's and stays
// open.
func (c *Camera) Close() error {
	c.closed = true
	return nil
}

var _ perception.Camera = (*Camera)(nil)
