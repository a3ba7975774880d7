"""A faithful, simulated SentinelOne console (Management API v2.1) for tests, demos and
benchmarks: generated or file-backed data, scoped tokens, cursor paging, filters, rate limits,
fault injection, a deterministic clock, and real HTTP(S).

Python use::

    from s1uvm.simulator import Console, SimConfig, SimulatorServer

    console = Console(SimConfig(seed=7, agents=500))
    with SimulatorServer(console) as server:        # real HTTP on loopback
        ...  # server.url, console.token

    transport = ConsoleTransport(console)             # or in-process, without a socket
"""

from s1uvm.simulator.api import Console, Request, Response, SimConfig
from s1uvm.simulator.auth import TokenSpec
from s1uvm.simulator.faults import FaultSpecError
from s1uvm.simulator.server import SimulatorServer, TLSUnavailable
from s1uvm.simulator.transport import ConsoleTransport

__all__ = [
    "Console",
    "ConsoleTransport",
    "FaultSpecError",
    "Request",
    "Response",
    "SimConfig",
    "SimulatorServer",
    "TLSUnavailable",
    "TokenSpec",
]
