# robotd: the two newcomer commands are `make demo` and `make test`; both set up first.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
OUT ?= out

.PHONY: setup demo test bench vet train eval

# Reproducing the reference policies (tools/train/README.md): demonstrations from the
# scripted expert, exported for PyTorch, then both policies trained and exported to models/.
DEMOS ?= $(OUT)/demos
TRAIN_EPISODES ?= 143
PY ?= /usr/bin/python3

setup:
	@scripts/setup.sh

demo: setup
	$(GO) run ./cmd/robotd demo --out $(OUT)/demo
	$(GO) run ./cmd/robotd run --launch launch/sim.yaml --summary-json $(OUT)/run.json
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_act.yaml --episodes 3 --seed 37 --videos 3 --out $(OUT)/demo/policy

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench:
	@scripts/setup.sh bench
	scripts/bench.sh

train:
	@scripts/setup.sh train
	@test ! -e $(DEMOS) || { echo "$(DEMOS) exists: remove it or set DEMOS=..." >&2; exit 1; }
	$(GO) run ./cmd/robotd record --launch launch/pickplace.yaml --source expert --out $(DEMOS) \
		--task "pick up the cube and place it in the green zone" --episodes $(TRAIN_EPISODES) --fps 10 --seed 1000
	$(GO) run ./tools/train/export -dataset $(DEMOS) -out $(DEMOS).npy --force
	nice -n -5 $(PY) tools/train/train.py diffusion --data $(DEMOS).npy --out models/pickplace_diffusion --force \
		--steps 6000 --batch 64 --noise-samples 4 --seed 1 --save-every 500 --checkpoint $(OUT)/diffusion.pt &
	nice -n -5 $(PY) tools/train/train.py act --data $(DEMOS).npy --out models/pickplace_act --force \
		--steps 8000 --batch 32 --lr 3e-4 --seed 1 --save-every 500 --checkpoint $(OUT)/act.pt; wait

# 100 seeded episodes of each reference policy (the README's numbers).
eval:
	@scripts/setup.sh
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_diffusion.yaml --episodes 100 --out $(OUT)/eval/diffusion
	$(GO) run ./cmd/robotd eval --launch launch/pickplace_act.yaml --episodes 100 --out $(OUT)/eval/act
