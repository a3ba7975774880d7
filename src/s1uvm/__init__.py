"""s1uvm: SentinelOne threats, vulnerabilities and assets in one store, with their lifecycle."""

__version__ = "0.1.0"
