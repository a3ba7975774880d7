"""Every real, redacted SentinelOne record in tests/fixtures/real through the normalisers,
checked field by field."""

from __future__ import annotations

import msgspec

from s1uvm.connectors import AssetsConnector, Context, ThreatsConnector, VulnerabilitiesConnector
from s1uvm.model import Kind, finding_key, product_key
from tests.connectors.real import records

CTX = Context("acme", "2025-08-22T00:00:00.000000Z")


def test_the_real_agent_normalises_field_by_field() -> None:
    items = records("agents_v21_cribl_2025.json")
    batch = AssetsConnector().transform(items, CTX)
    assert batch.rejected == []
    (a,) = batch.assets
    assert a.agent_id == "0000000000004733528"  # leading zeros kept
    assert a.agent_uuid == "f455a172b0ff454096d36ec84e9ddc6a"
    assert a.hostname == "AccountName-S1"
    assert a.domain == "DOMAIN"
    assert (a.os_type, a.os_name, a.os_version) == (
        "windows",
        "Windows Server 2025 Standard",
        "26100",
    )
    assert a.machine_type == "server"
    assert a.serial_number is None
    assert a.ipv4 == ["192.168.0.169"]
    assert a.ipv6 == ["fe80::b80e:e1b0:cd10:2382", "2600:100f:a100:9415:d7f7:a212:d610:8000"]
    assert a.mac == ["bc:24:11:b4:ad:14"]
    assert a.external_ip == "75.231.254.18"
    assert (a.account_id, a.account_name) == ("0000000000005485585", "AccountName")
    assert (a.site_id, a.site_name) == ("0000000000000081821", "Default site")
    assert (a.group_id, a.group_name) == ("0000000000008470430", "Default Group")
    assert a.agent_version == "25.1.3.334"
    assert (a.is_active, a.is_decommissioned, a.is_uninstalled) == (True, False, False)
    assert a.lifecycle == "active"
    assert a.last_active_at == "2025-08-21T23:32:21.981602Z"
    assert a.source_updated_at == "2025-08-21T23:03:45.869273Z"
    assert bytes(a.raw) == bytes(items[0])


def test_the_real_agent_is_inactive_a_month_later() -> None:
    later = Context("acme", "2025-10-01T00:00:00.000000Z", inactive_days=30)
    (a,) = AssetsConnector().transform(records("agents_v21_cribl_2025.json"), later).assets
    assert a.lifecycle == "inactive"


def test_the_real_threats_normalise_field_by_field() -> None:
    items = records("threats_v21_elastic.json")
    batch = ThreatsConnector().transform(items, CTX)
    assert batch.rejected == []
    first, second = batch.findings
    assert first.kind == Kind.THREAT
    assert first.source_id == "1234567890123456789"
    assert first.agent_id == "1234567890123456789"  # agentRealtimeInfo.agentId: the join key
    assert first.finding_id == finding_key("acme", first.agent_id, "threat", first.source_id)
    assert first.title == first.threat_name == "Threats"
    assert first.classification == "Malware"
    assert first.confidence == "malicious"
    # malicious, unresolved and not mitigated: raised to critical (documented table)
    assert first.severity == "critical"
    assert (first.incident_status, first.analyst_verdict) == ("unresolved", "undefined")
    assert first.mitigation_status == "not_mitigated"
    assert first.state == "open"
    assert first.fixed_at is None
    assert first.first_seen_at == "2022-04-06T08:57:34.444000Z"  # identifiedAt
    assert first.source_updated_at == "2022-04-06T08:57:37.672873Z"  # threatInfo.updatedAt
    assert first.file_path == "test/path/user"
    assert first.sha1 == "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
    assert first.sha256 is None
    assert bytes(first.raw) == bytes(items[0])
    assert second.severity == "high"  # malicious but mitigated
    assert second.mitigation_status == "mitigated"
    assert second.first_seen_at == "2025-01-04T14:31:43.000000Z"  # whole-second identifiedAt
    assert second.sha256 == "49280a15191065129e434f96444b29af83aa54d85fb6912030c62ab7ad2e4440"
    assert second.source_id == "2120407777501474123"


def test_the_real_risks_normalise_field_by_field() -> None:
    items = records("app_mgmt_risks_elastic_2025.json")
    batch = VulnerabilitiesConnector().transform(items, CTX)
    assert batch.rejected == []
    assert len(batch.findings) == 5
    seven = batch.findings[0]
    assert seven.kind == Kind.VULNERABILITY
    assert seven.source_id == "2228104980801805822"
    assert seven.agent_id == "2162143406517023959"  # endpointId: the join key
    assert seven.cve_id == "CVE-2025-0411"
    assert seven.cvss_score == 7.0  # "7.00" arrives as a string
    assert seven.severity == "high"  # "HIGH"
    assert (seven.app_name, seven.app_vendor, seven.app_version) == (
        "7-Zip",
        "Igor Pavlov",
        ["22.01"],
    )
    assert seven.title == "CVE-2025-0411 in 7-Zip"
    assert seven.first_seen_at == "2025-06-02T04:46:51.710569Z"
    assert seven.last_scan_at == "2025-07-29T19:25:47.000000Z"
    assert seven.finding_id == finding_key(
        "acme",
        "2162143406517023959",
        "vulnerability",
        "CVE-2025-0411|" + product_key("Igor Pavlov", "7-Zip"),
    )
    assert bytes(seven.raw) == bytes(items[0])
    assert [f.severity for f in batch.findings] == ["high", "medium", "medium", "high", "medium"]


def test_html_entities_in_a_vendor_are_decoded() -> None:
    risk = msgspec.json.decode(records("app_mgmt_risks_elastic_2025.json")[0])
    risk["applicationVendor"] = "Ubuntu Developers &lt;ubuntu-devel@lists.ubuntu.com&gt;"
    raw = msgspec.Raw(msgspec.json.encode(risk))
    (f,) = VulnerabilitiesConnector().transform([raw], CTX).findings
    assert f.app_vendor == "Ubuntu Developers <ubuntu-devel@lists.ubuntu.com>"


def test_one_product_in_two_versions_is_one_finding_with_both_versions() -> None:
    first = msgspec.json.decode(records("app_mgmt_risks_elastic_2025.json")[0])
    second = dict(
        first, id="2228104980801805999", applicationVersion="23.01", application="7-Zip 23.01"
    )
    raws = [msgspec.Raw(msgspec.json.encode(r)) for r in (first, second)]
    (f,) = VulnerabilitiesConnector().transform(raws, CTX).findings
    assert f.app_version == ["22.01", "23.01"]
    assert f.source_id == "2228104980801805822"


def test_malformed_records_are_kept_aside_with_a_reason_and_the_rest_stored() -> None:
    good = records("app_mgmt_risks_elastic_2025.json")[1]
    bad_id = msgspec.Raw(b'{"id": null, "cveId": "CVE-2024-1"}')
    no_cve = msgspec.Raw(b'{"id": "2228104980801800000"}')
    not_object = msgspec.Raw(b"[1, 2]")
    batch = VulnerabilitiesConnector().transform([bad_id, good, no_cve, not_object], CTX)
    assert [f.source_id for f in batch.findings] == ["2228104981036686896"]
    reasons = [r.reason for r in batch.rejected]
    assert len(reasons) == 3
    assert "cveId is missing" in reasons[1]
    assert batch.rejected[1].source_id == "2228104980801800000"
