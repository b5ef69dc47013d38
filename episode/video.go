package episode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ffmpeg is the binary the package runs, found on PATH (Debian's ffmpeg 5.1).
const ffmpeg = "ffmpeg"

// encoder feeds one camera's RGB frames to an ffmpeg subprocess through a bounded
// queue, off the caller's goroutine. It owns the frame buffers once they are queued and
// hands them back through free.
type encoder struct {
	key        string
	w, h       int
	frameBytes int // RGB24 bytes of a frame (what AddFrame takes)
	yuvBytes   int // yuv420p bytes of a frame (what ffmpeg reads)
	stride     int // pixel step of the image-stats histograms (LeRobot's downsampling)
	path       string
	wait       bool // push blocks on a full queue (VideoSpec.Wait)

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr tailBuffer
	queue  chan encFrame
	free   chan []byte
	total  int  // frames the episode has; set before queue is closed
	ended  bool // queue closed by end

	dropped atomic.Int64
	done    chan struct{}
	err     error         // set before done closes
	hists   histograms    // per frame, per channel; read after done
	cpu     time.Duration // ffmpeg's user+system time; read after done
	onDone  func(cpu time.Duration)
}

type encFrame struct {
	index int
	buf   []byte
}

// x264Args are the encoder settings: H.264, yuv420p, no B-frames (so every frame's pts
// is its index / fps in each episode), short GOP for seeking, the spec's preset and tune
// (by default ultrafast and zerolatency: no lookahead, no mb-tree), one thread.
func x264Args(v VideoSpec) []string {
	args := []string{"-c:v", "libx264", "-preset", v.Preset, "-crf", strconv.Itoa(v.CRF),
		"-g", strconv.Itoa(v.GOP), "-bf", "0"}
	if v.Tune != "" && v.Tune != "none" {
		args = append(args, "-tune", v.Tune)
	}
	return append(args, "-pix_fmt", "yuv420p", "-threads", "1")
}

// timescaleArgs make the mp4 track and movie time scales the same multiple of fps
// (ffmpeg's default for the track, e.g. 15360 at 30 fps), so that the movie's duration
// (mvhd, which checkVideo compares with the episode's to_timestamp) is exact: in
// milliseconds 3.5333 s became 3.534 s, and when episodes were concatenated into one
// file every later one drifted 0.65 ms off its data timestamps (LeRobot's tolerance is
// 0.1 ms).
func timescaleArgs(fps int) []string {
	t := fps
	for t < 10000 {
		t *= 2
	}
	ts := strconv.Itoa(t)
	return []string{"-video_track_timescale", ts, "-movie_timescale", ts}
}

func startEncoder(c CameraSpec, fps int, v VideoSpec, path string) (*encoder, error) {
	e := &encoder{key: c.Key, w: c.Width, h: c.Height, frameBytes: c.Width * c.Height * 3, yuvBytes: c.Width * c.Height * 3 / 2,
		stride: downsampleStride(c.Width, c.Height), path: path, wait: v.Wait,
		queue: make(chan encFrame, v.QueueFrames), free: make(chan []byte, v.QueueFrames+2),
		done: make(chan struct{})}
	// The encoder goroutine converts each frame to yuv420p (with the histograms, in one
	// pass over the pixels): half the bytes through the pipe, and ffmpeg's swscale
	// rgb24 -> yuv420p (a third of its time at ultrafast) is skipped.
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", fmt.Sprintf("%dx%d", c.Width, c.Height), "-framerate", strconv.Itoa(fps), "-i", "pipe:0", "-an"}
	args = append(args, x264Args(v)...)
	args = append(args, timescaleArgs(fps)...)
	// The index at the front (faststart): a second pass over the episode's own file when
	// ffmpeg finishes, so that a reader streaming the file can seek at once.
	args = append(args, "-movflags", "+faststart", "-f", "mp4", path)
	e.cmd = exec.Command(ffmpeg, args...)
	e.cmd.Stderr = &e.stderr
	// The encoder dies with the recorder: a SIGKILLed recorder leaves no ffmpeg behind.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// Room for a few frames: fewer wake-ups of the writer and of ffmpeg (the default
	// pipe holds 64 KiB, less than one 224x224 frame). Best effort.
	setPipeSize(pw, 4*e.yuvBytes)
	e.cmd.Stdin, e.stdin = pr, pw
	err = e.cmd.Start()
	pr.Close()
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("episode: start %s (Debian package ffmpeg; scripts/setup.sh installs it): %w", ffmpeg, err)
	}
	go e.run()
	return e, nil
}

