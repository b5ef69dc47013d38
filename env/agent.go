package env

import (
	"sync/atomic"

	"github.com/robotd/robotd/policy"
	"github.com/robotd/robotd/policy/chunk"
	"github.com/robotd/robotd/policy/steer"
)

// Decision points: where an episode's client decides (Episode.Mode and Rate choose one).
const (
	pointNoise  = iota // before sampling (mode noise): Agent.Noise
	pointChunk         // the chosen chunk (modes policy, chunk, residual at rate chunk): Agent.Chunk
	pointAction        // each action due (mode residual at rate action): Agent.Action
)

// point is one decision the policy goroutine waits for. Its slices are the stage's and
// the policy loop's buffers: the connection's goroutine reads the observation and the
// base, and writes noise, corr or the chunk's actions, between receiving the point and
// answering it (the policy goroutine is blocked meanwhile, and in lockstep so is
// simulated time).
type point struct {
	kind   int
	obs    policy.Observation
	chunk  *chunk.Chunk // pointChunk: the base chunk, replaced in place for mode chunk
	prefix int          // pointChunk: its first prefix actions are the running plan's
	base   []float64    // pointAction: the base action
	noise  []float32    // pointNoise: N x horizon x A, written by the client
	corr   []float32    // pointChunk, pointAction: the correction, written by the client
	priv   privileged   // read on the policy goroutine when the episode asked for it
}

// privileged is the task's state that no deployed model sees.
type privileged struct {
	cube, tool [7]float32
	gripper    float32
}

// answer is the client's decision at a point: act false declines (the base policy's
// behaviour), act true applies what the client wrote into the point's buffers.
type answer struct{ act bool }

// episode is one reset's episode: the points the agent hands the connection, the
// answers it waits for, and the run's end.
type episode struct {
	kind       int // the decision point the client answers
	mode       string
	privileged bool
	points     chan *point
	answers    chan answer
	abort      chan struct{} // closed: every point is declined without asking (the episode is abandoned)
	ended      chan error    // the daemon's run returned (buffered)
}

// agent is the steer.Agent the server installs in the system's steering stage; it hands
// the decision points the current episode asks for to the connection, and declines the
// others at once.
type agent struct {
	ep  atomic.Pointer[episode]
	pri func(*privileged) // reads the privileged state (the policy goroutine; lockstep holds the scene still)
	pt  point
}

var _ steer.Agent = (*agent)(nil)

// consult hands p to the connection and waits for its answer; an abandoned episode
// declines.
func (a *agent) consult(e *episode, p *point) bool {
	if e.privileged {
		a.pri(&p.priv)
	}
	select {
	case e.points <- p:
	case <-e.abort:
		return false
	}
	select {
	case ans := <-e.answers:
		return ans.act
	case <-e.abort:
		return false
	}
}

func (a *agent) Noise(obs policy.Observation, noise []float32) (bool, error) {
	e := a.ep.Load()
	if e == nil || e.kind != pointNoise {
		return false, nil
	}
	a.pt = point{kind: pointNoise, obs: obs, noise: noise}
	return a.consult(e, &a.pt), nil
}

func (a *agent) Chunk(obs policy.Observation, c *chunk.Chunk, prefix int, corr []float32) (steer.AgentDecision, error) {
	e := a.ep.Load()
	if e == nil || e.kind != pointChunk {
		return steer.AgentKeep, nil
	}
	a.pt = point{kind: pointChunk, obs: obs, chunk: c, prefix: prefix, corr: corr}
	if !a.consult(e, &a.pt) {
		return steer.AgentKeep, nil
	}
	if e.mode == ModeChunk {
		return steer.AgentReplace, nil
	}
	return steer.AgentCorrect, nil
}

func (a *agent) Action(obs policy.Observation, base []float64, corr []float32) (bool, error) {
	e := a.ep.Load()
	if e == nil || e.kind != pointAction {
		return false, nil
	}
	a.pt = point{kind: pointAction, obs: obs, base: base, corr: corr}
	return a.consult(e, &a.pt), nil
}
