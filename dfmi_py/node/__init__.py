"""Local development chains."""

from dfmi_py.node.anvil import AnvilNode, find_anvil, free_port

__all__ = ["AnvilNode", "find_anvil", "free_port"]