// push queues a copy of img. A full queue drops the frame, or with wait blocks until
// there is room (or the encoder has stopped).
func (e *encoder) push(index int, img []byte) bool {
	var buf []byte
	select {
	case buf = <-e.free:
	default:
		buf = make([]byte, e.frameBytes)
	}
	copy(buf, img)
	if e.wait {
		select {
		case e.queue <- encFrame{index, buf}:
			return true
		case <-e.done: // ffmpeg died: its error is reported by End
		}
	}
	select {
	case e.queue <- encFrame{index, buf}:
		return true
	default:
		e.dropped.Add(1)
		select {
		case e.free <- buf:
		default:
		}
		return false
	}
}

func (e *encoder) run() {
	defer close(e.done)
	// cur is the frame being written, last the one before (repeated for dropped frames).
	cur, last := make([]byte, e.yuvBytes), make([]byte, e.yuvBytes)
	haveLast := false
	var lastHist [3][256]uint32
	write := func(yuv []byte, hist *[3][256]uint32) {
		e.hists.add(hist)
		if e.err == nil {
			if _, err := e.stdin.Write(yuv); err != nil {
				e.err = fmt.Errorf("episode: ffmpeg for %s: %w", e.key, err)
			}
		}
	}
	for fr := range e.queue {
		var h [3][256]uint32
		if e.stride == 1 {
			rgbToYUV420(cur, fr.buf, e.w, e.h, &h)
		} else {
			rgbToYUV420(cur, fr.buf, e.w, e.h, nil)
			histogram(fr.buf, e.w, e.h, e.stride, &h)
		}
		select { // the RGB copy is no longer needed
		case e.free <- fr.buf:
		default:
		}
		for e.hists.n < fr.index { // frames dropped before this one: repeat the last
			if !haveLast {
				write(cur, &h)
			} else {
				write(last, &lastHist)
			}
		}
		write(cur, &h)
		cur, last, lastHist, haveLast = last, cur, h, true
	}
	for haveLast && e.hists.n < e.total { // dropped at the end
		write(last, &lastHist)
	}
	cerr := e.stdin.Close()
	werr := e.cmd.Wait()
	if ps := e.cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			e.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if e.onDone != nil {
		e.onDone(e.cpu)
	}
	if e.err == nil && cerr != nil {
		e.err = cerr
	}
	if e.err != nil || werr != nil {
		e.err = fmt.Errorf("episode: ffmpeg for %s: %v %v: %s", e.key, e.err, werr, strings.TrimSpace(e.stderr.String()))
	}
}

// finish waits for the encoder to write total frames and exit. Call end on every
// encoder of an episode first: they then finish together.
func (e *encoder) finish(ctx context.Context, total int) error {
	e.end(total)
	select {
	case <-e.done:
	case <-ctx.Done():
		e.kill()
		return ctx.Err()
	}
	if e.err != nil {
		return e.err
	}
	if e.hists.n != total {
		return fmt.Errorf("episode: ffmpeg for %s: wrote %d frames, want %d", e.key, e.hists.n, total)
	}
	return nil
}

// end closes the encoder's input after total frames (once; finish calls it too).
func (e *encoder) end(total int) {
	if e.ended {
		return
	}
	e.ended = true
	e.total = total
	close(e.queue)
}

// kill stops the encoder without finishing the file.
func (e *encoder) kill() {
	if e.cmd.Process != nil {
		e.cmd.Process.Kill()
	}
	func() {
		defer func() { recover() }() // queue may be closed already
		close(e.queue)
	}()
	<-e.done
}

