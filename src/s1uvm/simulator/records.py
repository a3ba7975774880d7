"""Renders world state into API objects shaped field by field like the real responses in
``tests/fixtures/real`` (v2.1 threats nested under ``threatInfo``/``agentRealtimeInfo``/
``agentDetectionInfo``; agents with ``networkInterfaces``; risks with a string ``baseScore``).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from typing import Any

from s1uvm.simulator import catalog
from s1uvm.simulator.timefmt import US_PER_DAY, US_PER_HOUR, US_PER_S, iso_ms, iso_s, iso_us
from s1uvm.simulator.world import (
    Account,
    Agent,
    Group,
    Kind,
    Risk,
    Site,
    Threat,
    World,
    make_id,
)

Json = dict[str, Any]


def _nic_id(agent: Agent, n: int) -> str:
    return make_id(Kind.NIC, agent.seq * 4 + n)


def _rng(world: World, kind: str, seq: int) -> random.Random:
    return random.Random(f"{world.seed}:{kind}:{seq}")


def _quirky(world: World, kind: str, seq: int) -> bool:
    """Whether this record carries the legacy type quirks (``WorldConfig.quirks``). Decided
    from its own stream so that turning quirks on changes nothing else."""
    share = world.config.quirks
    return share > 0 and _rng(world, f"quirk-{kind}", seq).random() < share


def _flag(value: bool, quirky: bool) -> bool | str:
    """A boolean, or the "True"/"False" string some consoles sent (demisto 2021 sample)."""
    return ("True" if value else "False") if quirky else value


def account(world: World, a: Account) -> Json:
    agents = [g for g in world.agents if g.account is a and g.is_active]
    sites = [s for s in world.sites if s.account is a]
    return {
        "accountType": "Paid",
        "activeAgents": len(agents),
        "billingMode": "subscription",
        "createdAt": iso_us(a.created_us),
        "expiration": None,
        "id": a.id,
        "licenses": {
            "bundles": [
                {"name": "complete", "surfaces": [{"count": 1000, "name": "Total Agents"}]}
            ],
            "modules": [{"name": "rso"}],
            "settings": [],
        },
        "name": a.name,
        "numberOfSites": len(sites),
        "skus": [{"type": "Core"}, {"type": "Complete"}],
        "state": "active",
        "totalLicenses": 1000,
        "unlimitedExpiration": True,
        "updatedAt": iso_us(a.updated_us),
        "usageType": "customer",
    }


def site(world: World, s: Site, active_agents: int) -> Json:
    return {
        "accountId": s.account.id,
        "accountName": s.account.name,
        "activeLicenses": active_agents,
        "createdAt": iso_us(s.created_us),
        "creator": "Service User",
        "creatorId": make_id(Kind.USER, 1),
        "description": None,
        "expiration": None,
        "externalId": None,
        "healthStatus": True,
        "id": s.id,
        "isDefault": s.is_default,
        "licenses": {
            "bundles": [{"displayName": "Complete", "name": "complete"}],
            "modules": [],
            "settings": [],
        },
        "name": s.name,
        "registrationToken": hashlib.sha256(f"{world.seed}:site:{s.id}".encode()).hexdigest()[:40],
        "siteType": "Paid",
        "sku": "Complete",
        "state": "active",
        "suite": "Complete",
        "totalLicenses": 0,
        "unlimitedExpiration": True,
        "unlimitedLicenses": True,
        "updatedAt": iso_us(s.updated_us),
    }


def group(world: World, g: Group, total_agents: int) -> Json:
    return {
        "createdAt": iso_us(g.created_us),
        "creator": "Service User",
        "creatorId": make_id(Kind.USER, 1),
        "filterId": None,
        "filterName": None,
        "id": g.id,
        "inherits": True,
        "isDefault": g.is_default,
        "name": g.name,
        "rank": None if g.is_default else g.seq,
        "registrationToken": hashlib.sha256(f"{world.seed}:group:{g.id}".encode()).hexdigest()[:40],
        "siteId": g.site.id,
        "totalAgents": total_agents,
        "type": "static",
        "updatedAt": iso_us(g.updated_us),
    }


def _scan_window(world: World, a: Agent) -> tuple[int, int]:
    """The full-disk scan, shared by the agent record and threats' ``agentRealtimeInfo``: it
    starts seconds after registration and ends at ``full_scan_us`` (as in the real sample)."""
    started = a.registered_us + _rng(world, "scan", a.seq).randrange(5 * US_PER_S, 60 * US_PER_S)
    return started, max(a.full_scan_us, started + US_PER_S)


def agent(world: World, a: Agent) -> Json:
    h = world.host(a.host)
    rng = _rng(world, "agent-render", a.seq)
    quirky = _quirky(world, "agent", a.seq)
    decommissioned = a.is_decommissioned
    scan_started, scan_finished = _scan_window(world, a)
    full_mode = min(
        max(a.last_active_us, a.registered_us),
        a.registered_us + rng.randrange(US_PER_HOUR, 48 * US_PER_HOUR),
    )
    nics = [
        {
            "gatewayIp": n.gateway_ip,
            "gatewayMacAddress": n.gateway_mac,
            "id": _nic_id(a, i),
            "inet": list(n.inet),
            "inet6": list(n.inet6),
            "name": n.name,
            "physical": n.mac,
        }
        for i, n in enumerate(h.nics)
    ]
    windows = h.os_type.startswith("windows")
    return {
        "accountId": a.account.id,
        "accountName": a.account.name,
        "activeDirectory": {
            "computerDistinguishedName": f"CN={h.hostname},CN=Computers,DC={h.domain},DC=ORG"
            if windows
            else None,
            "computerMemberOf": ["CN=Domain Computers,CN=Users,DC=DOMAIN,DC=ORG"]
            if windows
            else [],
            "lastUserDistinguishedName": f"CN={h.user},CN=Users,DC=DOMAIN,DC=ORG"
            if windows
            else None,
            "lastUserMemberOf": ["CN=Domain Users,CN=Users,DC=DOMAIN,DC=ORG"] if windows else [],
            "userPrincipalName": f"{h.user}@{h.domain}.ORG" if windows else None,
        },
        "activeProtection": ["edr"],
        "activeThreats": a.active_threats,
        "agentVersion": a.agent_version,
        "allowRemoteShell": False,
        "appsVulnerabilityStatus": "patch_required" if a.risk_count() else "up_to_date",
        "cloudProviders": {},
        "computerName": h.hostname,
        "consoleMigrationStatus": "N/A",
        "containerizedWorkloadCounts": None,
        "coreCount": h.core_count,
        "cpuCount": h.cpu_count,
        "cpuId": h.cpu_id,
        "createdAt": iso_us(a.created_us),
        "detectionState": "full_mode",
        "domain": h.domain,
        "encryptedApplications": False,
        "externalId": "",
        "externalIp": h.external_ip,
        "firewallEnabled": _flag(rng.random() < 0.8, quirky),
        "firstFullModeTime": iso_ms(full_mode),
        "fullDiskScanLastUpdatedAt": iso_us(scan_finished),
        "groupId": a.group.id,
        "groupIp": h.external_ip.rsplit(".", 1)[0] + ".x",
        "groupName": a.group.name,
        "hasContainerizedWorkload": h.machine_type == "kubernetes node",
        "id": a.id,
        "inRemoteShellSession": False,
        "infected": a.active_threats > 0,
        "installerType": ".msi" if windows else (".pkg" if h.os_type == "macos" else ".deb"),
        "isActive": a.is_active,
        "isAdConnector": False,
        "isDecommissioned": decommissioned,
        "isHyperAutomate": None,
        "isPendingUninstall": False,
        "isUninstalled": a.uninstalled,
        "isUpToDate": _flag(a.agent_version.startswith("25."), quirky),
        "lastActiveDate": iso_us(a.last_active_us),
        "lastIpToMgmt": h.nics[0].inet[0],
        "lastLoggedInUserName": h.user if rng.random() < 0.7 else "",
        "lastSuccessfulScanDate": iso_us(scan_finished),
        "licenseKey": "",
        "locationEnabled": True,
        "locationType": "fallback",
        "locations": [{"id": make_id(Kind.USER, 99), "name": "Fallback", "scope": "global"}],
        "machineSid": f"S-1-5-21-{rng.randrange(10**9)}-{rng.randrange(10**9)}-1109"
        if windows
        else "",
        "machineType": h.machine_type,
        "missingPermissions": [],
        "mitigationMode": a.mitigation_mode,
        "mitigationModeSuspicious": "detect",
        "modelName": h.model,
        "networkInterfaces": nics,
        "networkQuarantineEnabled": False,
        "networkStatus": "connected" if a.is_active else "disconnected",
        "operationalState": "na",
        "operationalStateExpiration": None,
        "osArch": "ARM64" if "Apple M" in h.cpu_id else "64 bit",
        "osName": h.os_name,
        "osRevision": h.os_revision,
        "osStartTime": iso_s(a.last_active_us - rng.randrange(3600, 30 * 86400) * US_PER_S),
        "osType": h.os_type,
        "osUsername": None,
        "proxyStates": {"console": False, "deepVisibility": False},
        "rangerStatus": "Enabled",
        "rangerVersion": "21.11.0.171",
        "registeredAt": iso_us(a.registered_us),
        "remoteProfilingState": "disabled",
        "remoteProfilingStateExpiration": None,
        "scanAbortedAt": None,
        "scanFinishedAt": iso_us(scan_finished),
        "scanStartedAt": iso_us(scan_started),
        "scanStatus": "finished",
        "serialNumber": h.serial,
        "showAlertIcon": False,
        "siteId": a.site.id,
        "siteName": a.site.name,
        "storageName": None,
        "storageType": None,
        "tags": {"sentinelone": []},
        "threatRebootRequired": False,
        "totalMemory": h.memory_mb,
        "updatedAt": iso_us(a.updated_us),
        "userActionsNeeded": [],
        "uuid": a.uuid,
    }


def threat_sha1(world: World, t: Threat) -> str:
    return hashlib.sha1(f"{world.seed}:{t.seq}".encode(), usedforsecurity=False).hexdigest()


_ACTIONS = ("kill", "quarantine", "remediate")


def _mitigation_entries(world: World, t: Threat, rng: random.Random) -> list[Json]:
    """What the agent did, newest first, as in the real 2025 sample: kill, then quarantine, then
    remediate, milliseconds apart — right after detection in protect mode, later (an analyst's
    action) otherwise; never after the console's "now"."""
    auto = t.agent.mitigation_mode == "protect" and t.confidence == "malicious"
    at = t.created_us + rng.randrange(50_000, 150_000)
    if not auto:
        at = t.created_us + rng.randrange(10 * 60 * US_PER_S, 2 * US_PER_HOUR)
    at = min(at, world.now_us - US_PER_S)
    out: list[Json] = []
    for action in _ACTIONS[: rng.choice((1, 2, 3))]:
        counters = (
            {"failed": 0, "notFound": 0, "pendingReboot": 0, "success": 1, "total": 1}
            if action == "quarantine"
            else None
        )
        ended = at + rng.randrange(1, 12_000)
        out.append(
            {
                "action": action,
                "actionsCounters": counters,
                "agentSupportsReport": True,
                "groupNotFound": False,
                "lastUpdate": iso_us(min(world.now_us, ended + rng.randrange(1, 40_000))),
                "latestReport": f"/threats/mitigation-report/{t.id}" if counters else None,
                "mitigationEndedAt": iso_us(ended),
                "mitigationStartedAt": iso_us(at),
                "reportId": make_id(Kind.USER, 1000 + t.seq),
                "status": "success",
            }
        )
        at = ended + rng.randrange(20_000, 120_000)
    out.reverse()
    return out


