"""Shared test helpers: a local Beam pipeline that never tries to download the Prism runner."""
import pytest


def local_test_pipeline():
    """TestPipeline on the in-process FnApiRunner (the DirectRunner would first try Prism)."""
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.test_pipeline import TestPipeline

    return TestPipeline(runner=FnApiRunner())


@pytest.fixture
def pipeline():
    return local_test_pipeline()