// setPipeSize asks for a pipe buffer of n bytes (up to the system's pipe-max-size); the
// default is kept when refused.
func setPipeSize(f *os.File, n int) {
	if max, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if m, err := strconv.Atoi(strings.TrimSpace(string(max))); err == nil && n > m {
			n = m
		}
	}
	if n > 64<<10 {
		unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, n)
	}
}

// rgbToYUV420 converts an RGB24 frame (even width and height) to planar yuv420p in dst
// (w*h*3/2 bytes): BT.601 limited range, what ffmpeg's swscale makes of rgb24 by default
// (8-bit fixed point; luma within one level of it), chroma from the mean of each 2x2
// block. When hist is not nil it also adds every pixel to it (the stride 1 histogram),
// in the same pass.
func rgbToYUV420(dst, rgb []byte, w, h int, hist *[3][256]uint32) {
	n := w * h
	yp, up, vp := dst[:n], dst[n:n+n/4], dst[n+n/4:n+n/2]
	cw := w / 2
	for y := 0; y+1 < h; y += 2 {
		r0, r1 := rgb[y*w*3:(y+1)*w*3], rgb[(y+1)*w*3:(y+2)*w*3]
		y0, y1 := yp[y*w:(y+1)*w], yp[(y+1)*w:(y+2)*w]
		u, v := up[(y/2)*cw:(y/2+1)*cw], vp[(y/2)*cw:(y/2+1)*cw]
		for x := range u {
			a, b := r0[6*x:6*x+6:6*x+6], r1[6*x:6*x+6:6*x+6]
			ya, yb := y0[2*x:2*x+2:2*x+2], y1[2*x:2*x+2:2*x+2]
			ya[0] = byte((yR[a[0]] + yG[a[1]] + yB[a[2]]) >> 8)
			ya[1] = byte((yR[a[3]] + yG[a[4]] + yB[a[5]]) >> 8)
			yb[0] = byte((yR[b[0]] + yG[b[1]] + yB[b[2]]) >> 8)
			yb[1] = byte((yR[b[3]] + yG[b[4]] + yB[b[5]]) >> 8)
			sr := int32(a[0]) + int32(a[3]) + int32(b[0]) + int32(b[3])
			sg := int32(a[1]) + int32(a[4]) + int32(b[1]) + int32(b[4])
			sb := int32(a[2]) + int32(a[5]) + int32(b[2]) + int32(b[5])
			u[x] = byte((-38*sr-74*sg+112*sb+512)>>10 + 128)
			v[x] = byte((112*sr-94*sg-18*sb+512)>>10 + 128)
			if hist != nil {
				hist[0][a[0]]++
				hist[1][a[1]]++
				hist[2][a[2]]++
				hist[0][a[3]]++
				hist[1][a[4]]++
				hist[2][a[5]]++
				hist[0][b[0]]++
				hist[1][b[1]]++
				hist[2][b[2]]++
				hist[0][b[3]]++
				hist[1][b[4]]++
				hist[2][b[5]]++
			}
		}
	}
}

// yR, yG, yB are the terms of Y = (66 R + 129 G + 25 B + 128) / 256 + 16 (yR carries
// the rounding and the offset); tables are cheaper than the multiplies here.
var yR, yG, yB = func() (r, g, b [256]uint32) {
	for i := range 256 {
		r[i], g[i], b[i] = uint32(66*i+128+16<<8), uint32(129*i), uint32(25*i)
	}
	return
}()

// histogram adds one RGB24 frame's pixels, every stride-th row and column, to h.
func histogram(img []byte, w, hgt, stride int, h *[3][256]uint32) {
	if stride == 1 {
		for i := 0; i+2 < len(img); i += 3 {
			h[0][img[i]]++
			h[1][img[i+1]]++
			h[2][img[i+2]]++
		}
		return
	}
	for y := 0; y < hgt; y += stride {
		row := img[y*w*3:]
		for x := 0; x < w; x += stride {
			p := row[x*3:]
			h[0][p[0]]++
			h[1][p[1]]++
			h[2][p[2]]++
		}
	}
}

// histograms holds one RGB histogram per frame in blocks of histBlock frames: appending
// to one slice copied every histogram so far at each growth (3 KiB a frame), a sixth of
// the encoder goroutine's CPU in BenchmarkRecord.
type histograms struct {
	blocks [][][3][256]uint32
	n      int
}

