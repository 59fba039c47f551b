# `make run` and `make test` do all set-up on a fresh Debian machine (as root,
# or with the system packages already present).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# qemu-img, prlimit, the libraries Qt needs (offscreen and on X11/Wayland),
# the validators, tracing tools, man page renderer (man-db) and shells (zsh, fish) the tests use,
# the compressors that make compressed images and gpgv/gnupg that verify (and, in tests, sign) checksum files.
SYSTEM_PACKAGES := qemu-utils util-linux libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1 \
	desktop-file-utils appstream strace curl xvfb xauth man-db zsh fish \
	xz-utils bzip2 zstd zip gpgv gnupg

.PHONY: run test setup system-packages lint bench screenshots completions clean

run: setup
	$(VENV)/bin/diskscope-gui

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

setup: system-packages $(STAMP)

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "Please install, as root: apt-get install $$missing"; exit 1; \
		fi; \
		missing=$$(echo $$missing); \
		echo "Installing system packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $(STAMP)

# mypy must see the installed names (diskscope.core, ...), so it checks a copy
# installed into a scratch folder.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	rm -rf build/typecheck build/lib  # build/lib: a moved module must not linger in the copy
	$(PY) -m pip install -q --no-deps --no-build-isolation --target build/typecheck .
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p diskscope

screenshots: setup
	bash docs/screenshots/make.sh

# Shell completion and the man page, generated from the command line's parser, for packagers:
# bash-completion/completions/diskscope, fish/vendor_completions.d/diskscope.fish, man1/diskscope.1;
# zsh users source `diskscope completion zsh` (it runs the bash one through bashcompinit).
completions: setup
	mkdir -p build/completions build/man/man1
	$(VENV)/bin/diskscope completion bash > build/completions/diskscope
	$(VENV)/bin/diskscope completion zsh > build/completions/diskscope.zsh
	$(VENV)/bin/diskscope completion fish > build/completions/diskscope.fish
	$(VENV)/bin/diskscope man > build/man/man1/diskscope.1

# The full benchmark run (about 15-25 minutes; it prints its estimate): writes docs/performance.md
# and benchmarks/results. Run it as root on a quiet machine: the page cache is dropped before each
# timed run only as root. `$(PY) -m benchmarks --quick` is the small run, which writes nothing.
bench: setup
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info
