#!/usr/bin/env bash
# Print the path of a debug build of CPython (--with-pydebug: it has
# sys.gettotalrefcount, which the leak tests need), getting one first if
# there is none. For `make test-pydebug`.
#
#   tools/pydebug.sh
#
# PYDEBUG_PYTHON, when set, is used as it is. Else Debian's (or Ubuntu's)
# python3.X-dbg of the machine's own python3, installed with apt when
# missing, with its headers and venv module: python3.11d on Debian 12,
# seconds to install. A machine without such a package: build CPython
# --with-pydebug by hand and point PYDEBUG_PYTHON at it.
# Messages go to stderr; stdout holds only the path.
set -euo pipefail

works() {
    "$1" -c 'import sys, venv, ensurepip, sysconfig, os
sys.gettotalrefcount()
assert os.path.exists(os.path.join(sysconfig.get_path("include"), "Python.h"))' 2>/dev/null
}

if [ -n "${PYDEBUG_PYTHON:-}" ]; then
    if ! works "$PYDEBUG_PYTHON"; then
        echo "PYDEBUG_PYTHON=$PYDEBUG_PYTHON is not a debug build of CPython" \
             "with its headers and venv (no sys.gettotalrefcount, Python.h or ensurepip)" >&2
        exit 1
    fi
    echo "$PYDEBUG_PYTHON"
    exit 0
fi

version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
py="/usr/bin/python${version}d"
if [ -x "$py" ] && works "$py"; then
    echo "$py"
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "no python${version}d here and no apt to install python${version}-dbg:" \
         "build CPython with ./configure --with-pydebug and set PYDEBUG_PYTHON" >&2
    exit 1
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
packages="python${version}-dbg libpython${version}-dbg python${version}-venv"
echo "installing $packages (a debug build of CPython ${version})" >&2
if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $packages >/dev/null 2>&1; then
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $packages >&2 || {
        echo "apt has no $packages for this release: build CPython with" \
             "./configure --with-pydebug and set PYDEBUG_PYTHON" >&2
        exit 1
    }
fi
if ! works "$py"; then
    echo "installed $packages, but $py is not a working debug CPython" >&2
    exit 1
fi
echo "$py"
