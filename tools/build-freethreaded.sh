#!/usr/bin/env bash
# Build a free-threaded CPython 3.13 (python3.13t, PEP 703) once, into a
# folder git ignores, for `make test-freethreaded(-ci)` and the bench's
# gohttp-ft row. No free-threaded CPython is packaged for Debian 12, and
# PyPI has no CPython sources; Debian's mirror is reachable and its source
# package of python3.13 (from trixie's deb-src) holds the upstream tarball.
#
#   tools/build-freethreaded.sh [PREFIX]     default: .cache/python3.13t
#
# Does nothing when PREFIX already holds a working free-threaded
# interpreter. Needs root for apt (Debian or Ubuntu); about 220 s of CPU
# (5-8 minutes on 2 cores shared with other jobs). The interpreter is
# PREFIX/bin/python3.13t.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="$(realpath -m "${1:-.cache/python3.13t}")"
PY="$PREFIX/bin/python3.13t"
WORK="$(realpath -m .cache/build-python3.13t)"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# The modules the test suite and pip need, and the GIL off by default.
works() {
    "$PY" -c 'import sys, ssl, ctypes, zlib, bz2, lzma, sqlite3, decimal
import sysconfig
assert sysconfig.get_config_var("Py_GIL_DISABLED") == 1, "not a free-threaded build"
assert not sys._is_gil_enabled(), "the GIL is on"' 2>/dev/null
}

if [ -x "$PY" ] && works; then
    echo "free-threaded CPython: $PY ($("$PY" -VV | head -1)) is already built"
    exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Trixie's source index, added only when no configured source has one.
# deb-src lines never change what apt installs: binaries still come from
# the machine's own release.
SOURCES=/etc/apt/sources.list.d/gohttp-trixie-src.sources
if ! apt-get source --print-uris --only-source python3.13 >/dev/null 2>&1; then
    if [ ! -e "$SOURCES" ]; then
        echo "adding Debian trixie's deb-src to apt: $SOURCES"
        as_root tee "$SOURCES" >/dev/null <<'SRC'
# Written by gohttp's tools/build-freethreaded.sh: the source package of
# python3.13, whose upstream tarball builds a free-threaded CPython.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    as_root apt-get update -qq
fi

# The -dev packages of the modules above, from the machine's own release
# (apt-get build-dep would ask for trixie's versions of the build tools).
echo "installing the build dependencies"
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config xz-utils libssl-dev libffi-dev zlib1g-dev libbz2-dev \
    liblzma-dev libsqlite3-dev >/dev/null

rm -rf "$WORK" && mkdir -p "$WORK"
cd "$WORK"
echo "downloading the source package of python3.13 (Debian trixie)"
# --download-only: the pristine upstream tarball, without Debian's patches
# (they change the install layout for Debian's own packaging).
if ! apt-get source --download-only --only-source -o APT::Sandbox::User=root python3.13 >/dev/null; then
    echo "could not download the source package of python3.13: is Debian's mirror" \
         "(deb.debian.org, see $SOURCES) reachable? Or point FT_PREFIX (make" \
         "freethreaded FT_PREFIX=...) at an existing free-threaded CPython 3.13." >&2
    exit 1
fi
tar xf python3.13_*.orig.tar.xz
cd Python-3.13*/

# As quick a build as serves the tests (CI builds it cold, on 2 cores): no
# PGO or LTO (--enable-optimizations would run CPython's test suite to
# profile), none of CPython's own test modules, none of the optional
# modules nothing here imports (a terminal UI, dbm, Tk), and no debug info
# in CPython itself (a fifth less compiling): OPT on make's command line,
# so that sysconfig keeps the configured OPT, with -g, for extensions such
# as gohttp's. Each phase's time is printed.
phase() {
    local name=$1 log=$2; shift 2
    local TIMEFORMAT="  $name: %0R s (CPU: %0U s user, %0S s system)"
    time { "$@" >"$log" 2>&1 || { tail -40 "$log"; exit 1; }; }
}
echo "building CPython $(basename "$PWD") with --disable-gil into $PREFIX (logs in $WORK)"
phase configure "$WORK/configure.log" ./configure --disable-gil --prefix="$PREFIX" \
    --with-ensurepip=install --disable-test-modules --without-readline \
    py_cv_module__curses=n/a py_cv_module__curses_panel=n/a py_cv_module__dbm=n/a \
    py_cv_module__gdbm=n/a py_cv_module__tkinter=n/a py_cv_module__uuid=n/a
phase make "$WORK/make.log" make -j"$JOBS" OPT="-DNDEBUG -O3 -Wall"
phase "make install" "$WORK/install.log" make install

if ! works; then
    echo "built $PY, but it lacks a module or the GIL is on:" >&2
    "$PY" -c 'import sys, ssl, ctypes, zlib, bz2, lzma, sqlite3, decimal; print(sys._is_gil_enabled())' >&2
    exit 1
fi
rm -rf "$WORK"
echo "free-threaded CPython: $PY ($("$PY" -VV | head -1))"
