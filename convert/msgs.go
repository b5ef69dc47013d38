package convert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // CompressedImage formats
	_ "image/png"
	"math"
	"strings"
)

// vector is a decoded numeric message: values with their names (nil names: unnamed, in
// order).
type vector struct {
	names  []string
	values []float64
}

// poseNames name the values of a pose message (position, then the quaternion x y z w).
var poseNames = []string{"x", "y", "z", "qx", "qy", "qz", "qw"}

// rosReader reads ROS1 serialization (little-endian, length-prefixed strings and arrays).
type rosReader struct {
	b   []byte
	err error
}

func (r *rosReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errors.New("message shorter than its type says")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *rosReader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *rosReader) u8() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *rosReader) f64() float64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (r *rosReader) str() string { return string(r.take(int(r.u32()))) }

func (r *rosReader) bytes() []byte { return r.take(int(r.u32())) }

func (r *rosReader) f64s() []float64 {
	n := int(r.u32())
	if n > len(r.b)/8 {
		r.err = errors.New("array longer than the message")
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.f64()
	}
	return v
}

func (r *rosReader) header() {
	r.u32()     // seq
	r.take(8)   // stamp
	_ = r.str() // frame_id
}

// field selects a JointState array: position (default), velocity or effort.
func jointField(pos, vel, eff []float64, field string) ([]float64, error) {
	switch field {
	case "", "position":
		return pos, nil
	case "velocity":
		return vel, nil
	case "effort":
		return eff, nil
	}
	return nil, fmt.Errorf("field %q: want position, velocity or effort", field)
}

// decodeROSVector decodes a numeric ROS message: sensor_msgs/JointState (field),
// std_msgs/Float64MultiArray (data), geometry_msgs/PoseStamped (poseNames).
func decodeROSVector(typ string, data []byte, field string) (vector, error) {
	r := &rosReader{b: data}
	var v vector
	switch typ {
	case "sensor_msgs/JointState":
		r.header()
		n := int(r.u32())
		if n > len(data) {
			return v, errors.New("joint name count past the message")
		}
		names := make([]string, n)
		for i := range names {
			names[i] = r.str()
		}
		pos, vel, eff := r.f64s(), r.f64s(), r.f64s()
		vals, err := jointField(pos, vel, eff, field)
		if err != nil {
			return v, err
		}
		if r.err == nil && len(vals) != len(names) {
			return v, fmt.Errorf("JointState has %d names and %d %s values", len(names), len(vals), orPosition(field))
		}
		v = vector{names: names, values: vals}
	case "std_msgs/Float64MultiArray":
		dims := int(r.u32())
		for range dims {
			_ = r.str()
			r.u32()
			r.u32()
		}
		r.u32() // data_offset
		v.values = r.f64s()
	case "geometry_msgs/PoseStamped":
		r.header()
		v.names = poseNames
		v.values = make([]float64, 7)
		for i := range v.values {
			v.values[i] = r.f64()
		}
	default:
		return v, fmt.Errorf("message type %s is not a vector robotd converts (sensor_msgs/JointState, std_msgs/Float64MultiArray, geometry_msgs/PoseStamped)", typ)
	}
	return v, r.err
}

func orPosition(field string) string {
	if field == "" {
		return "position"
	}
	return field
}

// decodeROSImage decodes sensor_msgs/Image (rgb8, bgr8, mono8, rgba8, bgra8) or
// sensor_msgs/CompressedImage (JPEG, PNG) into an RGB24 frame.
func decodeROSImage(typ string, data []byte) (rgb []byte, w, h int, err error) {
	r := &rosReader{b: data}
	r.header()
	switch typ {
	case "sensor_msgs/Image":
		h, w = int(r.u32()), int(r.u32())
		enc := r.str()
		r.u8() // is_bigendian
		step := int(r.u32())
		px := r.bytes()
		if r.err != nil {
			return nil, 0, 0, r.err
		}
		return rawToRGB(px, w, h, step, enc)
	case "sensor_msgs/CompressedImage":
		_ = r.str() // format
		px := r.bytes()
		if r.err != nil {
			return nil, 0, 0, r.err
		}
		return decodeCompressed(px)
	}
	return nil, 0, 0, fmt.Errorf("message type %s is not an image (sensor_msgs/Image, sensor_msgs/CompressedImage)", typ)
}

