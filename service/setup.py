"""The one thing pyproject.toml cannot say: the optional C extension (answers.py works without
it, more slowly with many runs)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "lrcast_server._answertable",
            sources=["src/lrcast_server/_answertable.c"],
            optional=True,
        )
    ]
)
