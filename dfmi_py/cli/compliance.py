"""``dfmi compliance``: the shared allowlist, the regulator's disclosure key and the identities.

dfmi compliance onboard|freeze|unfreeze|offboard ACCOUNTS      # compliance officer
dfmi compliance regulator-key new FILE                         # the regulator's disclosure key
dfmi compliance regulator-key publish --key-file FILE          # regulator
dfmi compliance identity proof --out FILE                      # an account: its public key
dfmi compliance identity record ACCOUNT --file id.json --proof FILE   # compliance officer
dfmi compliance identity show [ACCOUNTS] --viewer-key-env VAR  # who can read what
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import click

from dfmi_py.api.market import Market
from dfmi_py.chain.accounts import dev_account as development_account
from dfmi_py.chain.client import checksum
from dfmi_py.cli.common import (
    Options,
    apply_each,
    echo_json,
    json_option,
    open_market,
    pass_options,
    private_key,
    private_key_from_env,
    signer,
    signer_options,
    viewer_key,
    viewer_key_option,
)
from dfmi_py.display import enum_name, number
from dfmi_py.errors import InputError
from dfmi_py.identity.crypto import compressed_key, new_private_key, public_key_of
from dfmi_py.identity.disclosure import Identity
from dfmi_py.identity.keys import KeyProof, account_public_key, make_proof


@click.group()
def compliance() -> None:
    """The shared allowlist, the regulator's disclosure key and the identities."""


@compliance.command("status")
@pass_options
@click.argument("accounts", nargs=-1, required=True)
@json_option
def compliance_status(options: Options, accounts: tuple[str, ...], as_json: bool) -> None:
    """Show the status of ACCOUNTS."""
    market = open_market(options)
    statuses = {checksum(account): market.compliance.status(account) for account in accounts}
    if as_json:
        echo_json([{"account": account, "status": status} for account, status in statuses.items()])
        return
    for account, status in statuses.items():
        click.echo(f"{account}  {enum_name(status)}")


def _compliance_action(name: str, doc: str) -> None:
    @compliance.command(name, help=doc)
    @pass_options
    @click.argument("accounts", nargs=-1, required=True)
    @signer_options
    def command(options: Options, accounts: tuple[str, ...], key_env: str, dev_account: int | None) -> None:
        addresses = [checksum(account) for account in accounts]
        market = open_market(options)
        officer = signer(key_env, dev_account)
        registry = market.compliance
        items = [
            (a, registry.contract.functions[name](a), partial(getattr(registry, name), officer, a)) for a in addresses
        ]
        for account, receipt in apply_each(market.chain, officer.address, name, items):
            status = enum_name(registry.status(account))
            click.echo(f"{name} {account}: {status} (gas {number(receipt['gasUsed'])})")


for _name, _doc in (
    ("onboard", "Onboard ACCOUNTS (compliance officer)."),
    ("freeze", "Freeze ACCOUNTS (compliance officer)."),
    ("unfreeze", "Unfreeze ACCOUNTS (compliance officer)."),
    ("offboard", "Offboard ACCOUNTS (compliance officer)."),
):
    _compliance_action(_name, _doc)


# ---------------------------------------------------------------------- identities


def _secret_from_file(path: Path) -> bytes:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the key file {path}: {exc.strerror}") from None
    return private_key(text, str(path))


def _public_key_hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        raise InputError(f"--public-key {text!r} is not hex") from None


def _show_key(public_key: bytes) -> str:
    return "0x" + public_key.hex()


@compliance.group("regulator-key")
def regulator_key() -> None:
    """The regulator's disclosure key: identities are encrypted to it."""


@regulator_key.command("new")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def regulator_key_new(file: Path) -> None:
    """Make a fresh disclosure private key in FILE (readable by its owner only); print its public key.

    Keep FILE secret: it opens every identity recorded while its key is the published one. Publish
    the public key with `dfmi compliance regulator-key publish --key-file FILE`."""
    if file.exists():
        raise InputError(f"{file} exists: a key file is never overwritten")
    secret = new_private_key()
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write("0x" + secret.hex() + "\n")
    except OSError as exc:
        raise InputError(f"cannot write the key file {file}: {exc.strerror}") from None
    click.echo(f"wrote {file}; public key {_show_key(public_key_of(secret))}")


