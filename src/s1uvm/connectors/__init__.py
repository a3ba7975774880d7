"""The three connectors. Each says which endpoint and filters to walk and how to normalise a
page; the sync engine runs them."""

from s1uvm.connectors.assets import AssetsConnector
from s1uvm.connectors.base import Batch, Connector, Context, Plan
from s1uvm.connectors.threats import ThreatsConnector
from s1uvm.connectors.vulnerabilities import VulnerabilitiesConnector

ORDER: tuple[str, ...] = ("assets", "threats", "vulnerabilities")


def make(name: str) -> Connector:
    if name == "assets":
        return AssetsConnector()
    if name == "threats":
        return ThreatsConnector()
    if name == "vulnerabilities":
        return VulnerabilitiesConnector()
    raise ValueError(f"unknown connector {name!r}; known: {', '.join(ORDER)}")


__all__ = [
    "ORDER",
    "AssetsConnector",
    "Batch",
    "Connector",
    "Context",
    "Plan",
    "ThreatsConnector",
    "VulnerabilitiesConnector",
    "make",
]
