"""The demo's identity steps: the regulator's devnet key opens the three members' identities, each
member's key its own, and the public sees addresses only."""

from __future__ import annotations

from dfmi_py.api import Market
from dfmi_py.deploy.suite import Deployment
from dfmi_py.identity.disclosure import NO_KEY_NOTE
from dfmi_py.identity.keys import dev_disclosure_key
from dfmi_py.scenarios.demo import MEMBER_IDENTITIES, member_accounts, record_identities


def test_demo_records_its_members_identities_for_the_regulator(deployment: Deployment) -> None:
    market = Market.from_deployment(deployment)
    members = member_accounts()
    steps: list[str] = []

    record_identities(market, members, lambda description, action: steps.append(f"{description}: {action()['status']}"))

    assert len(steps) == 4
    assert all(step.endswith(": 1") for step in steps)
    by_address = {members[name].address: identity for name, identity in MEMBER_IDENTITIES.items()}
    regulator_view = market.compliance.disclosure(dev_disclosure_key())
    assert regulator_view.identities == by_address
    assert regulator_view.note == "identities shown: 3 of 3 accounts"
    carol = members["Carol"]
    assert market.compliance.disclosure(bytes(carol.key)).identities == {carol.address: MEMBER_IDENTITIES["Carol"]}
    assert market.compliance.disclosure(None).note == NO_KEY_NOTE
