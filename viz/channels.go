// Package viz is robotd's live view and log: the channel set (topics, schemas, JSON
// encodings) that the MCAP log (viz/mcaplog), the Foxglove WebSocket server
// (viz/foxglove) and the operator page (viz/page) share, and the Hub that takes the
// daemon's ticks, transitions, chunks and steering records (it is a daemon.Observer) and
// the cameras' frames, encodes them off the control loop and fans them out to sinks.
//
// The control loop hands its records to bounded queues of preallocated buffers: a push
// never blocks or allocates, and a full queue drops the record and counts it
// (robotd_viz_dropped_total{queue}). Encoding, JPEG compression and every sink's I/O run
// on the Hub's own goroutines. docs/live.md lists the channels.
package viz

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/go-gl/mathgl/mgl64"
)

// Channel is one topic of the channel set: what the MCAP log and the live server
// announce. Every message is JSON (message encoding "json") described by a JSON Schema
// (schema encoding "jsonschema"); the foxglove.* schema names are Foxglove's well-known
// schemas, which its 3D, Image, Log and Plot panels render without configuration.
type Channel struct {
	// ID is the channel's number in the Hub (from 1), stable for a run.
	ID uint16
	// Topic is the channel's name ("/robotd/joint_states", "/camera/wrist").
	Topic string
	// Schema is the schema's name ("foxglove.PoseInFrame") and Definition its JSON Schema.
	Schema     string
	Definition string
	// Live says the channel is decimated to the live rate for live sinks (the per-tick
	// channels); the log gets every message.
	Live bool
}

// The message encoding and schema encoding of every channel.
const (
	MessageEncoding = "json"
	SchemaEncoding  = "jsonschema"
)

// The fixed topics (cameras add /camera/<name>).
const (
	TopicJointStates = "/robotd/joint_states"
	TopicTorque      = "/robotd/torque_command"
	TopicTool        = "/robotd/tool_pose"
	TopicTarget      = "/robotd/target_pose"
	TopicGripper     = "/robotd/gripper"
	TopicPlan        = "/robotd/plan"
	TopicSteering    = "/robotd/steering"
	TopicState       = "/robotd/state"
	TopicSafety      = "/robotd/safety"
	TopicWatchdog    = "/robotd/watchdog"
	TopicLog         = "/robotd/log"
)

// CameraTopic is the topic of camera name's JPEG frames.
func CameraTopic(name string) string { return "/camera/" + name }

const timeSchema = `{"type":"object","properties":{"sec":{"type":"integer","minimum":0},"nsec":{"type":"integer","minimum":0}}}`
const vec3Schema = `{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"},"z":{"type":"number"}}}`
const quatSchema = `{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"},"z":{"type":"number"},"w":{"type":"number"}}}`
const poseSchema = `{"type":"object","properties":{"position":` + vec3Schema + `,"orientation":` + quatSchema + `}}`

// Schemas: foxglove's well-known ones (the fields Foxglove defines) and robotd's own.
var (
	schemaPoseInFrame = `{"title":"foxglove.PoseInFrame","type":"object","properties":{"timestamp":` + timeSchema +
		`,"frame_id":{"type":"string"},"pose":` + poseSchema + `}}`
	schemaPosesInFrame = `{"title":"foxglove.PosesInFrame","type":"object","properties":{"timestamp":` + timeSchema +
		`,"frame_id":{"type":"string"},"poses":{"type":"array","items":` + poseSchema + `}}}`
	schemaCompressedImage = `{"title":"foxglove.CompressedImage","type":"object","properties":{"timestamp":` + timeSchema +
		`,"frame_id":{"type":"string"},"data":{"type":"string","contentEncoding":"base64"},"format":{"type":"string"}}}`
	schemaLog = `{"title":"foxglove.Log","type":"object","properties":{"timestamp":` + timeSchema +
		`,"level":{"type":"integer","description":"1 debug, 2 info, 3 warning, 4 error, 5 fatal"},"message":{"type":"string"},"name":{"type":"string"},"file":{"type":"string"},"line":{"type":"integer"}}}`
	numbers           = `{"type":"array","items":{"type":"number"}}`
	schemaJointStates = `{"title":"robotd.JointState","description":"Measured joint positions (rad), velocities (rad/s) and commanded torques (N m), as sensor_msgs/JointState.","type":"object","properties":{"timestamp":` + timeSchema +
		`,"name":{"type":"array","items":{"type":"string"}},"position":` + numbers + `,"velocity":` + numbers + `,"effort":` + numbers + `}}`
	schemaTorque = `{"title":"robotd.JointCommand","description":"Torques commanded this tick (N m), after the safety layer.","type":"object","properties":{"timestamp":` + timeSchema +
		`,"name":{"type":"array","items":{"type":"string"}},"effort":` + numbers + `}}`
	schemaGripper = `{"title":"robotd.Gripper","description":"Gripper opening measured and last commanded (m; null: none).","type":"object","properties":{"timestamp":` + timeSchema +
		`,"width":{"type":["number","null"]},"command":{"type":["number","null"]}}}`
	schemaSteering = `{"title":"robotd.Steering","description":"One steered policy step (docs/steering.md).","type":"object","properties":{"timestamp":` + timeSchema +
		`,"n":{"type":"integer"},"valid":{"type":"integer"},"chosen":{"type":"integer"},"spread":{"type":"number"},"infer_s":{"type":"number"},"total_s":{"type":"number"}}}`
	schemaState = `{"title":"robotd.StateTransition","description":"A change of the daemon's state machine.","type":"object","properties":{"timestamp":` + timeSchema +
		`,"from":{"type":"string"},"to":{"type":"string"},"why":{"type":"string"}}}`
	schemaSafety = `{"title":"robotd.SafetyCounters","description":"The safety layer's intervention counters so far (control.SafetyCounters), sent when one grows.","type":"object","properties":{"timestamp":` + timeSchema +
		`,"targets_rejected":{"type":"integer"},"targets_clamped":{"type":"integer"},"non_finite":{"type":"integer"},"position_wall":{"type":"integer"},"velocity_brake":{"type":"integer"},"torque_clamped":{"type":"integer"},"rate_limited":{"type":"integer"}}}`
	schemaWatchdog = `{"title":"robotd.Watchdogs","description":"Watchdog trips so far by kind, sent when one grows.","type":"object","properties":{"timestamp":` + timeSchema +
		`,"state_stale":{"type":"integer"},"camera_stale":{"type":"integer"},"chunk_starved":{"type":"integer"}}}`
)

