"""Build capi_probe (tests/test_capi.py does): python setup.py build_ext --inplace"""

from setuptools import Extension, setup

import gohttp

setup(
    name="gohttp-capi-probe",
    version="0",
    ext_modules=[
        Extension(
            "capi_probe",
            sources=["capi_probe.c"],
            include_dirs=[gohttp.get_include()],
            extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)