def threat(world: World, t: Threat) -> Json:
    rng = _rng(world, "threat-render", t.seq)
    m = catalog.MALWARE[t.malware]
    a = t.agent
    h = world.host(a.host)
    dg = t.detect_group
    engines = rng.sample(catalog.ENGINES, rng.choice((1, 1, 2)))
    sha1 = threat_sha1(world, t)
    sha256 = (
        hashlib.sha256(f"{world.seed}:{t.seq}".encode()).hexdigest() if rng.random() < 0.7 else None
    )
    mitigated = t.mitigation_status == "mitigated"
    mitigation_entries = _mitigation_entries(world, t, rng) if mitigated else []
    indicators = []
    for k in range(rng.choice((1, 2, 3))):
        tactics = []
        for _ in range(rng.choice((0, 1, 2))):
            tactics.append(
                {
                    "name": rng.choice(catalog.TACTICS),
                    "source": "DEFAULT",
                    "techniques": [
                        {"link": "https://attack.mitre.org/techniques/T1059/", "name": "T1059"}
                    ]
                    * rng.choice((1, 2)),
                }
            )
        indicators.append(
            {
                "category": ("General", "Exploitation", "Evasion", "Persistence")[k % 4],
                "description": (
                    "Detected by the Static Engine",
                    "Document behaves abnormally",
                    "Indirect command was executed",
                )[k % 3],
                "ids": [rng.randrange(1, 500)],
                "tactics": tactics,
            }
        )
    ipv4 = ",".join(ip for n in h.nics for ip in n.inet)  # comma-joined, as S1 sends them
    ipv6 = ",".join(ip for n in h.nics for ip in n.inet6)
    status_desc = {"unresolved": "Unresolved", "in_progress": "In Progress", "resolved": "Resolved"}
    verdict_desc = {
        "true_positive": "True positive",
        "false_positive": "False positive",
        "suspicious": "Suspicious",
        "undefined": "Undefined",
    }
    mitig_desc = {
        "mitigated": "Mitigated",
        "not_mitigated": "Not mitigated",
        "marked_as_benign": "Marked as benign",
    }
    nulls = rng.random() < 0.3  # some consoles leave detection details empty
    scan_started, scan_finished = _scan_window(world, a)
    decommissioned_at: str | bool | None = (
        iso_us(a.decommissioned_us) if a.decommissioned_us is not None else None
    )
    if _quirky(world, "threat", t.seq):
        decommissioned_at = a.is_decommissioned  # a boolean where a timestamp belongs (§5.2)
    precision = t.seq % 3  # identifiedAt: to the microsecond, the second or the millisecond
    identified = (iso_us, iso_s, iso_ms)[precision](t.identified_us)
    storyline = (
        f"{rng.getrandbits(64):016X}"
        if rng.random() < 0.5
        else str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
    )
    return {
        "agentDetectionInfo": {
            "accountId": dg.site.account.id,
            "accountName": dg.site.account.name,
            "agentDetectionState": None,
            "agentDomain": h.domain,
            "agentIpV4": ipv4,
            "agentIpV6": ipv6,
            "agentLastLoggedInUpn": None,
            "agentLastLoggedInUserMail": None,
            "agentLastLoggedInUserName": h.user if rng.random() < 0.5 else "",
            "agentMitigationMode": a.mitigation_mode,
            "agentOsName": h.os_name,
            "agentOsRevision": h.os_revision,
            "agentRegisteredAt": iso_us(a.registered_us),
            "agentUuid": a.uuid,
            "agentVersion": t.detect_agent_version,
            "assetVersion": "1",
            "cloudProviders": {},
            "externalIp": h.external_ip,
            "groupId": dg.id,
            "groupName": dg.name,
            "siteId": dg.site.id,
            "siteName": dg.site.name,
        },
        "agentRealtimeInfo": {
            "accountId": a.account.id,
            "accountName": a.account.name,
            "activeThreats": a.active_threats,
            "agentComputerName": h.hostname,
            "agentDecommissionedAt": decommissioned_at,
            "agentDomain": h.domain,
            "agentId": a.id,
            "agentInfected": a.active_threats > 0,
            "agentIsActive": a.is_active,
            "agentIsDecommissioned": a.is_decommissioned,
            "agentMachineType": h.machine_type,
            "agentMitigationMode": a.mitigation_mode,
            "agentNetworkStatus": "connected" if a.is_active else "disconnected",
            "agentOsName": h.os_name,
            "agentOsRevision": h.os_revision,
            "agentOsType": h.os_type,
            "agentUuid": a.uuid,
            "agentVersion": a.agent_version,
            "groupId": a.group.id,
            "groupName": a.group.name,
            "networkInterfaces": [
                {
                    "id": _nic_id(a, i),
                    "inet": list(n.inet),
                    "inet6": list(n.inet6),
                    "name": n.name,
                    "physical": n.mac,
                }
                for i, n in enumerate(h.nics)
            ],
            "operationalState": "na",
            "rebootRequired": False,
            "scanAbortedAt": None,
            "scanFinishedAt": iso_us(scan_finished),
            "scanStartedAt": iso_us(scan_started),
            "scanStatus": "finished",
            "siteId": a.site.id,
            "siteName": a.site.name,
            "storageName": None,
            "storageType": None,
            "userActionsNeeded": [],
        },
        "containerInfo": {
            "id": None,
            "image": None,
            "isContainerQuarantine": None,
            "labels": None,
            "name": None,
        },
        "ecsInfo": {
            k: None
            for k in (
                "clusterName",
                "serviceArn",
                "serviceName",
                "taskArn",
                "taskAvailabilityZone",
                "taskDefinitionArn",
                "taskDefinitionFamily",
                "taskDefinitionRevision",
                "type",
                "version",
            )
        },
        "id": t.id,
        "indicators": indicators,
        "kubernetesInfo": {
            k: None
            for k in (
                "cluster",
                "controllerKind",
                "controllerLabels",
                "controllerName",
                "isContainerQuarantine",
                "namespace",
                "namespaceLabels",
                "node",
                "nodeLabels",
                "pod",
                "podLabels",
            )
        },
        "mitigationStatus": mitigation_entries,
        "threatInfo": {
            "analystVerdict": t.analyst_verdict,
            "analystVerdictDescription": verdict_desc[t.analyst_verdict],
            "automaticallyResolved": False,
            "browserType": None,
            "certificateId": None if nulls else "",
            "classification": m.classification,
            "classificationSource": rng.choice(("Static", "Cloud", "Behavioral", "Engine")),
            "cloudFilesHashVerdict": None if nulls else rng.choice(("black", "provider_unknown")),
            "collectionId": make_id(Kind.THREAT, 10**12 + t.seq),
            "confidenceLevel": t.confidence,
            "createdAt": iso_us(t.created_us),
            "detectionEngines": [{"key": k, "title": title} for k, title in engines],
            "detectionType": rng.choice(("static", "dynamic")),
            "engines": [title for _, title in engines],
            "externalTicketExists": False,
            "externalTicketId": None,
            "failedActions": False,
            "fileExtension": m.extension,
            "fileExtensionType": m.extension_type,
            "filePath": m.file_path,
            "fileSize": rng.choice((0, 238592, 1048576, 53248)),
            "fileVerificationType": None if nulls else "NotSigned",
            # Microseconds, whole seconds or padded milliseconds (all three seen in real data).
            "identifiedAt": identified,
            "incidentStatus": t.incident_status,
            "incidentStatusDescription": status_desc[t.incident_status],
            "initiatedBy": "agent_policy",
            "initiatedByDescription": "Agent Policy",
            "initiatingUserId": None,
            "initiatingUsername": None,
            "isFileless": False,
            "isValidCertificate": False,
            "macroModules": None,
            "maliciousProcessArguments": None if nulls else m.file_path,
            "md5": None,
            "mitigatedPreemptively": False,
            "mitigationStatus": t.mitigation_status,
            "mitigationStatusDescription": mitig_desc[t.mitigation_status],
            "originatorProcess": m.process,
            "pendingActions": False,
            "processUser": h.user,
            "publisherName": None if nulls else "",
            "reachedEventsLimit": None if nulls else False,
            "rebootRequired": False,
            "rootProcessUpn": None,
            "sha1": sha1,
            "sha256": sha256,
            "storyline": storyline,
            "threatId": t.id,
            "threatName": m.name,
            "updatedAt": iso_us(t.updated_us),
        },
        "whiteningOptions": ["hash", "path"] + (["file_type"] if m.extension else []),
    }


def risk(world: World, r: Risk) -> Json:
    app = catalog.APPS[r.app]
    version = app.versions[r.version]
    cve = app.cves[r.cve]
    a = r.agent
    h = world.host(a.host)
    return {
        "application": f"{app.name} {version}",
        "applicationName": app.name,
        "applicationVendor": app.vendor,
        "applicationVersion": version,
        "baseScore": cve.score,
        "cveId": cve.cve_id,
        "cvssVersion": "3.1",
        "daysDetected": max(0, (world.now_us - r.detected_us) // US_PER_DAY),
        "detectionDate": iso_us(r.detected_us),
        "endpointId": a.id,
        "endpointName": h.hostname,
        "endpointType": h.machine_type,
        "id": r.id,
        "lastScanDate": iso_s(a.app_scan_us),
        "lastScanResult": "Succeeded",
        "markType": "",
        "markedBy": None,
        "markedDate": None,
        "osType": h.os_type,
        "publishedDate": cve.published,
        "reason": None,
        "severity": cve.severity,
        "status": "Detected",
    }