// fixedChannels is the channel set before the cameras, in ID order from 1.
var fixedChannels = []Channel{
	{Topic: TopicJointStates, Schema: "robotd.JointState", Definition: schemaJointStates, Live: true},
	{Topic: TopicTorque, Schema: "robotd.JointCommand", Definition: schemaTorque, Live: true},
	{Topic: TopicTool, Schema: "foxglove.PoseInFrame", Definition: schemaPoseInFrame, Live: true},
	{Topic: TopicTarget, Schema: "foxglove.PoseInFrame", Definition: schemaPoseInFrame, Live: true},
	{Topic: TopicGripper, Schema: "robotd.Gripper", Definition: schemaGripper, Live: true},
	{Topic: TopicPlan, Schema: "foxglove.PosesInFrame", Definition: schemaPosesInFrame},
	{Topic: TopicSteering, Schema: "robotd.Steering", Definition: schemaSteering},
	{Topic: TopicState, Schema: "robotd.StateTransition", Definition: schemaState},
	{Topic: TopicSafety, Schema: "robotd.SafetyCounters", Definition: schemaSafety, Live: true},
	{Topic: TopicWatchdog, Schema: "robotd.Watchdogs", Definition: schemaWatchdog},
	{Topic: TopicLog, Schema: "foxglove.Log", Definition: schemaLog},
}

// The fixed channels' indexes in fixedChannels (ID - 1).
const (
	chJoint = iota
	chTorque
	chTool
	chTarget
	chGripper
	chPlan
	chSteering
	chState
	chSafety
	chWatchdog
	chLog
	numFixed
)

// BaseFrame is the frame_id of every pose: the robot's base.
const BaseFrame = "base"

// enc appends JSON to a reused buffer, without reflection.
type enc struct{ b []byte }

func (e *enc) raw(s string) { e.b = append(e.b, s...) }

func (e *enc) str(s string) { e.b = strconv.AppendQuote(e.b, s) }

func (e *enc) num(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = strconv.AppendFloat(e.b, v, 'g', -1, 64)
}

func (e *enc) uint(v uint64) { e.b = strconv.AppendUint(e.b, v, 10) }

func (e *enc) nums(v []float64) {
	e.b = append(e.b, '[')
	for i, x := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.num(x)
	}
	e.b = append(e.b, ']')
}

func (e *enc) strs(v []string) {
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// stamp begins a message: {"timestamp":{"sec":..,"nsec":..}
func (e *enc) stamp(t time.Time) {
	e.b = append(e.b[:0], `{"timestamp":{"sec":`...)
	e.b = strconv.AppendInt(e.b, t.Unix(), 10)
	e.b = append(e.b, `,"nsec":`...)
	e.b = strconv.AppendInt(e.b, int64(t.Nanosecond()), 10)
	e.b = append(e.b, '}')
}

func (e *enc) vec(v mgl64.Vec3) {
	e.raw(`{"x":`)
	e.num(v[0])
	e.raw(`,"y":`)
	e.num(v[1])
	e.raw(`,"z":`)
	e.num(v[2])
	e.raw(`}`)
}

func (e *enc) pose(pos mgl64.Vec3, q mgl64.Quat) {
	e.raw(`{"position":`)
	e.vec(pos)
	e.raw(`,"orientation":{"x":`)
	e.num(q.V[0])
	e.raw(`,"y":`)
	e.num(q.V[1])
	e.raw(`,"z":`)
	e.num(q.V[2])
	e.raw(`,"w":`)
	e.num(q.W)
	e.raw(`}}`)
}

func (e *enc) base64(data []byte) {
	e.b = append(e.b, '"')
	e.b = base64.StdEncoding.AppendEncode(e.b, data)
	e.b = append(e.b, '"')
}
