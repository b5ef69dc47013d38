package mujoco

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Renderer draws a Sim's fixed cameras offscreen with OSMesa (software OpenGL).
//
// It owns one goroutine locked to an OS thread, on which its GL context is current; RGB and
// Depth pass a preallocated request to it and wait, so they may be called from any goroutine
// (one at a time: calls are serialized). Rendering reads the Sim's data: do not step or
// modify the Sim while a call runs (see the package documentation). Steady-state frames
// allocate nothing.
type Renderer struct {
	sim           *Sim
	width, height int

	mu     sync.Mutex // serializes callers; guards req and closed
	closed bool
	req    renderReq
	reqs   chan *renderReq
	done   chan error // replies to reqs
	exited chan struct{}
}

type renderReq struct {
	camera int
	rgb    []byte
	depth  []float32
}

// NewRenderer makes a renderer of width x height pixels for s. Both must fit the model's
// offscreen buffer (<visual><global offwidth offheight>, 640x480 by default).
func NewRenderer(s *Sim, width, height int) (*Renderer, error) {
	if s.c == nil {
		return nil, ErrClosed
	}
	vis := &s.c.m.vis.global
	offw, offh := int(vis.offwidth), int(vis.offheight)
	if width <= 0 || height <= 0 || width > offw || height > offh {
		return nil, fmt.Errorf("mujoco: renderer size %dx%d: must be positive and fit the offscreen buffer "+
			"%dx%d of %s (set <visual><global offwidth offheight>)", width, height, offw, offh, s.path)
	}
	r := &Renderer{
		sim:    s,
		width:  width,
		height: height,
		reqs:   make(chan *renderReq),
		done:   make(chan error),
		exited: make(chan struct{}),
	}
	go r.loop()
	if err := <-r.done; err != nil {
		<-r.exited
		return nil, err
	}
	return r, nil
}

// loop owns the GL context for the Renderer's lifetime. It stays locked to its OS thread when
// it returns, so the runtime retires that thread along with whatever GL state it held.
func (r *Renderer) loop() {
	runtime.LockOSThread()
	defer close(r.exited)

	var errbuf [C.RD_ERRSZ]C.char
	c := C.rd_render_new(r.sim.c.m, C.int(r.width), C.int(r.height), &errbuf[0], C.RD_ERRSZ)
	if c == nil {
		r.done <- newError("new renderer", r.sim.path, C.GoString(&errbuf[0]))
		return
	}
	defer C.rd_render_free(c)
	r.done <- nil

	for req := range r.reqs {
		var rgb *C.uchar
		var depth *C.float
		if req.rgb != nil {
			rgb = (*C.uchar)(unsafe.Pointer(&req.rgb[0]))
		}
		if req.depth != nil {
			depth = (*C.float)(unsafe.Pointer(&req.depth[0]))
		}
		s := r.sim
		if s.c == nil {
			r.done <- ErrClosed
			continue
		}
		if C.rd_render(c, s.c.m, s.c.d, C.int(req.camera), rgb, depth) != 0 {
			r.done <- newError("render", s.path, C.GoString(C.rd_render_err(c)))
			continue
		}
		r.done <- nil
	}
}

// ClipPlanes are the distances (m) of the renderer's near and far clipping planes for s:
// the model's <visual><map znear zfar> times its extent. Depth images read far where nothing
// is in view, and nothing nearer than near is drawn.
func (s *Sim) ClipPlanes() (near, far float64) {
	m := s.c.m
	ext := float64(m.stat.extent)
	return float64(m.vis._map.znear) * ext, float64(m.vis._map.zfar) * ext
}

// Size is the image size in pixels.
func (r *Renderer) Size() (width, height int) { return r.width, r.height }

// RGB renders fixed camera `camera` (an ObjCamera id) into dst: width*height*3 bytes, rows top
// to bottom, RGB order.
func (r *Renderer) RGB(camera int, dst []byte) error {
	if len(dst) != r.width*r.height*3 {
		return fmt.Errorf("mujoco: RGB: len(dst) = %d, want %dx%dx3 = %d", len(dst), r.width, r.height,
			r.width*r.height*3)
	}
	return r.Render(camera, dst, nil)
}

// Depth renders fixed camera `camera` into dst: width*height distances in metres along the
// camera's viewing axis (not along the pixel's ray), rows top to bottom. Pixels showing
// nothing read as the far clipping distance (see [Sim.ClipPlanes]).
func (r *Renderer) Depth(camera int, dst []float32) error {
	if len(dst) != r.width*r.height {
		return fmt.Errorf("mujoco: Depth: len(dst) = %d, want %dx%d = %d", len(dst), r.width, r.height,
			r.width*r.height)
	}
	return r.Render(camera, nil, dst)
}

// Render draws fixed camera `camera` once and reads colour into rgb and depth into depth, as
// RGB and Depth do; either may be nil.
func (r *Renderer) Render(camera int, rgb []byte, depth []float32) error {
	if rgb != nil && len(rgb) != r.width*r.height*3 {
		return fmt.Errorf("mujoco: Render: len(rgb) = %d, want %d", len(rgb), r.width*r.height*3)
	}
	if depth != nil && len(depth) != r.width*r.height {
		return fmt.Errorf("mujoco: Render: len(depth) = %d, want %d", len(depth), r.width*r.height)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.sim.c == nil {
		return ErrClosed
	}
	if n := r.sim.Count(ObjCamera); camera < 0 || camera >= n {
		return fmt.Errorf("mujoco: render: camera id %d out of range [0, %d)", camera, n)
	}
	r.req = renderReq{camera: camera, rgb: rgb, depth: depth}
	r.reqs <- &r.req
	err := <-r.done
	r.req = renderReq{} // drop references to the caller's buffers
	return err
}

// Close frees the GL context and stops the renderer's goroutine. It is idempotent.
func (r *Renderer) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.reqs)
	<-r.exited
}
