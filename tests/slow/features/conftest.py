"""The feature tests' fixtures (tests/features/conftest.py), for their slow files here."""

from tests.features.conftest import clip, clips  # noqa: F401