const histBlock = 128

func (h *histograms) add(x *[3][256]uint32) {
	if h.n%histBlock == 0 {
		h.blocks = append(h.blocks, make([][3][256]uint32, 0, histBlock))
	}
	b := &h.blocks[len(h.blocks)-1]
	*b = append(*b, *x)
	h.n++
}

func (h *histograms) at(i int) *[3][256]uint32 { return &h.blocks[i/histBlock][i%histBlock] }

// episodeImageStats sums the histograms of the frames LeRobot samples.
func (e *encoder) episodeImageStats() *FeatureStats {
	idx := sampleIndices(e.hists.n)
	sum := make([][256]uint64, 3)
	for _, i := range idx {
		for c := 0; c < 3; c++ {
			for v, k := range e.hists.at(i)[c] {
				sum[c][v] += uint64(k)
			}
		}
	}
	return imageStats(sum, len(idx))
}

// checkVideo checks that an mp4 file is whole: its top-level boxes fill the file
// exactly, it has a movie header (moov/mvhd) and media data, and the movie lasts at
// least until end seconds (less 1 ms; not checked in a fragmented file). A file cut short
// (a copy or a disk that filled up) fails with the file's name and what is missing. It
// reads the box headers and the movie header only.
func checkVideo(path string, end float64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var hdr [16]byte
	var haveMdat, fragmented bool
	duration := -1.0
	for off := int64(0); off < st.Size(); {
		if _, err := f.ReadAt(hdr[:8], off); err != nil {
			return fmt.Errorf("%s: truncated: a box header at byte %d of %d", path, off, st.Size())
		}
		size, typ, head := int64(binary.BigEndian.Uint32(hdr[:4])), string(hdr[4:8]), int64(8)
		switch size {
		case 0: // to the end of the file
			size = st.Size() - off
		case 1:
			if _, err := f.ReadAt(hdr[8:16], off+8); err != nil {
				return fmt.Errorf("%s: truncated: box %q at byte %d", path, typ, off)
			}
			size, head = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if size < head || off+size > st.Size() {
			return fmt.Errorf("%s: truncated: box %q at byte %d needs %d bytes, the file ends at %d", path, typ, off, size, st.Size())
		}
		switch typ {
		case "mdat":
			haveMdat = true
		case "moof": // fragmented: the movie header does not hold the duration
			fragmented = true
		case "moov":
			if duration, err = movieDuration(f, off+head, off+size); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		off += size
	}
	switch {
	case duration < 0:
		return fmt.Errorf("%s: no movie header (moov): not a complete mp4 file", path)
	case !haveMdat:
		return fmt.Errorf("%s: no media data (mdat): not a complete mp4 file", path)
	case !fragmented && duration < end-1e-3:
		return fmt.Errorf("%s: the video lasts %.3f s, its episodes %.3f s: frames are missing", path, duration, end)
	}
	return nil
}

// movieDuration reads the mvhd box among a moov box's children in [from, to): the
// movie's duration in seconds.
func movieDuration(f *os.File, from, to int64) (float64, error) {
	var b [32]byte
	for off := from; off+8 <= to; {
		if _, err := f.ReadAt(b[:8], off); err != nil {
			return 0, err
		}
		size := int64(binary.BigEndian.Uint32(b[:4]))
		if size < 8 || off+size > to {
			return 0, fmt.Errorf("corrupt moov box at byte %d", off)
		}
		if string(b[4:8]) == "mvhd" {
			if _, err := f.ReadAt(b[:], off+8); err != nil {
				return 0, err
			}
			if b[0] == 1 { // version 1: 64-bit times
				return float64(binary.BigEndian.Uint64(b[24:32])) / float64(binary.BigEndian.Uint32(b[20:24])), nil
			}
			return float64(binary.BigEndian.Uint32(b[16:20])) / float64(binary.BigEndian.Uint32(b[12:16])), nil
		}
		off += size
	}
	return 0, errors.New("moov without a movie header (mvhd)")
}

// VideoFile is an mp4 file of RGB24 frames outside a dataset (the scene videos of
// robotd demo and eval), made by the encoder of a dataset's videos: the frames go to
// ffmpeg as yuv420p through a bounded queue, encoded by libx264 with v's settings
// (defaults as VideoSpec's; v.Wait is implied: Write waits for room instead of dropping
// a frame). The index is at the front of the file (faststart).
type VideoFile struct {
	enc    *encoder
	n      int
	closed bool
	err    error
}

// CreateVideo starts encoding a width x height video (both even) at fps into path.
func CreateVideo(path string, width, height, fps int, v VideoSpec) (*VideoFile, error) {
	if width <= 0 || height <= 0 || width%2 != 0 || height%2 != 0 || fps <= 0 {
		return nil, fmt.Errorf("episode: video %s: %dx%d at %d fps: want even, positive sizes and fps", path, width, height, fps)
	}
	v = v.withDefaults(fps)
	v.Wait = true
	e, err := startEncoder(CameraSpec{Key: path, Width: width, Height: height}, fps, v, path)
	if err != nil {
		return nil, err
	}
	return &VideoFile{enc: e}, nil
}

// Write queues a copy of one RGB24 frame (width*height*3 bytes); the caller keeps rgb.
func (v *VideoFile) Write(rgb []byte) error {
	if v.closed {
		return fmt.Errorf("episode: video %s: Write after Close", v.enc.path)
	}
	if len(rgb) != v.enc.frameBytes {
		return fmt.Errorf("episode: video %s: frame of %d bytes, want %dx%dx3 = %d", v.enc.path, len(rgb), v.enc.w, v.enc.h, v.enc.frameBytes)
	}
	if !v.enc.push(v.n, rgb) {
		return fmt.Errorf("episode: video %s: the encoder stopped after %d frames", v.enc.path, v.n)
	}
	v.n++
	return nil
}

// Frames is the number of frames written.
func (v *VideoFile) Frames() int { return v.n }

// Path is the file's path.
func (v *VideoFile) Path() string { return v.enc.path }

// Close waits for the encoder to finish the file; it is safe to call twice.
func (v *VideoFile) Close() error {
	if !v.closed {
		v.closed = true
		v.err = v.enc.finish(context.Background(), v.n)
	}
	return v.err
}

// VideoReader decodes the frames of one episode's video to RGB24 through ffmpeg.
type VideoReader struct {
	cmd     *exec.Cmd
	out     io.ReadCloser
	stderr  tailBuffer
	buf     []byte
	n, want int
	path    string
}

// openVideo starts decoding count frames of path from the frame at from seconds.
func openVideo(path string, from float64, fps, count, w, h int) (*VideoReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("episode: %w", err)
	}
	f.Close()
	start := max(0, from-0.5/float64(fps))
	r := &VideoReader{buf: make([]byte, w*h*3), want: count, path: path}
	r.cmd = exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-ss", strconv.FormatFloat(start, 'f', 6, 64), "-i", path, "-map", "0:v:0",
		"-frames:v", strconv.Itoa(count), "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "pipe:1")
	r.cmd.Stderr = &r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if r.out, err = r.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("episode: start %s: %w", ffmpeg, err)
	}
	return r, nil
}

// Next returns the next frame (Height*Width*3 bytes, valid until the next call), or
// io.EOF after the episode's last frame.
func (r *VideoReader) Next() ([]byte, error) {
	if r.n == r.want {
		return nil, io.EOF
	}
	if _, err := io.ReadFull(r.out, r.buf); err != nil {
		werr := r.cmd.Wait()
		return nil, fmt.Errorf("episode: %s: decoded %d of %d frames: %v %v: %s", r.path, r.n, r.want, err, werr, strings.TrimSpace(r.stderr.String()))
	}
	r.n++
	return r.buf, nil
}

// Close stops the decoder.
func (r *VideoReader) Close() error {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it (an ffmpeg's stderr).
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.b.Len() > 4096 {
		t.b.Next(t.b.Len() - 4096)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if errors.Is(err, syscall.EINVAL) {
		return nil
	}
	return err
}
