"""The local Anvil: start, answer, stop by PID, refuse a busy port."""

import socket
import subprocess
import sys

import pytest
from web3 import Web3

from dfmi_py.errors import NodeError
from dfmi_py.node import AnvilNode, free_port
from tests.helpers import process_alive


def test_node_answers_on_the_given_port_with_the_given_chain_id_and_stops_by_pid():
    port = free_port()
    with AnvilNode(port, chain_id=4242, accounts=3) as node:
        assert node.rpc_url == f"http://127.0.0.1:{port}"
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.chain_id == 4242
        assert len(w3.eth.accounts) == 3
        pid = node.pid
        assert pid is not None
        assert process_alive(pid)
    assert not process_alive(pid)
    assert node.pid is None


def test_node_runs_with_history_pruned_so_it_writes_nothing_to_disk():
    assert "--prune-history" in AnvilNode().command()


def test_node_refuses_a_port_in_use_with_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(NodeError, match=f"port {port}"):
            AnvilNode(port).start(timeout=10)


def test_stop_is_idempotent():
    node = AnvilNode().start()
    node.stop()
    node.stop()


def test_missing_executable_is_reported(tmp_path):
    with pytest.raises(NodeError, match="cannot start anvil"):
        AnvilNode(executable=tmp_path / "no-such-anvil").start()


@pytest.mark.parametrize(
    "ending",
    ["raise RuntimeError('a cell failed before node.stop()')", "pass  # the script simply ends"],
    ids=["an-exception", "no-stop"],
)
def test_a_node_never_outlives_the_process_that_started_it(ending):
    # What a notebook kernel or a script does: start a node, never reach stop(). The node runs in
    # its own session (Ctrl-C at the terminal does not reach it), so the interpreter's exit must stop it.
    script = f"from dfmi_py.node import AnvilNode\nnode = AnvilNode().start()\nprint(node.pid, flush=True)\n{ending}\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split()[0])
    assert not process_alive(pid), f"the node (pid {pid}) outlived its parent"