@regulator_key.command("publish")
@pass_options
@click.option("--public-key", "public_key", metavar="HEX", help="The disclosure public key (33, 65 or 64 bytes).")
@click.option(
    "--key-file", type=click.Path(dir_okay=False, path_type=Path), help="A file holding the disclosure private key."
)
@click.option("--disclosure-key-env", metavar="VAR", help="Environment variable holding the disclosure private key.")
@signer_options
def regulator_key_publish(
    options: Options,
    public_key: str | None,
    key_file: Path | None,
    disclosure_key_env: str | None,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Publish the regulator's disclosure key (regulator; signs with --key-env or --dev-account).

    The key comes from --public-key, --key-file or --disclosure-key-env (exactly one). Each
    publication starts a new key epoch: identities recorded from then on are encrypted to it;
    earlier ones stay encrypted to the key of their epoch."""
    given = [v for v in (public_key, key_file, disclosure_key_env) if v is not None]
    if len(given) != 1:
        raise InputError("give the disclosure key once: --public-key HEX, --key-file FILE or --disclosure-key-env VAR")
    if public_key is not None:
        key = compressed_key(_public_key_hex(public_key))
    elif key_file is not None:
        key = public_key_of(_secret_from_file(key_file))
    else:
        assert disclosure_key_env is not None
        key = public_key_of(private_key_from_env(disclosure_key_env))
    market = open_market(options)
    receipt = market.compliance.publish_regulator_key(signer(key_env, dev_account), key)
    published = market.compliance.regulator_key()
    assert published is not None
    click.echo(
        f"published {_show_key(published.public_key)} as epoch {published.epoch} (gas {number(receipt['gasUsed'])})"
    )


@regulator_key.command("show")
@pass_options
@json_option
def regulator_key_show(options: Options, as_json: bool) -> None:
    """Show every disclosure key the regulator published, the current one last."""
    keys = open_market(options).compliance.regulator_keys()
    if as_json:
        echo_json([{"epoch": k.epoch, "public_key": _show_key(k.public_key)} for k in keys])
        return
    if not keys:
        click.echo("no regulator disclosure key published")
    for key in keys:
        current = "  (current)" if key is keys[-1] else ""
        click.echo(f"epoch {key.epoch}  {_show_key(key.public_key)}{current}")


@compliance.group("identity")
def identity() -> None:
    """Identities recorded encrypted to the regulator and to each account."""


@identity.command("proof")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the proof here [default: stdout].")
@signer_options
def identity_proof(out: Path | None, key_env: str, dev_account: int | None) -> None:
    """Sign the key proof of your account (with --key-env or --dev-account): a harmless fixed
    message from which the compliance officer recovers your public key, to encrypt your identity
    record to it (`dfmi compliance identity record ACCOUNT --proof FILE`). Needs no chain."""
    proof = make_proof(signer(key_env, dev_account))
    text = proof.to_json()
    if out is None:
        click.echo(text)
        return
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"wrote the key proof of {proof.account} to {out}", err=True)


def _account_key(market: Market, account: str, public_key: str | None, proof: Path | None) -> bytes:
    """The account's public key: given, recovered from its proof, or a devnet's development key."""
    if public_key is not None and proof is not None:
        raise InputError("give the account's key once: --public-key HEX or --proof FILE")
    if public_key is not None:
        return _public_key_hex(public_key)
    if proof is not None:
        try:
            text = proof.read_text()
        except OSError as exc:
            raise InputError(f"cannot read the key proof {proof}: {exc.strerror}") from None
        key_proof = KeyProof.from_json(text)
        if key_proof.account != account:
            raise InputError(f"{proof} is the key proof of {key_proof.account}, not of {account}")
        return key_proof.public_key()
    held = {checksum(a) for a in market.chain.w3.eth.accounts}
    if account in held:
        for index in range(len(held)):
            candidate = development_account(index)
            if candidate.address == account:
                return account_public_key(bytes(candidate.key))
    raise InputError(
        f"give {account}'s public key: --proof FILE (the account makes it with `dfmi compliance identity proof`) "
        "or --public-key HEX"
    )


@identity.command("record")
@pass_options
@click.argument("account")
@click.option(
    "--file",
    "identity_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON with legal_name, lei (ISO 17442) and jurisdiction (ISO 3166-1 alpha-2 or 3166-2).",
)
@click.option("--public-key", metavar="HEX", help="The account's public key.")
@click.option(
    "--proof", type=click.Path(dir_okay=False, path_type=Path), help="The account's key proof (its public key)."
)
@signer_options
def identity_record(
    options: Options,
    account: str,
    identity_file: Path,
    public_key: str | None,
    proof: Path | None,
    key_env: str,
    dev_account: int | None,
) -> None:
    """Record ACCOUNT's identity, encrypted to the regulator's current key and to the account's own
    key (compliance officer; the account must be onboarded).

    The account's key comes from --proof or --public-key (checked against ACCOUNT); on a devnet,
    a development account's key is used when neither is given."""
    record = Identity.load(identity_file)
    account = checksum(account)
    market = open_market(options)
    account_key = _account_key(market, account, public_key, proof)
    receipt = market.compliance.record_identity(signer(key_env, dev_account), account, record, account_key)
    stored = market.compliance.identity_record(account)
    assert stored is not None
    click.echo(
        f"recorded the identity of {account}, encrypted to regulator key epoch {stored.epoch} and to the account "
        f"(gas {number(receipt['gasUsed'])})"
    )


@identity.command("show")
@pass_options
@click.argument("accounts", nargs=-1)
@viewer_key_option
@json_option
def identity_show(options: Options, accounts: tuple[str, ...], viewer_key_env: str | None, as_json: bool) -> None:
    """Show the identities of ACCOUNTS (default: every account with one) that the viewer's key opens.

    The regulator's disclosure key opens every record made while it was the published key; an
    account's own key opens its record; without --viewer-key-env only addresses are shown."""
    key = viewer_key(viewer_key_env)
    market = open_market(options)
    events = market.compliance.identity_events()
    disclosure = market.compliance.disclosure(key, events)
    recorded = market.compliance.recorded_accounts(events)
    listed = [checksum(a) for a in accounts] if accounts else recorded
    if as_json:
        shown = [
            {"account": a, "recorded": a in recorded, "identity": _as_dict(disclosure.identity(a))} for a in listed
        ]
        echo_json({"note": disclosure.note, "accounts": shown})
        return
    for account in listed:
        found = disclosure.identity(account)
        if found is not None:
            text = f"{found.legal_name}  LEI {found.lei}  {found.jurisdiction}"
        else:
            text = "(not disclosed)" if account in recorded else "(no identity recorded)"
        click.echo(f"{account}  {text}")
    click.echo(disclosure.note)


def _as_dict(found: Identity | None) -> dict[str, str] | None:
    return None if found is None else found.as_dict()
