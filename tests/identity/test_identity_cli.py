"""``dfmi compliance regulator-key`` and ``dfmi compliance identity``: the round trip from a new
disclosure key to who sees which identity, and bad input refused with one line, nothing changed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account

from dfmi_py.api.compliance import Compliance, RegulatorKey
from dfmi_py.deploy.suite import Deployment
from dfmi_py.identity.crypto import public_key_of
from dfmi_py.identity.disclosure import NO_KEY_NOTE, Identity
from dfmi_py.identity.keys import KeyProof, account_public_key
from dfmi_py.node import AnvilNode
from tests.helpers import CliRun, Roles, cli_runner, one_line_error
from tests.identity.conftest import ALICE, BOB, CAROL, REGULATOR_SECRET

OFFICER, REGULATOR = ("--dev-account", "1"), ("--dev-account", "2")


@pytest.fixture
def run(node: AnvilNode, deployment: Deployment) -> CliRun:
    return cli_runner(node.rpc_url, deployment.manifest_file.parent)


def identity_file(folder: Path, name: str, identity: Identity) -> str:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(identity.as_dict()))
    return str(path)


def test_round_trip_fromANewKeyToWhoSeesWhat(
    run: CliRun, compliance: Compliance, roles: Roles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, carol = (m.address for m in roles.members[:3])
    key_file = tmp_path / "regulator.key"

    made = run("compliance", "regulator-key", "new", str(key_file))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = bytes.fromhex(key_file.read_text().strip()[2:])
    assert made.output.strip() == f"wrote {key_file}; public key 0x{public_key_of(secret).hex()}"

    published = run("compliance", "regulator-key", "publish", "--key-file", str(key_file), *REGULATOR)
    assert published.exit_code == 0, published.output
    assert f"published 0x{public_key_of(secret).hex()} as epoch 1" in published.output
    assert compliance.regulator_key() == RegulatorKey(1, public_key_of(secret))
    shown = run("compliance", "regulator-key", "show")
    assert shown.output.strip() == f"epoch 1  0x{public_key_of(secret).hex()}  (current)"

    proof = tmp_path / "alice.proof"
    proved = run("compliance", "identity", "proof", "--dev-account", "7", "--out", str(proof))
    assert proved.exit_code == 0, proved.output
    steps = [
        (alice, ALICE, ("--proof", str(proof))),
        (bob, BOB, ("--public-key", "0x" + account_public_key(bytes(roles.members[1].key)).hex())),
        (carol, CAROL, ()),  # a devnet's development account: its key is known
    ]
    for account, identity, key_option in steps:
        recorded = run(
            "compliance", "identity", "record", account, "--file", identity_file(tmp_path, account, identity),
            *key_option, *OFFICER,
        )  # fmt: skip
        assert recorded.exit_code == 0, recorded.output
        assert f"recorded the identity of {account}, encrypted to regulator key epoch 1" in recorded.output

    monkeypatch.setenv("REGULATOR_VIEW_KEY", key_file.read_text().strip())
    monkeypatch.setenv("ALICE_VIEW_KEY", roles.members[0].key.hex())
    as_regulator = run("compliance", "identity", "show", "--viewer-key-env", "REGULATOR_VIEW_KEY")
    assert as_regulator.output.splitlines() == [
        f"{alice}  Alice Capital Markets Ltd  LEI DFMI00A1ICE0CAPITA26  GB",
        f"{bob}  Bob Trading GmbH  LEI DFMI00B0B0TRADING080  DE",
        f"{carol}  Carol Securities LLC  LEI DFMI00CARO1SECURIT67  US-DE",
        "identities shown: 3 of 3 accounts",
    ]
    as_alice = run("compliance", "identity", "show", alice, bob, "--viewer-key-env", "ALICE_VIEW_KEY")
    assert as_alice.output.splitlines() == [
        f"{alice}  Alice Capital Markets Ltd  LEI DFMI00A1ICE0CAPITA26  GB",
        f"{bob}  (not disclosed)",
        "identities shown: 1 of 3 accounts (the others are not encrypted to this key)",
    ]
    as_public = run("compliance", "identity", "show", alice, roles.outsider.address)
    assert as_public.output.splitlines() == [
        f"{alice}  (not disclosed)",
        f"{roles.outsider.address}  (no identity recorded)",
        NO_KEY_NOTE,
    ]
    as_json = json.loads(run("compliance", "identity", "show", "--json", "--viewer-key-env", "ALICE_VIEW_KEY").output)
    assert as_json["note"].startswith("identities shown: 1 of 3")
    assert as_json["accounts"][0] == {"account": alice, "recorded": True, "identity": ALICE.as_dict()}
    assert as_json["accounts"][1] == {"account": bob, "recorded": True, "identity": None}


@pytest.fixture
def with_key(published: RegulatorKey) -> RegulatorKey:
    """The regulator's key published (the bad-input tests need it to reach their own refusal)."""
    return published


