"""Build the c_handler example: python setup.py build_ext --inplace

gohttp must be importable (installed, or on PYTHONPATH): its C API header,
gohttp.h, is in gohttp.get_include().  An extension that depends on gohttp
this way builds against the gohttp it will run with; pip builds it in
isolation, so such a project lists gohttp in its pyproject.toml's
[build-system] requires as well as in its dependencies.
"""

from setuptools import Extension, setup

import gohttp

setup(
    name="gohttp-c-handler-example",
    version="0.1.0",
    ext_modules=[
        Extension(
            "c_handler",
            sources=["c_handler.c"],
            include_dirs=[gohttp.get_include()],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)
