"""Fixtures of the toolkit tests."""

import pytest

from tests.helpers import CliRun, cli_runner


@pytest.fixture
def run(node, deployment) -> CliRun:
    """Invoke ``dfmi --rpc-url <session node> --deployments-dir <its manifests> ARGS``."""
    return cli_runner(node.rpc_url, deployment.manifest_file.parent)
