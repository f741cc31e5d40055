"""Who holds which role in a deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dfmi_py.chain.accounts import dev_account
from dfmi_py.errors import ConfigError


class RoleConfig(BaseModel):
    """One account per role (one role per actor).

    Attributes:
        admin: Holds the ``DEFAULT_ADMIN_ROLE`` of the registry, the tokens and the engine (hand it
            to a multisig in production); the oracle, the fund, the settlement and the netting
            contracts have no admin.
        compliance_officer: Onboards, freezes, unfreezes and offboards accounts.
        regulator: Regulator observer; reads everything, moves nothing.
        master_minter: Sets minters' allowances.
        minter: Issues cash within its allowance.
        burner: Redeems (burns) cash handed to it.
        pauser: Pauses and unpauses the cash token and the security.
        reporters: The oracle's initial reporters, each posting prices (at least
            ``jump_quorum + max_faults`` of the oracle's parameters: 5 with the defaults). After
            deployment only they change their set, by their own k-of-n.
        minter_allowance: The minter's initial allowance, in the token's smallest unit.
        issuer: Issues and redeems the tokenised security; none when ``None``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    admin: str
    compliance_officer: str
    regulator: str
    master_minter: str
    minter: str
    burner: str
    pauser: str
    reporters: tuple[str, ...] = ()
    minter_allowance: int = 10**18
    issuer: str | None = None

    @field_validator("admin", "compliance_officer", "regulator", "master_minter", "minter", "burner", "pauser")
    @classmethod
    def _address(cls, value: str) -> str:
        return checked_address(value)

    @field_validator("issuer")
    @classmethod
    def _optional_address(cls, value: str | None) -> str | None:
        return None if value is None else checked_address(value)

    @field_validator("reporters")
    @classmethod
    def _reporters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(checked_address(v) for v in value)

    @classmethod
    def parse(cls, data: object, source: str = "roles") -> RoleConfig:
        """Validate roles given as a mapping (parsed JSON or TOML).

        Raises:
            ConfigError: a role missing, unknown, or not an address: every problem, named, in one line.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or '(top level)'}: {_plain(error)}"
                for error in exc.errors()
            )
            raise ConfigError(f"{source}: {problems}") from None

    @classmethod
    def load(cls, path: Path) -> RoleConfig:
        """Read and validate a JSON roles file (``dfmi deploy --roles FILE``).

        Raises:
            ConfigError: the file cannot be read, is not JSON, or :meth:`parse` refuses it.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the roles ({exc.strerror})") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        return cls.parse(data, str(path))

    @classmethod
    def devnet(cls) -> RoleConfig:
        """Roles on the local chain's development accounts (see :data:`DEV_ROLE_INDEX`)."""
        roles = {role: dev_account(index).address for role, index in DEV_ROLE_INDEX.items()}
        reporters = tuple(dev_account(index).address for index in DEV_REPORTER_INDICES)
        return cls(**roles, reporters=reporters)


#: Development account index per role on a local chain; members start at :data:`FIRST_MEMBER_INDEX`.
DEV_ROLE_INDEX = {
    "admin": 0,
    "compliance_officer": 1,
    "regulator": 2,
    "master_minter": 3,
    "minter": 4,
    "burner": 5,
    "pauser": 6,
    "issuer": 19,
}
FIRST_MEMBER_INDEX = 7
#: Development accounts that report prices on a local chain.
DEV_REPORTER_INDICES = (16, 17, 18, 20, 21)
#: Development accounts a local chain must fund for the roles above (``anvil --accounts``).
DEV_ACCOUNT_COUNT = max(*DEV_ROLE_INDEX.values(), *DEV_REPORTER_INDICES) + 1


def dev_account_plan() -> list[tuple[int, str, str]]:
    """What each development account is for on a devnet: ``(index, address, purpose)``, by index.

    The roles of :meth:`RoleConfig.devnet`, the reporters of every market that does not name its
    own, and members (or anyone else) on the rest.
    """
    labels = {"admin": "admin (and deployer)", "pauser": "pauser (cash, security)", "issuer": "security issuer"}
    purpose = {index: labels.get(role, role.replace("_", " ")) for role, index in DEV_ROLE_INDEX.items()}
    purpose |= {index: "oracle reporter" for index in DEV_REPORTER_INDICES}
    return [
        (index, dev_account(index).address, purpose.get(index, "member" if index >= FIRST_MEMBER_INDEX else ""))
        for index in range(DEV_ACCOUNT_COUNT)
    ]


def _plain(error: Any) -> str:
    """pydantic's message for one error, as the rest of the toolkit words it."""
    if error["type"] == "missing":
        return "missing: every role needs an address"
    if error["type"] == "extra_forbidden":
        return "unknown role (a typo?)"
    return str(error["msg"]).removeprefix("Value error, ")


def checked_address(value: str) -> str:
    """``value`` as a checksummed address.

    Raises:
        ValueError: it is not a 20-byte hex address, or its mixed case is a wrong checksum.
    """
    lowered = value.lower()
    if not (len(value) == 42 and lowered.startswith("0x") and all(c in "0123456789abcdef" for c in lowered[2:])):
        raise ValueError(f"{value!r} is not an Ethereum address")
    if value != lowered and not is_checksum_address(value):
        raise ValueError(f"{value!r} has a wrong checksum")
    return to_checksum_address(value)
