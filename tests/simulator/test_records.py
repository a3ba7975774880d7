"""Generated records have the real shapes: every field path and JSON type seen in the real,
redacted responses (tests/fixtures/real) appears in what the simulator serves, nothing is
invented beyond a short documented list, and the quirks connectors must survive (string ids
and scores, comma-joined IPs, mixed timestamp precision) are all present. Records are fetched
through the API, so rendering is tested as served."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from s1uvm.simulator import Console, SimConfig
from s1uvm.simulator.endpoints import generated
from s1uvm.simulator.generator import build
from s1uvm.simulator.timefmt import parse_iso
from tests.simulator.world_helpers import (
    EPOCH,
    SAMPLES,
    by_id,
    client,
    everything,
    json_type,
    paths,
    real,
    shape,
    timestamps,
    walk,
)

Served = dict[str, list[dict[str, Any]]]

# (path, type) pairs generated although the real samples do not show them, and why.
DOCUMENTED_EXTRAS: dict[str, set[tuple[str, str]]] = {
    "threats": {
        # The samples' agents are all live; a decommissioned agent carries the time.
        ("agentRealtimeInfo.agentDecommissionedAt", "string"),
    },
    "agents": {
        # The sample's one agent has no serial and sits in a domain; most machines have a
        # serial, and hosts outside Active Directory have no distinguished names.
        ("serialNumber", "string"),
        ("activeDirectory.computerDistinguishedName", "null"),
        ("activeDirectory.lastUserDistinguishedName", "null"),
        ("activeDirectory.userPrincipalName", "null"),
    },
    "risks": set(),
}

# Fields holding an 18–19 digit decimal id (s1-api.md §7), per endpoint.
ID_FIELDS = {
    "threats": (
        "id",
        "threatInfo.threatId",
        "threatInfo.collectionId",
        "agentRealtimeInfo.agentId",
        "agentRealtimeInfo.accountId",
        "agentRealtimeInfo.siteId",
        "agentRealtimeInfo.groupId",
        "agentRealtimeInfo.networkInterfaces[].id",
        "agentDetectionInfo.accountId",
        "agentDetectionInfo.siteId",
        "agentDetectionInfo.groupId",
    ),
    "agents": ("id", "accountId", "siteId", "groupId", "networkInterfaces[].id"),
    "risks": ("id", "endpointId"),
}

# Fields real consoles report to the second, and fields they report to the microsecond.
WHOLE_SECONDS = {
    "agents": ("osStartTime",),
    "risks": ("lastScanDate", "publishedDate"),
}
MICROSECONDS = {
    "agents": (
        "createdAt",
        "updatedAt",
        "registeredAt",
        "lastActiveDate",
        "scanStartedAt",
        "scanFinishedAt",
        "lastSuccessfulScanDate",
    ),
    "threats": (
        "threatInfo.createdAt",
        "threatInfo.updatedAt",
        "agentDetectionInfo.agentRegisteredAt",
        "mitigationStatus[].mitigationStartedAt",
        "mitigationStatus[].lastUpdate",
    ),
    "risks": ("detectionDate",),
}


@pytest.fixture(scope="module")
def console() -> Console:
    return Console(SimConfig(seed=2, agents=400, threats_per_agent=1.0, epoch_us=EPOCH))


@pytest.fixture(scope="module")
def served(console: Console) -> Served:
    return everything(console)


def values(records: list[dict[str, Any]], path: str) -> list[Any]:
    return [v for r in records for p, v in paths(r) if p == path]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_real_field_path_and_type_is_generated(served: Served, name: str) -> None:
    missing = sorted(shape(real(name)) - shape(served[name]))
    assert missing == [], f"{name}: generated records lack {missing}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_nothing_is_invented_beyond_the_documented_extras(served: Served, name: str) -> None:
    extra = shape(served[name]) - shape(real(name))
    assert extra <= DOCUMENTED_EXTRAS[name], sorted(extra - DOCUMENTED_EXTRAS[name])
    unused = DOCUMENTED_EXTRAS[name] - extra
    assert not unused, f"stale allowance (no longer generated): {sorted(unused)}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fields_seen_with_several_types_are_generated_with_each(served: Served, name: str) -> None:
    """Where the real samples show a field both null and a string (or null and a boolean),
    parsers must handle both, so the generator must produce both across records."""
    seen: dict[str, set[str]] = {}
    for p, t in shape(real(name)):
        seen.setdefault(p, set()).add(t)
    mixed = {p: ts for p, ts in seen.items() if "null" in ts and len(ts) > 1}
    if name == "threats":
        assert {"threatInfo.sha256", "threatInfo.publisherName", "threatInfo.fileExtension"} <= set(
            mixed
        )
    generated_types: dict[str, Counter[str]] = {}
    for r in served[name]:
        for p, v in paths(r):
            generated_types.setdefault(p, Counter())[json_type(v)] += 1
    for p, ts in mixed.items():
        counts = generated_types.get(p, Counter())
        assert ts <= set(counts), (p, ts, counts)
        # Not a one-off: each variant is common enough that a test client meets it.
        assert min(counts[t] for t in ts) >= 3, (p, counts)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ids_are_decimal_strings_of_18_or_19_digits(served: Served, name: str) -> None:
    for field in ID_FIELDS[name]:
        ids = values(served[name], field)
        assert ids, field
        bad = [i for i in ids if not (isinstance(i, str) and re.fullmatch(r"\d{18,19}", i))]
        assert bad == [], (field, bad[:5])
    assert len({r["id"] for r in served[name]}) == len(served[name])


def test_threats_are_v21_shaped(served: Served) -> None:
    threats = served["threats"]
    assert len(threats) > 100
    for t in threats:
        assert "createdAt" not in t and "updatedAt" not in t  # nested in v2.1 (s1-api.md §8.1)
        assert t["id"] == t["threatInfo"]["threatId"]
        entries = t["mitigationStatus"]
        assert isinstance(entries, list)
        assert bool(entries) == (t["threatInfo"]["mitigationStatus"] == "mitigated")
        starts = [parse_iso(e["mitigationStartedAt"]) for e in entries]
        assert starts == sorted(starts, reverse=True)  # newest first, as in the 2025 sample
    info = [t["threatInfo"] for t in threats]
    assert {i["incidentStatus"] for i in info} == {"unresolved", "in_progress", "resolved"}
    assert {i["confidenceLevel"] for i in info} <= {"malicious", "suspicious", "n/a"}
    assert {i["analystVerdict"] for i in info} <= {
        "true_positive",
        "false_positive",
        "suspicious",
        "undefined",
    }
    assert {i["mitigationStatus"] for i in info} == {
        "mitigated",
        "not_mitigated",
        "marked_as_benign",
    }
    for i in info:
        if i["mitigationStatus"] == "marked_as_benign":
            assert i["analystVerdict"] == "false_positive"


def test_threat_ips_are_comma_joined_strings_of_the_agents_addresses(served: Served) -> None:
    threats = served["threats"]
    for t in threats:
        detection, nics = t["agentDetectionInfo"], t["agentRealtimeInfo"]["networkInterfaces"]
        assert isinstance(detection["agentIpV4"], str) and isinstance(detection["agentIpV6"], str)
        assert detection["agentIpV4"] == ",".join(ip for n in nics for ip in n["inet"])
        assert detection["agentIpV6"] == ",".join(ip for n in nics for ip in n["inet6"])
    assert any("," in t["agentDetectionInfo"]["agentIpV4"] for t in threats)
    assert any("," in t["agentDetectionInfo"]["agentIpV6"] for t in threats)


def test_risks_carry_the_real_quirks(served: Served) -> None:
    risks = served["risks"]
    assert len(risks) > 2000
    bands = {"LOW": (0.1, 3.9), "MEDIUM": (4.0, 6.9), "HIGH": (7.0, 8.9), "CRITICAL": (9.0, 10.0)}
    for r in risks:
        assert "updatedAt" not in r
        assert isinstance(r["baseScore"], str) and re.fullmatch(r"\d{1,2}\.\d{2}", r["baseScore"])
        lo, hi = bands[r["severity"]]  # upper case, and consistent with the score
        assert lo <= float(r["baseScore"]) <= hi
        assert r["application"] == f"{r['applicationName']} {r['applicationVersion']}"
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}", r["cveId"])
        assert isinstance(r["daysDetected"], int) and r["daysDetected"] >= 0
    assert {r["severity"] for r in risks} == set(bands)
    assert any("&lt;" in r["applicationVendor"] for r in risks)  # HTML-escaped, as S1 sends
    assert any("&amp;" in r["applicationVendor"] for r in risks)


def test_agents_look_like_a_fleet(served: Served) -> None:
    agents = served["agents"]
    assert any(len(a["networkInterfaces"]) > 1 for a in agents)
    assert any(n["inet"] == [] for a in agents for n in a["networkInterfaces"])
    assert any(a["serialNumber"] is None for a in agents)
    assert any("-" in n["physical"] for a in agents for n in a["networkInterfaces"])
    assert any(a["isDecommissioned"] for a in agents)
    for a in agents:
        assert re.fullmatch(r"[0-9a-f]{32}", a["uuid"])
        assert a["lastIpToMgmt"] == a["networkInterfaces"][0]["inet"][0]
        assert a["infected"] == (a["activeThreats"] > 0)
        assert a["networkStatus"] == ("connected" if a["isActive"] else "disconnected")
        if a["isDecommissioned"]:
            assert not a["isActive"]
        assert a["lastSuccessfulScanDate"] == a["scanFinishedAt"]


def test_timestamps_vary_in_precision_as_the_real_ones_do(served: Served) -> None:
    for name, fields in WHOLE_SECONDS.items():
        for field in fields:
            got = values(served[name], field)
            assert got and all(re.fullmatch(r".*T\d{2}:\d{2}:\d{2}Z", v) for v in got), field
    for name, fields in MICROSECONDS.items():
        for field in fields:
            got = values(served[name], field)
            assert got and all(re.fullmatch(r".*\.\d{6}Z", v) for v in got), field
            # Real instants carry real microseconds, not a padded whole second.
            padded = sum(1 for v in got if v.endswith(".000000Z"))
            assert padded <= len(got) * 0.01, (field, padded, len(got))
    identified = values(served["threats"], "threatInfo.identifiedAt")
    kinds = Counter(
        "s" if v.endswith(":00Z") or "." not in v else ("ms" if v.endswith("000Z") else "us")
        for v in identified
    )
    assert set(kinds) == {"s", "ms", "us"}, kinds
    assert all(v.endswith("000Z") for v in values(served["agents"], "firstFullModeTime"))


def test_no_timestamp_is_later_than_the_console_clock(served: Served) -> None:
    for name, records in served.items():
        for r in records:
            for p, v in timestamps(r):
                assert parse_iso(v) <= EPOCH, (name, r["id"], p, v)


def test_timestamps_are_in_a_plausible_order(served: Served) -> None:
    def at(v: str) -> int:
        return parse_iso(v)

    for a in served["agents"]:
        assert at(a["registeredAt"]) <= at(a["createdAt"]) <= at(a["updatedAt"])
        assert at(a["registeredAt"]) <= at(a["lastActiveDate"])
        assert at(a["registeredAt"]) <= at(a["scanStartedAt"]) < at(a["scanFinishedAt"])
        assert at(a["registeredAt"]) <= at(a["firstFullModeTime"])
    for t in served["threats"]:
        i = t["threatInfo"]
        assert at(i["identifiedAt"]) <= at(i["createdAt"]) <= at(i["updatedAt"])
        for e in t["mitigationStatus"]:
            assert at(i["createdAt"]) < at(e["mitigationStartedAt"]) <= at(e["mitigationEndedAt"])
    second = 1_000_000
    for r in served["risks"]:
        assert at(r["publishedDate"]) <= at(r["detectionDate"])
        assert at(r["detectionDate"]) < at(r["lastScanDate"]) + second


def test_records_agree_with_each_other(served: Served) -> None:
    """A connector joins threats and risks to agents; the joins must hold as on a console."""
    agents = by_id(served["agents"])
    open_threats: Counter[str] = Counter()
    for t in served["threats"]:
        rt = t["agentRealtimeInfo"]
        a = agents[rt["agentId"]]
        assert rt["agentComputerName"] == a["computerName"]
        assert rt["agentUuid"] == a["uuid"] == t["agentDetectionInfo"]["agentUuid"]
        assert (rt["agentOsType"], rt["agentMachineType"]) == (a["osType"], a["machineType"])
        assert (rt["agentIsActive"], rt["agentIsDecommissioned"]) == (
            a["isActive"],
            a["isDecommissioned"],
        )
        assert (rt["accountId"], rt["siteId"], rt["groupId"]) == (
            a["accountId"],
            a["siteId"],
            a["groupId"],
        )
        assert rt["agentMitigationMode"] == a["mitigationMode"]
        assert rt["activeThreats"] == a["activeThreats"]
        assert [(n["id"], n["physical"]) for n in rt["networkInterfaces"]] == [
            (n["id"], n["physical"]) for n in a["networkInterfaces"]
        ]
        assert (rt["scanStartedAt"], rt["scanFinishedAt"]) == (
            a["scanStartedAt"],
            a["scanFinishedAt"],
        )
        if t["threatInfo"]["incidentStatus"] != "resolved":
            open_threats[a["id"]] += 1
    for a in agents.values():
        assert a["activeThreats"] == open_threats[a["id"]], a["id"]
    with_risks: set[str] = set()
    for r in served["risks"]:
        a = agents[r["endpointId"]]
        assert not a["isDecommissioned"]  # a decommissioned agent's risks are gone
        assert (r["endpointName"], r["osType"], r["endpointType"]) == (
            a["computerName"],
            a["osType"],
            a["machineType"],
        )
        with_risks.add(a["id"])
    for a in agents.values():
        if not a["isDecommissioned"]:
            want = "patch_required" if a["id"] in with_risks else "up_to_date"
            assert a["appsVulnerabilityStatus"] == want


def test_applications_match_the_operating_system(served: Served) -> None:
    for r in served["risks"]:
        if r["applicationName"] == "Microsoft Windows 11":
            assert r["osType"] == "windows"
        if r["applicationName"] in ("libc6", "openssh-client", "sudo", "macOS"):
            assert r["osType"] in ("linux", "macos")
            assert (r["applicationName"] == "macOS") == (r["osType"] == "macos")


def test_legacy_type_quirks_can_be_switched_on(console: Console) -> None:
    """Off by default (the 2025 responses have none); on request some records carry booleans
    as "True"/"False" strings and a boolean in ``agentDecommissionedAt`` (s1-api.md §5.2)."""
    quirky = Console(SimConfig(seed=2, agents=400, threats_per_agent=1.0, epoch_us=EPOCH))
    world = build(replace(quirky.config.world_config(), quirks=0.5))
    quirky.world, quirky.endpoints = world, generated(world)
    with client(quirky) as c:
        agents = walk(c, "/agents", isDecommissioned="true,false")
        threats = walk(c, "/threats")
    assert {a["firewallEnabled"] for a in agents} >= {"True", "False", True, False}
    assert {json_type(a["isUpToDate"]) for a in agents} == {"bool", "string"}
    decommissioned_at = [t["agentRealtimeInfo"]["agentDecommissionedAt"] for t in threats]
    assert {json_type(v) for v in decommissioned_at} >= {"bool", "null"}
    # Quirks change types only, never the values or anything else.
    plain = by_id(everything(console)["agents"])
    for a in agents:
        p = plain[a["id"]]
        assert str(a["firewallEnabled"]).lower() == str(p["firewallEnabled"]).lower()
        assert {k: v for k, v in a.items() if k not in ("firewallEnabled", "isUpToDate")} == {
            k: v for k, v in p.items() if k not in ("firewallEnabled", "isUpToDate")
        }
