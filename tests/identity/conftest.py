"""Fixtures of the identity tests: the regulator's disclosure keys, the registry's API, records.

The regulator's key is published once (:class:`SetupCache` keeps it on the chain from one test to
the next that asks for it) on the session's suite, whose members are onboarded.
"""

from __future__ import annotations

import pytest

from dfmi_py.api.compliance import Compliance, RegulatorKey
from dfmi_py.chain import Chain
from dfmi_py.deploy.suite import Deployment
from dfmi_py.identity.crypto import public_key_of
from dfmi_py.identity.disclosure import Identity
from tests.helpers import Roles, SetupCache

#: The regulator's disclosure private key in these tests, and the one it rotates to.
REGULATOR_SECRET = bytes.fromhex("5e" * 32)
ROTATED_SECRET = bytes.fromhex("7a" * 32)

#: Made-up records with valid LEIs (check digits computed per ISO 7064 MOD 97-10).
ALICE = Identity("Alice Capital Markets Ltd", "DFMI00A1ICE0CAPITA26", "GB")
BOB = Identity("Bob Trading GmbH", "DFMI00B0B0TRADING080", "DE")
CAROL = Identity("Carol Securities LLC", "DFMI00CARO1SECURIT67", "US-DE")


@pytest.fixture(scope="session")
def compliance(chain: Chain, deployment: Deployment) -> Compliance:
    """The registry's API, reading events from its deployment block."""
    return Compliance(chain, deployment.registry, deployed_at=deployment.manifest.contracts["ComplianceRegistry"].block)


@pytest.fixture
def published(
    request: pytest.FixtureRequest, setup_cache: SetupCache, compliance: Compliance, roles: Roles
) -> RegulatorKey:
    """The regulator's disclosure key (:data:`REGULATOR_SECRET`) published as epoch 1."""

    def publish() -> RegulatorKey:
        compliance.publish_regulator_key(roles.regulator, public_key_of(REGULATOR_SECRET))
        key = compliance.regulator_key()
        assert key is not None
        return key

    return setup_cache.setup(request, publish)
