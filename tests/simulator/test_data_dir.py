"""``--data DIR``: the user's own API objects, served byte for byte, with filters and paging."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx2
import msgspec
import pytest

from s1uvm.simulator import Console, ConsoleTransport, SimConfig, SimulatorServer
from s1uvm.simulator.endpoints import DataFileError
from tests.connectors.real import REAL

FILES = {
    "agents.json": "agents_v21_cribl_2025.json",
    "threats.json": "threats_v21_elastic.json",
    "risks.json": "app_mgmt_risks_elastic_2025.json",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    for name, source in FILES.items():
        shutil.copy(REAL / source, tmp_path / name)
    return tmp_path


@pytest.fixture
def client(data_dir: Path) -> Iterator[httpx2.Client]:
    console = Console(SimConfig(data_dir=data_dir))
    with (
        SimulatorServer(console) as server,
        httpx2.Client(
            base_url=f"{server.url}/web/api/v2.1",
            headers={"Authorization": f"ApiToken {console.token}"},
        ) as c,
    ):
        yield c


class RawPage(msgspec.Struct):
    data: list[msgspec.Raw]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/agents", "agents.json"),
        ("/threats", "threats.json"),
        ("/application-management/risks", "risks.json"),
    ],
)
def test_records_are_served_byte_for_byte(
    client: httpx2.Client, data_dir: Path, path: str, name: str
) -> None:
    original = msgspec.json.decode((data_dir / name).read_bytes(), type=list[msgspec.Raw])
    body = client.get(path, params={"limit": 1000}).raise_for_status().content
    served = msgspec.json.decode(body, type=RawPage).data
    assert sorted(bytes(r) for r in served) == sorted(bytes(r) for r in original)


def test_paging_and_filters_work_on_raw_records(client: httpx2.Client) -> None:
    first = client.get("/application-management/risks", params={"limit": 2}).json()
    assert len(first["data"]) == 2
    assert first["pagination"]["totalItems"] == 5
    rest = client.get(
        "/application-management/risks",
        params={"limit": 10, "cursor": first["pagination"]["nextCursor"]},
    ).json()
    assert len(rest["data"]) == 3
    assert rest["pagination"]["nextCursor"] is None
    high = client.get("/application-management/risks", params={"severities": "HIGH"}).json()
    assert {r["cveId"] for r in high["data"]} == {"CVE-2025-0411", "CVE-2022-22977"}
    recent = client.get("/threats", params={"updatedAt__gte": "2024-01-01T00:00:00Z"}).json()
    assert [t["threatInfo"]["threatName"] for t in recent["data"]] == ["UC232A_Windows_Setup.exe"]
    agent = client.get("/agents", params={"ids": "0000000000004733528"}).json()
    assert agent["data"][0]["computerName"] == "AccountName-S1"


def test_scope_objects_come_from_the_records(client: httpx2.Client, data_dir: Path) -> None:
    agents = msgspec.json.decode((data_dir / "agents.json").read_bytes())
    threats = msgspec.json.decode((data_dir / "threats.json").read_bytes())
    scoped = agents + [t["agentRealtimeInfo"] for t in threats]
    sites = client.get("/sites").json()["data"]["sites"]
    assert {s["id"] for s in sites} == {o["siteId"] for o in scoped}
    accounts = client.get("/accounts").json()["data"]
    assert {a["id"] for a in accounts} == {o["accountId"] for o in scoped}
    assert "0000000000000081821" in {s["id"] for s in sites}  # leading zeros kept


def test_missing_files_are_empty_and_broken_files_are_refused(tmp_path: Path) -> None:
    empty = Console(SimConfig(data_dir=tmp_path))
    with httpx2.Client(
        transport=ConsoleTransport(empty),
        base_url="http://s/web/api/v2.1",
        headers={"Authorization": f"ApiToken {empty.token}"},
    ) as c:
        assert c.get("/threats").json()["data"] == []
    (tmp_path / "threats.json").write_text('{"not": "an array"}')
    with pytest.raises(DataFileError, match="not a JSON array"):
        Console(SimConfig(data_dir=tmp_path))
    (tmp_path / "threats.json").write_text('[{"threatInfo": {}}, {"id": 7}]')
    broken = Console(SimConfig(data_dir=tmp_path))  # served as given, broken records too
    with httpx2.Client(
        transport=ConsoleTransport(broken),
        base_url="http://s/web/api/v2.1",
        headers={"Authorization": f"ApiToken {broken.token}"},
    ) as c:
        assert len(c.get("/threats").json()["data"]) == 2


def test_advance_is_refused_for_data_dirs(client: httpx2.Client) -> None:
    r = client.post(
        str(client.base_url).rstrip("/").replace("/web/api/v2.1", "") + "/_sim/advance",
        json={"hours": 1},
    )
    assert r.status_code == 400
    assert "--data" in r.json()["errors"][0]["detail"]
