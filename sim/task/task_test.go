package task_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-gl/mathgl/mgl64"

	"github.com/robotd/robotd/daemon"
	"github.com/robotd/robotd/sim"
	"github.com/robotd/robotd/sim/mujoco"
	"github.com/robotd/robotd/sim/task"
)

func newTask(t testing.TB) *task.Task {
	t.Helper()
	arm, err := mujoco.NewArm(task.Scene())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(arm.Close)
	tk, err := task.New(arm, task.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestResetIsDeterministic: a seed always gives the same whole simulator state, also
// after an episode has run; different seeds give different starts.
func TestResetIsDeterministic(t *testing.T) {
	r := newRig(t)
	s := r.arm.Sim()
	snapshot := func() []float64 {
		return append(append([]float64(nil), s.Qpos()...), s.Qvel()...)
	}
	if _, err := r.task.Reset(7); err != nil {
		t.Fatal(err)
	}
	first := snapshot()
	// Run for a while (the expert moves the arm and the cube), then reset again.
	r.begin(t, 7)
	for i := 0; i < 6000; i++ {
		r.step(t, 7)
	}
	if p := r.task.Privileged().Cube.Pos; p.Sub(mgl64.Vec3(first[9:12])).Len() < 0.01 {
		t.Fatalf("the cube did not move during the run (at %v): the test proves nothing", p)
	}
	st, err := r.task.Reset(7)
	if err != nil {
		t.Fatal(err)
	}
	if again := snapshot(); !equal(first, again) {
		t.Errorf("seed 7 after a run:\n got %v\nwant %v", again, first)
	}
	if r.arm.Now() != 0 || r.arm.GripperWidth() != 0.08 {
		t.Errorf("after Reset: clock %v, gripper %v; want 0 and open (0.08)", r.arm.Now(), r.arm.GripperWidth())
	}
	p, q := s.FreeJointPose(mustID(t, s, mujoco.ObjJoint, "cube"))
	if mgl64.Vec3(p) != st.Cube || math.Abs(2*math.Atan2(q[3], q[0])-st.Yaw) > 1e-12 {
		t.Errorf("cube at %v %v, Start says %v yaw %v", p, q, st.Cube, st.Yaw)
	}
	if _, err := r.task.Reset(8); err != nil {
		t.Fatal(err)
	}
	if equal(first, snapshot()) {
		t.Error("seeds 7 and 8 give the same state")
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustID(t testing.TB, s *mujoco.Sim, kind mujoco.ObjType, name string) int {
	t.Helper()
	id, err := s.ID(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSampleCoversTheRegion: 1000 seeds put the cube inside the region, fill each of its
// 4x4 cells and each of 8 yaw bins, and reach within 1 cm of every edge.
func TestSampleCoversTheRegion(t *testing.T) {
	cfg := task.Config{}.WithDefaults()
	r := cfg.Region
	var cells [4][4]int
	var yaws [8]int
	lo, hi := mgl64.Vec2{math.Inf(1), math.Inf(1)}, mgl64.Vec2{math.Inf(-1), math.Inf(-1)}
	for seed := int64(0); seed < 1000; seed++ {
		st := cfg.Sample(seed, 0.025)
		if again := cfg.Sample(seed, 0.025); again != st {
			t.Fatalf("seed %d: %v then %v", seed, st, again)
		}
		p := st.Cube.Vec2()
		if !r.Contains(p) || st.Cube[2] != 0.025 || st.Yaw < -cfg.Yaw || st.Yaw >= cfg.Yaw {
			t.Fatalf("seed %d: start %+v outside the region %v..%v, yaw +-%v", seed, st, r.Min, r.Max, cfg.Yaw)
		}
		for i := 0; i < 2; i++ {
			lo[i], hi[i] = math.Min(lo[i], p[i]), math.Max(hi[i], p[i])
		}
		cx := int(4 * (p[0] - r.Min[0]) / (r.Max[0] - r.Min[0]))
		cy := int(4 * (p[1] - r.Min[1]) / (r.Max[1] - r.Min[1]))
		cells[min(cx, 3)][min(cy, 3)]++
		yaws[min(int(8*(st.Yaw+cfg.Yaw)/(2*cfg.Yaw)), 7)]++
	}
	for i := range cells {
		for j, n := range cells[i] {
			if n < 30 { // 62.5 expected
				t.Errorf("cell (%d, %d) of the region got %d of 1000 starts", i, j, n)
			}
		}
	}
	for i, n := range yaws {
		if n < 80 { // 125 expected
			t.Errorf("yaw bin %d got %d of 1000 starts", i, n)
		}
	}
	for i := 0; i < 2; i++ {
		if lo[i]-r.Min[i] > 0.01 || r.Max[i]-hi[i] > 0.01 {
			t.Errorf("axis %d: starts span %.3f..%.3f of %.3f..%.3f", i, lo[i], hi[i], r.Min[i], r.Max[i])
		}
	}
	t.Logf("1000 seeds: x %.3f..%.3f, y %.3f..%.3f", lo[0], hi[0], lo[1], hi[1])
}

// TestSuccessOnHandPlacedCubes: the cube put down by hand (the arm holding its home pose
// under the servo, physics running 0.6 s so the cube settles) is judged from the
// simulator's state.
func TestSuccessOnHandPlacedCubes(t *testing.T) {
	r := newRig(t)
	s := r.arm.Sim()
	zone, half := r.task.Zone()
	cube := mustID(t, s, mujoco.ObjJoint, "cube")
	yaw := func(a float64) [4]float64 { return [4]float64{math.Cos(a / 2), 0, 0, math.Sin(a / 2)} }
	edge := func(a float64) [4]float64 { return [4]float64{math.Cos(a / 2), math.Sin(a / 2), 0, 0} }
	for _, tc := range []struct {
		name   string
		pos    mgl64.Vec3
		quat   [4]float64
		settle time.Duration
		want   task.Status // the booleans compared
	}{
		{"zone centre", zone.Add(mgl64.Vec3{0, 0, 0.025}), yaw(0.3), 600 * time.Millisecond,
			task.Status{InZone: true, OnTable: true, Success: true}},
		{"zone corner, centre just inside", zone.Add(mgl64.Vec3{half[0] - 0.002, -half[1] + 0.002, 0.025}), yaw(-0.7), 600 * time.Millisecond,
			task.Status{InZone: true, OnTable: true, Success: true}},
		{"centre just outside the zone", zone.Add(mgl64.Vec3{half[0] + 0.002, 0, 0.025}), yaw(0), 600 * time.Millisecond,
			task.Status{OnTable: true}},
		{"start region", mgl64.Vec3{0.5, -0.12, 0.025}, yaw(0.2), 600 * time.Millisecond,
			task.Status{OnTable: true}},
		{"in the air over the zone", zone.Add(mgl64.Vec3{0, 0, 0.2}), yaw(0), 0,
			task.Status{InZone: true}},
		{"falling into the zone", zone.Add(mgl64.Vec3{0, 0, 0.1}), yaw(0), 120 * time.Millisecond,
			task.Status{InZone: true}},
		{"balanced on an edge in the zone", zone.Add(mgl64.Vec3{0, 0, 0.025 * math.Sqrt2}), edge(math.Pi / 4), 0,
			task.Status{InZone: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.task.Reset(1); err != nil {
				t.Fatal(err)
			}
			if err := s.SetFreeJointPose(cube, tc.pos, tc.quat); err != nil {
				t.Fatal(err)
			}
			if err := s.Forward(); err != nil {
				t.Fatal(err)
			}
			if err := r.servo.Start(daemon.ModeCartesian); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < int(tc.settle/tick); i++ {
				r.tick(t)
			}
			if tc.settle == 0 { // contacts of the placed pose, without stepping
				if err := s.Step1(); err != nil {
					t.Fatal(err)
				}
			}
			st := r.task.Evaluate()
			got := task.Status{InZone: st.InZone, OnTable: st.OnTable, Success: st.Success, Grasped: st.Grasped}
			if got != tc.want {
				t.Errorf("got %+v, want %+v (full status %+v)", got, tc.want, st)
			}
			if st.Fingers != 0 {
				t.Errorf("%d fingers touch the cube", st.Fingers)
			}
			wantErr := tc.pos.Vec2().Sub(zone.Vec2()).Len()
			if tc.settle <= 120*time.Millisecond && math.Abs(st.PlaceError-wantErr) > 1e-3 {
				t.Errorf("place error %.4f m, want %.4f", st.PlaceError, wantErr)
			}
		})
	}
}

// TestStatusThroughAGrasp: along an expert episode the status says what is happening:
// held in the air while carried (lifted, grasped, no success), fingers still on the cube
// in the zone when the gripper starts to open (no success), then a success.
func TestStatusThroughAGrasp(t *testing.T) {
	r := newRig(t)
	r.begin(t, 3)
	seen := map[task.Phase]task.Status{}
	for i := 0; i < 20000 && r.expert.Phase() != task.Finished; i++ {
		r.step(t, 3)
		if _, ok := seen[r.expert.Phase()]; !ok {
			seen[r.expert.Phase()] = r.task.Evaluate()
		}
		if r.expert.Phase() == task.Carry {
			seen[task.Carry] = r.task.Evaluate() // the last instant of the carry
		}
	}
	carry, open := seen[task.Carry], seen[task.Open]
	if !carry.Grasped || carry.Fingers != 2 || carry.OnTable || carry.Success || carry.Lift < 0.09 {
		t.Errorf("while carried: %+v; want grasped by both fingers, lifted > 9 cm, no success", carry)
	}
	if !open.InZone || open.Fingers == 0 || open.Success {
		t.Errorf("as the gripper opens: %+v; want in the zone, fingers touching, no success", open)
	}
	for i := 0; i < 1000; i++ {
		r.step(t, 3)
	}
	if st := r.task.Evaluate(); !st.Success || st.Fingers != 0 {
		t.Errorf("after the retreat: %+v; want a success", st)
	}
}

// TestEvaluateAllocatesNothing: Evaluate, called every tick, allocates nothing.
func TestEvaluateAllocatesNothing(t *testing.T) {
	tk := newTask(t)
	if _, err := tk.Reset(1); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { tk.Evaluate() }); n != 0 {
		t.Errorf("Evaluate allocates %v times", n)
	}
}

// TestEpisodeSignals: the episode succeeds when an instant success lasts HoldTime, from the
// instant it began; an interrupted success restarts the count; a timeout ends the episode
// without success; the reward is the instant success.
func TestEpisodeSignals(t *testing.T) {
	tk := newTask(t)
	ms := time.Millisecond
	ok, no := task.Status{Success: true, Lift: 0.001}, task.Status{Lift: 0.08, PlaceError: 0.3}
	ep := tk.NewEpisode(100 * ms)
	steps := []struct {
		at   time.Duration
		st   task.Status
		want task.Signal
	}{
		{200 * ms, no, task.Signal{}},
		{300 * ms, ok, task.Signal{Reward: 1}},
		{700 * ms, ok, task.Signal{Reward: 1}},
		{750 * ms, no, task.Signal{}}, // interrupted after 450 ms
		{800 * ms, ok, task.Signal{Reward: 1}},
		{1299 * ms, ok, task.Signal{Reward: 1}},
		{1300 * ms, ok, task.Signal{Reward: 1, Done: true, Success: true}},
		{1400 * ms, no, task.Signal{Done: true, Success: true}}, // after the end: unchanged
	}
	for _, s := range steps {
		if got := ep.Update(s.at, s.st); got != s.want {
			t.Errorf("at %v: %+v, want %+v", s.at, got, s.want)
		}
	}
	if !ep.Success || ep.TimeToSuccess != 700*ms || !ep.Lifted || ep.MaxLift != 0.08 || ep.Duration != 1200*ms {
		t.Errorf("episode %+v: want success after 700ms, lifted 0.08 m, lasting 1.2 s", *ep)
	}
	timeout := tk.Config().Timeout
	ep = tk.NewEpisode(0)
	if got := ep.Update(timeout-ms, no); got.Done {
		t.Errorf("done before the timeout: %+v", got)
	}
	if got := ep.Update(timeout, ok); got != (task.Signal{Reward: 1, Done: true}) {
		t.Errorf("at the timeout: %+v, want done without success", got)
	}
}

// TestNewChecksTheScene: the reference scene has no target zone; a bad config is refused.
func TestNewChecksTheScene(t *testing.T) {
	arm, err := mujoco.NewArm(sim.Scene{})
	if err != nil {
		t.Fatal(err)
	}
	defer arm.Close()
	if _, err := task.New(arm, task.Config{}); err == nil || !strings.Contains(err.Error(), `"zone"`) {
		t.Errorf("New on scene.xml: %v, want an error naming the missing zone", err)
	}
	for _, cfg := range []task.Config{
		{Region: task.Region{Min: mgl64.Vec2{0.6, 0}, Max: mgl64.Vec2{0.4, 0.1}}},
		{Yaw: -1},
		{Timeout: -time.Second},
	} {
		if _, err := task.New(arm, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}
