# robotd: the two newcomer commands are `make demo` and `make test`; both set up first.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
OUT ?= out

.PHONY: setup demo test test-slurm slurm-test-run bench vet train train-weak train-value train-residual train-noise train-steering eval

# Reproducing the reference policies (tools/train/README.md): demonstrations from the
# scripted expert, exported for PyTorch, then both policies trained and exported to models/.
DEMOS ?= $(OUT)/demos
PY ?= /usr/bin/python3
TASK = pick up the cube and place it in the green zone
DART = --launch launch/pickplace.yaml --source expert --task "$(TASK)" --fps 10 \
	--expert-noise 0.012 --expert-yaw-noise 0.15
TRAIN_DATA = $(DEMOS).npy $(DEMOS)_dart.npy $(DEMOS)_dart2.npy $(DEMOS)_dart3.npy

setup:
	@scripts/setup.sh

demo: setup
	$(GO) run ./cmd/robotd demo --out $(OUT)/demo
	$(GO) run ./cmd/robotd run --launch launch/sim.yaml --summary-json $(OUT)/run.json
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_diffusion.yaml --episodes 3 --seed 44 --videos 3 --out $(OUT)/demo/policy
	# The same seeds with the policy steered at deploy time (issue 19), compared seed by seed
	# (exit 4 or 5 would say the three seeds are enough to call a regression or gain; 1 is an
	# error), and each episode side by side: the base policy left, steered right.
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_diffusion_steered.yaml --episodes 3 --seed 44 --videos 3 --out $(OUT)/demo/steered
	$(GO) run ./cmd/robotd eval compare $(OUT)/demo/policy $(OUT)/demo/steered; test $$? != 1
	for i in 000 001 002; do ffmpeg -loglevel error -y -i $(OUT)/demo/policy/episode_$$i.mp4 \
		-i $(OUT)/demo/steered/episode_$$i.mp4 -filter_complex hstack=inputs=2 $(OUT)/demo/side_by_side_$$i.mp4 || exit 1; done

# One package at a time: the ROS and realtime tests (a rospy arm at 1 kHz, SCHED_FIFO
# threads, robotd in real time) must not share the 2 cores with another package's: beside
# drivers/ros's SCHED_FIFO publishers, robotd's receive and command threads stalled
# 100-160 ms (TestInteropFranka, docs/daemon.md).
test: setup
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 40m ./...
	@if [ "$$(id -u)" != 0 ] || [ -d /run/systemd/system ]; then \
		echo "test-slurm: skipped (a throwaway Slurm cluster needs root on a machine without systemd, such as CI's container: run make test-slurm there)"; \
	elif ! scripts/setup.sh slurm; then \
		echo "test-slurm: skipped (the Slurm and munge packages could not be installed)"; \
	else $(MAKE) --no-print-directory slurm-test-run; fi

# Sharded evaluation on a real single-node Slurm cluster (scripts/slurm/cluster.sh; about
# 35 s): a 4-shard array and its merge job against a local unsharded run.
test-slurm:
	@scripts/setup.sh slurm
	@$(MAKE) --no-print-directory slurm-test-run

slurm-test-run:
	ROBOTD_SLURM=1 $(GO) test -count=1 -run 'TestSlurmEval' -v ./cmd/robotd/

bench:
	@scripts/setup.sh bench
	scripts/bench.sh

# The demonstrations (make train, make train-weak): 143 clean, then 303 with DART noise on
# the executed target (three datasets recorded side by side: a dataset's episode close grows
# with its video files), each exported for PyTorch. Recorded once: the last export is the
# target, so a complete set is reused and an interrupted one is refused, named.
$(DEMOS)_dart3.npy:
	@scripts/setup.sh train
	@for d in $(DEMOS) $(DEMOS)_dart $(DEMOS)_dart2 $(DEMOS)_dart3; do \
		test ! -e $$d || { echo "$$d exists without $(DEMOS)_dart3.npy (an interrupted recording?): remove it or set DEMOS=..." >&2; exit 1; }; done
	$(GO) build -o $(OUT)/robotd ./cmd/robotd
	$(OUT)/robotd record --launch launch/pickplace.yaml --source expert --out $(DEMOS) \
		--task "$(TASK)" --episodes 143 --fps 10 --seed 1000
	$(OUT)/robotd record $(DART) --out $(DEMOS)_dart --episodes 123 --seed 2000 & \
	$(OUT)/robotd record $(DART) --out $(DEMOS)_dart2 --episodes 90 --seed 2200 & \
	$(OUT)/robotd record $(DART) --out $(DEMOS)_dart3 --episodes 90 --seed 2300; wait
	for d in $(DEMOS) $(DEMOS)_dart $(DEMOS)_dart2 $(DEMOS)_dart3; do \
		$(GO) run ./tools/train/export -dataset $$d -out $$d.npy --force || exit 1; done

# The diffusion recipe (7000 steps; the weak policy below stops early in the same schedule).
DIFFUSION_RECIPE = diffusion --data $(TRAIN_DATA) --prediction sample --steps 7000 --batch 64 \
	--noise-samples 4 --lr 3e-4 --seed 1

train: $(DEMOS)_dart3.npy
	@scripts/setup.sh train
	nice -n -5 $(PY) tools/train/train.py $(DIFFUSION_RECIPE) --out models/pickplace_diffusion --force \
		--save-every 1000 --checkpoint $(OUT)/diffusion.pt & \
	nice -n -5 $(PY) tools/train/train.py act --data $(TRAIN_DATA) --out models/pickplace_act --force \
		--steps 10000 --batch 32 --lr 3e-4 --seed 1 --save-every 1000 --checkpoint $(OUT)/act.pt; wait