// rawToRGB converts a raw image row by row (step bytes per row) to RGB24.
func rawToRGB(px []byte, w, h, step int, enc string) ([]byte, int, int, error) {
	bpp := map[string]int{"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}[enc]
	if bpp == 0 {
		return nil, 0, 0, fmt.Errorf("image encoding %q (want rgb8, bgr8, mono8, rgba8 or bgra8)", enc)
	}
	if w <= 0 || h <= 0 || step < w*bpp || len(px) < (h-1)*step+w*bpp {
		return nil, 0, 0, fmt.Errorf("%dx%d %s image with step %d has %d bytes", w, h, enc, step, len(px))
	}
	out := make([]byte, w*h*3)
	for y := range h {
		row := px[y*step:]
		for x := range w {
			o, p := (y*w+x)*3, row[x*bpp:]
			switch enc {
			case "rgb8", "rgba8":
				out[o], out[o+1], out[o+2] = p[0], p[1], p[2]
			case "bgr8", "bgra8":
				out[o], out[o+1], out[o+2] = p[2], p[1], p[0]
			case "mono8":
				out[o], out[o+1], out[o+2] = p[0], p[0], p[0]
			}
		}
	}
	return out, w, h, nil
}

// decodeCompressed decodes a JPEG or PNG into RGB24.
func decodeCompressed(data []byte) ([]byte, int, int, error) {
	im, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("compressed image: %w", err)
	}
	b := im.Bounds()
	rgba, ok := im.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(b)
		draw.Draw(rgba, b, im, b.Min, draw.Src)
	}
	w, h := b.Dx(), b.Dy()
	out := make([]byte, w*h*3)
	for i, j := 0, 0; i < len(out); i, j = i+3, j+4 {
		out[i], out[i+1], out[i+2] = rgba.Pix[j], rgba.Pix[j+1], rgba.Pix[j+2]
	}
	return out, w, h, nil
}

// decodeJSONVector decodes a robotd MCAP message (viz's JSON channels) by schema:
// robotd.JointState and robotd.JointCommand (field, by joint name), foxglove.PoseInFrame
// (poseNames).
func decodeJSONVector(schema string, data []byte, field string) (vector, error) {
	switch schema {
	case "robotd.JointState", "robotd.JointCommand":
		var m struct {
			Name                       []string
			Position, Velocity, Effort []*float64
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return vector{}, err
		}
		if schema == "robotd.JointCommand" && field == "" {
			field = "effort"
		}
		vals, err := jointField(nums(m.Position), nums(m.Velocity), nums(m.Effort), field)
		if err != nil {
			return vector{}, err
		}
		if len(vals) != len(m.Name) {
			return vector{}, fmt.Errorf("%s has %d names and %d %s values", schema, len(m.Name), len(vals), orPosition(field))
		}
		return vector{names: m.Name, values: vals}, nil
	case "foxglove.PoseInFrame":
		var m struct {
			Pose struct {
				Position    struct{ X, Y, Z float64 }
				Orientation struct{ X, Y, Z, W float64 }
			}
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return vector{}, err
		}
		p, q := m.Pose.Position, m.Pose.Orientation
		return vector{names: poseNames, values: []float64{p.X, p.Y, p.Z, q.X, q.Y, q.Z, q.W}}, nil
	}
	return vector{}, fmt.Errorf("schema %s is not a vector robotd converts (robotd.JointState, robotd.JointCommand, foxglove.PoseInFrame)", schema)
}

// nums turns JSON numbers (null: NaN) into floats.
func nums(v []*float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.NaN()
		if x != nil {
			out[i] = *x
		}
	}
	return out
}

// decodeJSONImage decodes a foxglove.CompressedImage JSON message (base64 data).
func decodeJSONImage(schema string, data []byte) ([]byte, int, int, error) {
	if schema != "foxglove.CompressedImage" {
		return nil, 0, 0, fmt.Errorf("schema %s is not an image (foxglove.CompressedImage)", schema)
	}
	var m struct {
		Format string
		Data   []byte // base64 in JSON
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, 0, 0, err
	}
	if f := strings.ToLower(m.Format); f != "jpeg" && f != "jpg" && f != "png" {
		return nil, 0, 0, fmt.Errorf("image format %q (want jpeg or png)", m.Format)
	}
	return decodeCompressed(m.Data)
}
