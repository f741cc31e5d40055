"""Local development chains: Anvil, and Hardhat's node as a second implementation."""

from dfmi_py.node.anvil import AnvilNode, find_anvil
from dfmi_py.node.hardhat import HardhatNode, find_hardhat
from dfmi_py.node.process import NodeProcess, free_port

__all__ = ["AnvilNode", "HardhatNode", "NodeProcess", "find_anvil", "find_hardhat", "free_port"]
