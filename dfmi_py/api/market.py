"""One entry point to a deployed market: the chain, its manifest and every component's API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dfmi_py.api.accounts import AccountRoles, account_roles
from dfmi_py.api.cash import Cash
from dfmi_py.api.compliance import Compliance
from dfmi_py.api.derivatives import Derivatives
from dfmi_py.api.fund import DefaultFund
from dfmi_py.api.guard import guard_public_methods
from dfmi_py.api.netting import Netting
from dfmi_py.api.oracle import Oracle
from dfmi_py.api.risk import RiskReader
from dfmi_py.api.settlement import Settlement
from dfmi_py.api.waterfall import Waterfall, waterfalls
from dfmi_py.chain.client import Chain
from dfmi_py.deploy.suite import Deployment, load_deployment
from dfmi_py.errors import InputError


@dataclass(frozen=True)
class Underlying:
    """One market of the suite: an underlying, its price feed and the derivative engine that
    settles on it (every engine is behind the one default fund).

    Attributes:
        name: The market's name in the deployment configuration (``--market NAME``).
        description: What the feed prices (``"EUR / USD"``), as the oracle reports it.
        oracle: Its price feed.
        derivatives: Its derivative engine.
    """

    name: str
    description: str
    oracle: Oracle
    derivatives: Derivatives


@guard_public_methods
@dataclass
class Market:
    """A deployed suite, ready to use.

    Example::

        market = Market.connect("http://127.0.0.1:8545")
        market.cash.balance_of("0x…")
    """

    deployment: Deployment
    compliance: Compliance
    cash: Cash
    oracle: Oracle
    derivatives: Derivatives
    fund: DefaultFund
    settlement: Settlement
    netting: Netting
    #: Every market (underlying) by name, in configuration order; ``oracle`` and ``derivatives``
    #: are the first's.
    markets: dict[str, Underlying]

    @property
    def chain(self) -> Chain:
        """The chain the suite is on."""
        return self.deployment.chain

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> Market:
        """Wrap an existing :class:`Deployment`."""
        chain = deployment.chain
        markets = {
            record.name: Underlying(
                record.name,
                record.description,
                Oracle(chain, deployment.contract(record.oracle)),
                Derivatives(chain, deployment.contract(record.engine)),
            )
            for record in deployment.markets
        }
        first = next(iter(markets.values()))
        return cls(
            deployment=deployment,
            compliance=Compliance(
                chain, deployment.registry, deployed_at=deployment.manifest.contracts["ComplianceRegistry"].block
            ),
            cash=Cash(chain, deployment.cash),
            oracle=first.oracle,
            derivatives=first.derivatives,
            fund=DefaultFund(chain, deployment.fund),
            settlement=Settlement(chain, deployment.settlement),
            netting=Netting(chain, deployment.netting),
            markets=markets,
        )

    @property
    def risk(self) -> RiskReader:
        """The risk figures (IM models, backtest, fund sizing, regimes) read from this market's chain."""
        return RiskReader(self)

    def underlying(self, name: str | None = None) -> Underlying:
        """The market ``name`` (its case does not matter), or the first one when ``name`` is ``None``.

        Raises:
            InputError: no market of that name (the message lists them).
        """
        if name is None:
            return next(iter(self.markets.values()))
        found = self.markets.get(name) or next(
            (market for key, market in self.markets.items() if key.lower() == name.lower()), None
        )
        if found is None:
            raise InputError(f"no market {name!r}: this deployment has {', '.join(self.markets)}")
        return found

    def account_roles(self, addresses: Sequence[str], indices: Sequence[int] | None = None) -> list[AccountRoles]:
        """What each account is in the suite: roles, markets it reports for, fund membership,
        compliance status (see :func:`dfmi_py.api.accounts.account_roles`)."""
        return account_roles(self.deployment, addresses, indices)

    def waterfalls(self, from_block: int = 0, market: str | None = None) -> list[Waterfall]:
        """Every default close-out of every market (or of ``market``) with how its loss was paid,
        tranche by tranche, in the order they happened (each labelled with its market).

        Raises:
            InputError: no market of that name.
        """
        chosen = [self.underlying(market)] if market is not None else list(self.markets.values())
        found = [
            replace(waterfall, market=underlying.name)
            for underlying in chosen
            for waterfall in waterfalls(underlying.derivatives, self.fund, from_block)
        ]
        return sorted(found, key=lambda waterfall: waterfall.block)

    @classmethod
    def connect(
        cls, rpc_url: str, *, manifest_dir: Path | None = None, timeout: float = 30.0, retries: bool = True
    ) -> Market:
        """Connect to ``rpc_url`` and open the suite its manifest records (``timeout`` and
        ``retries`` as in :meth:`dfmi_py.chain.Chain.connect`).

        Raises:
            ChainConnectionError: nothing answers at ``rpc_url``.
            ManifestError: the suite is not deployed there.
        """
        return cls.from_deployment(
            load_deployment(Chain.connect(rpc_url, timeout=timeout, retries=retries), manifest_dir)
        )