def test_record_badInput_isOneLine_andChangesNothing(
    with_key: RegulatorKey, run: CliRun, compliance: Compliance, roles: Roles, tmp_path: Path
) -> None:
    alice, bob = roles.members[0], roles.members[1]
    good = identity_file(tmp_path, "alice", ALICE)
    bad_lei = tmp_path / "bad.json"
    bad_lei.write_text(json.dumps(ALICE.as_dict() | {"lei": "DFMI00A1ICE0CAPITA27"}))
    bob_proof = tmp_path / "bob.proof"
    run("compliance", "identity", "proof", "--dev-account", "8", "--out", str(bob_proof))
    stranger = Account.create().address
    nonce = compliance.chain.w3.eth.get_transaction_count(roles.officer.address)
    bob_key = "0x" + account_public_key(bytes(bob.key)).hex()
    cases = [
        (("record", alice.address, "--file", str(bad_lei)), "check digits do not verify"),
        (("record", alice.address, "--file", str(tmp_path / "missing.json")), "cannot read the identity file"),
        (("record", alice.address, "--file", good, "--proof", str(bob_proof)), f"key proof of {bob.address}"),
        (("record", alice.address, "--file", good, "--public-key", bob_key), f"is {bob.address}'s"),
        (("record", alice.address, "--file", good, "--public-key", "0xzz"), "is not hex"),
        (("record", alice.address, "--file", good, "--public-key", bob_key, "--proof", str(bob_proof)), "once"),
        (("record", stranger, "--file", good), f"give {stranger}'s public key"),
        (("record", roles.outsider.address, "--file", good), "ComplianceInvalidStatus"),
    ]
    for args, message in cases:
        line = one_line_error(run("compliance", "identity", *args, *OFFICER))
        assert message in line, (args, line)

    assert compliance.chain.w3.eth.get_transaction_count(roles.officer.address) == nonce
    assert compliance.identity_record(alice.address) is None


def test_record_beforeTheRegulatorsKey_isOneLine(run: CliRun, roles: Roles, tmp_path: Path) -> None:
    line = one_line_error(
        run("compliance", "identity", "record", roles.members[0].address, "--file",
            identity_file(tmp_path, "alice", ALICE), *OFFICER)
    )  # fmt: skip
    assert "the regulator has published no disclosure key yet" in line


def test_publish_and_show_badInput_isOneLine(
    run: CliRun, compliance: Compliance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "not-a-key"
    key_file.write_text("hello")
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    publish = ("compliance", "regulator-key", "publish")
    cases = [
        ((*publish, *REGULATOR), "give the disclosure key once"),
        ((*publish, "--public-key", "0x02", "--key-file", str(key_file), *REGULATOR), "give the disclosure key once"),
        ((*publish, "--key-file", str(key_file), *REGULATOR), "does not hold a private key"),
        ((*publish, "--key-file", str(tmp_path / "missing"), *REGULATOR), "cannot read the key file"),
        ((*publish, "--public-key", "0x02" + "00" * 32, *REGULATOR), "not on the curve"),
        ((*publish, "--disclosure-key-env", "NO_SUCH_KEY", *REGULATOR), "$NO_SUCH_KEY is not set"),
        ((*publish, "--public-key", "0x" + public_key_of(REGULATOR_SECRET).hex(), *OFFICER), "AccessControl"),
        (("compliance", "identity", "show", "--viewer-key-env", "NO_SUCH_KEY"), "$NO_SUCH_KEY is not set"),
    ]
    for args, message in cases:
        line = one_line_error(run(*args))
        assert message in line, (args, line)
    assert compliance.regulator_key() is None


def test_proof_printsAProofThatRecoversTheKey(run: CliRun, roles: Roles) -> None:
    printed = run("compliance", "identity", "proof", "--dev-account", "9")

    assert printed.exit_code == 0, printed.output
    proof = KeyProof.from_json(printed.output)
    assert proof.account == roles.members[2].address
    assert proof.public_key() == account_public_key(bytes(roles.members[2].key))
