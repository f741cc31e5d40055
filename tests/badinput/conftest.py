"""The bad-input table's world: the session chain's base scenario plus what the cases refuse to
touch (cash in members' wallets, a frozen member, a settled and a collecting netting round), set
up once and kept between the table's tests (see :class:`tests.helpers.SetupCache`)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dfmi_py.api.market import Market
from dfmi_py.deploy.suite import Deployment
from dfmi_py.node.anvil import AnvilNode
from tests.helpers import Roles, SetupCache

#: Whole units of cash each of the first three members holds.
WALLET = 1000


@dataclass(frozen=True)
class World:
    """What the cases name: the node, the manifests, and the rounds by state.

    Attributes:
        rpc_url: The session chain.
        deployments_dir: Its manifests.
        settled_round: A netting round already settled (member 7 paid 40 to member 8).
        open_round: A round still collecting obligations.
        frozen: A member the compliance officer froze.
    """

    rpc_url: str
    deployments_dir: Path
    settled_round: int
    open_round: int
    frozen: str


def _build(market: Market, roles: Roles) -> tuple[int, int]:
    from dfmi_py.api.netting import Netting

    chain = market.chain
    decimals = market.cash.decimals
    netting = Netting(chain, market.deployment.netting)
    market.compliance.onboard(roles.officer, [netting.address, market.fund.address])
    for member in roles.members[:3]:
        chain.transact(market.cash.contract.functions.mint(member.address, WALLET * 10**decimals), roles.minter)
    market.compliance.freeze(roles.officer, roles.members[5].address)
    payer, payee = roles.members[0], roles.members[1]
    settled = netting.open_round(payer)
    obligation = netting.obligation(settled, payer.address, payee.address, 40 * 10**decimals)
    netting.register_batch(payer, [netting.signed_by_both(obligation, payer, payee)])
    netting.close(payer, settled)
    netting.submit_nets(payer, settled)
    netting.approve(payer, 40 * 10**decimals)
    netting.settle(payer, settled)
    netting.approve(payer, 0)
    return settled, netting.open_round(payer)


@pytest.fixture
def world(
    setup_cache: SetupCache, request: pytest.FixtureRequest, node: AnvilNode, deployment: Deployment, roles: Roles
) -> World:
    """The table's world, set up for the first case and kept for the others."""
    settled, collecting = setup_cache.setup(request, lambda: _build(Market.from_deployment(deployment), roles))
    return World(node.rpc_url, deployment.manifest_file.parent, settled, collecting, roles.members[5].address)


class _NotANode(http.server.BaseHTTPRequestHandler):
    """An HTTP server that answers every request with a web page: not a JSON-RPC node."""

    def _page(self) -> None:
        body = b"<html><body>hello</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def not_a_node() -> Iterator[str]:
    """The URL of a web server that is not a JSON-RPC node."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotANode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def markets_reused() -> Iterator[None]:
    """:meth:`Market.connect` opens each (node, manifests) pair once for the module and hands the
    same :class:`Market` to every later command: opening one builds a web3 contract object per
    component (about 0.1 CPU-second), and the table runs a hundred commands against the same
    suite. Only a connection that succeeded is kept, so every case about an unreachable node, a
    missing or foreign manifest still goes the whole way."""
    opened: dict[tuple[str, Path | None], Market] = {}
    connect = Market.connect.__func__  # type: ignore[attr-defined]

    def reused(cls: type[Market], rpc_url: str, *, manifest_dir: Path | None = None, **kw: object) -> Market:
        key = (rpc_url, manifest_dir)
        if key not in opened:
            opened[key] = connect(cls, rpc_url, manifest_dir=manifest_dir, **kw)
        return opened[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Market, "connect", classmethod(reused))
        yield
