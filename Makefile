# The two commands a newcomer needs:  make run  (the demo)  and  make test  (the tests).
# Everything is installed from this repository's own files into .venv/.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Debian libraries Qt needs at run time (QtMultimedia needs libpulse0 even without a sound card).
# The xcb ones are for a real window (a desktop, or Xvfb); fonts-dejavu-core for legible text.
DEBS   := libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 libpulse0 \
          fonts-dejavu-core libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
          libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 \
          libxcb-xkb1
# The alarm's audible test: a private PulseAudio server with a null sink, recorded with parec;
# the lost-database-host test: a network namespace and a veth pair (ip).
DEBS   += pulseaudio pulseaudio-utils iproute2
# The responder web page's browser tests: Debian's Chromium and its driver; NSS's certutil
# installs the console's authority in the test browser's trust store (the HTTPS test).
DEBS   += chromium chromium-driver libnss3-tools

# No screen (CI, a server): Qt renders offscreen. With a desktop, a real window.
ifeq ($(DISPLAY)$(WAYLAND_DISPLAY),)
export QT_QPA_PLATFORM ?= offscreen
endif

.PHONY: run test lint bench screenshot install system-deps clean

run: install
	@[ "$$QT_QPA_PLATFORM" != offscreen ] || echo "No screen: the console runs offscreen (see make screenshot)."
	$(BIN)/dispatch-console console --demo

# The console at T+5 min of the large scenario on the two most common dispatch screens.
screenshot: install
	$(BIN)/dispatch-console screenshot --at 300 --size 1366x768 -o docs/console-1366x768.png
	$(BIN)/dispatch-console screenshot --at 300 --size 1920x1080 -o docs/console-1920x1080.png

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check dispatch_console tests benchmarks tools
	$(BIN)/ruff format --check dispatch_console tests benchmarks tools
	$(BIN)/mypy dispatch_console
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_cot.py
	$(BIN)/python benchmarks/bench_gateway.py
	$(BIN)/python benchmarks/bench_map.py
	$(BIN)/python benchmarks/bench_warnings.py
	$(BIN)/python benchmarks/bench_replay.py
	$(BIN)/python benchmarks/bench_playback.py
	$(BIN)/python benchmarks/bench_propagation.py
	$(BIN)/python benchmarks/bench_load.py --overload 5 --with-cot-and-activations
	$(BIN)/python benchmarks/bench_responder_page.py

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | system-deps
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; } || \
		{ echo "Python's venv module is missing: sudo apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Installs missing Debian packages when run as root (as in CI); otherwise says what is missing.
system-deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ] || ! command -v dpkg >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "Qt needs these Debian packages: sudo apt-get install $$missing"; exit 1; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