# BID's weak policy for contrast (docs/steering.md "contrast"; tools/train/README.md, "Weak
# policy"): the reference diffusion recipe stopped after WEAK_STEPS of its 7000 steps, same
# demonstrations, seed and learning-rate schedule.
WEAK_STEPS ?= 1000
train-weak: $(DEMOS)_dart3.npy
	@scripts/setup.sh train
	nice -n 5 $(PY) tools/train/train.py $(DIFFUSION_RECIPE) --stop-after $(WEAK_STEPS) \
		--out models/pickplace_diffusion_early --force --threads 1

# The V-GPS value model for steering the reference diffusion policy (tools/train/README.md,
# "Steering models"): 300 rollouts of the policy itself (seeds 3000.., the evaluation's are
# 0..99), clean, with camera noise 8 and with camera noise 16 (copies of its launch file
# with absolute paths and the noise on both cameras; at 16 the policy fails about 4 times
# in 5, so the critic sees failures), recorded side by side, exported, then trained into
# models/pickplace_value.
ROLLOUTS ?= $(OUT)/rollouts
ROLLOUT = --source policy --task "$(TASK)" --fps 10 --episodes 100
VALUE_DATA = $(ROLLOUTS).npy $(ROLLOUTS)_noise8.npy $(ROLLOUTS)_noise16.npy

train-value:
	@scripts/setup.sh train
	@for d in $(ROLLOUTS) $(ROLLOUTS)_noise8 $(ROLLOUTS)_noise16; do \
		test ! -e $$d || { echo "$$d exists: remove it or set ROLLOUTS=..." >&2; exit 1; }; done
	$(GO) build -o $(OUT)/robotd ./cmd/robotd
	sed -e 's#\.\./#$(CURDIR)/#' -e 's#^\(    rate_hz: 30\)$$#\1\n    noise: 8#' \
		launch/pickplace_diffusion.yaml > $(OUT)/pickplace_diffusion_noise8.yaml
	test "$$(grep -c '^    noise: 8$$' $(OUT)/pickplace_diffusion_noise8.yaml)" = 2
	sed -e 's#^    noise: 8$$#    noise: 16#' $(OUT)/pickplace_diffusion_noise8.yaml > $(OUT)/pickplace_diffusion_noise16.yaml
	test "$$(grep -c '^    noise: 16$$' $(OUT)/pickplace_diffusion_noise16.yaml)" = 2
	$(OUT)/robotd record --launch launch/pickplace_diffusion.yaml $(ROLLOUT) --out $(ROLLOUTS) --seed 3000 & \
	$(OUT)/robotd record --launch $(OUT)/pickplace_diffusion_noise8.yaml $(ROLLOUT) --out $(ROLLOUTS)_noise8 --seed 3100 & \
	$(OUT)/robotd record --launch $(OUT)/pickplace_diffusion_noise16.yaml $(ROLLOUT) --out $(ROLLOUTS)_noise16 --seed 3200; wait
	for d in $(ROLLOUTS) $(ROLLOUTS)_noise8 $(ROLLOUTS)_noise16; do \
		$(GO) run ./tools/train/export -dataset $$d -out $$d.npy --force || exit 1; done
	nice -n 5 $(PY) tools/train/train_value.py --data $(VALUE_DATA) --policy models/pickplace_diffusion \
		--out models/pickplace_value --force --steps 4000 --batch 64 --lr 3e-4 --gamma 0.99 --seed 1 \
		--threads 2 --save-every 1000 --checkpoint $(OUT)/value.pt

# Residual RL through robotd env (tools/train/README.md, "Residual by RL"; checkpoints in
# $(OUT)/residual_rl: run it again with RESUME=--resume after an interruption). About
# 1.5-2 h on this 2-core machine.
train-residual:
	@scripts/setup.sh train
	$(GO) build -o $(OUT)/robotd ./cmd/robotd
	nice -n 5 $(PY) tools/train/train_residual.py --robotd $(OUT)/robotd --servers 2 \
		--camera-noise 0,8 --episodes 1500 --run $(OUT)/residual_rl --export models/pickplace_residual $(RESUME)

# The DSRL noise policy by RL through robotd env (tools/train/README.md, "Noise policy by RL
# (DSRL)"; checkpoints in $(OUT)/noise_rl: run it again with RESUME=--resume after an
# interruption). About 26-40 min on this 2-core machine (estimated from a 30-episode run).
train-noise:
	@scripts/setup.sh train
	$(GO) build -o $(OUT)/robotd ./cmd/robotd
	nice -n 5 $(PY) tools/train/train_noise.py --robotd $(OUT)/robotd --servers 2 \
		--camera-noise 0,8 --episodes 600 --run $(OUT)/noise_rl --export models/pickplace_noise $(RESUME)

# The steering models (issue 19): the weak policy, the value model, the residual, then the
# noise policy.
train-steering: train-weak train-value train-residual train-noise

# 100 seeded episodes of each reference policy (the README's numbers).
eval:
	@scripts/setup.sh
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_diffusion.yaml --episodes 100 --out $(OUT)/eval/diffusion
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_act.yaml --episodes 100 --out $(OUT)/eval/act
