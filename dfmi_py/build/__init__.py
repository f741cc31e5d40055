"""Compiling the Solidity sources: choosing a compiler and producing artifacts."""

from dfmi_py.build.compiler import Artifact, Artifacts, compile_contracts

__all__ = ["Artifact", "Artifacts", "compile_contracts"]
