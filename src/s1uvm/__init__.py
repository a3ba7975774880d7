"""s1uvm: SentinelOne threats, vulnerabilities and assets in one store, with their lifecycle.

The library in three lines::

    import s1uvm

    s1uvm.sync_console("https://acme.sentinelone.net", token, "s1uvm.db")
    with s1uvm.open_store("s1uvm.db") as store:
        for finding in store.query_findings(severity="critical", state="open"):
            ...

Every error meant for the user is an ``s1uvm.Error`` carrying the command line's exit code
for it; docs/library.md has the rest."""

# Before the imports: modules below read it while this package is still being imported.
__version__ = "0.1.0"

from s1uvm._api import sync_console
from s1uvm._errors import Error, UsageError
from s1uvm.config import ConfigError
from s1uvm.export import ExportError
from s1uvm.model import Kind, Lifecycle, Severity, State
from s1uvm.s1 import (
    AuthenticationError,
    PermissionDenied,
    S1Error,
    TLSError,
    TokenError,
    TransportError,
)
from s1uvm.store import Store, StoreError, open_store
from s1uvm.sync import RunResult

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "Error",
    "ExportError",
    "Kind",
    "Lifecycle",
    "PermissionDenied",
    "RunResult",
    "S1Error",
    "Severity",
    "State",
    "Store",
    "StoreError",
    "TLSError",
    "TokenError",
    "TransportError",
    "UsageError",
    "__version__",
    "open_store",
    "sync_console",
]
