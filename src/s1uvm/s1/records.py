"""Typed wire records: only the fields we map, decoded leniently (s1-api.md §7–8; the quirks in
tests/fixtures/real). Non-key fields accept any JSON type and are coerced by the normalisers,
so a type drift in one field never aborts a run; unknown fields are skipped by msgspec.
Decoded JSON cannot hold a reference cycle, so the records are kept out of the cycle collector
(``gc=False``): a page of a thousand would otherwise set it off and be traversed by it."""

from __future__ import annotations

from typing import Any

import msgspec


class AgentRecord(msgspec.Struct, kw_only=True, gc=False):
    id: str | int
    uuid: Any = None
    computerName: Any = None  # the API's field names, verbatim
    domain: Any = None
    osType: Any = None
    osName: Any = None
    osRevision: Any = None
    machineType: Any = None
    serialNumber: Any = None
    networkInterfaces: Any = None
    externalIp: Any = None
    lastIpToMgmt: Any = None
    accountId: Any = None
    accountName: Any = None
    siteId: Any = None
    siteName: Any = None
    groupId: Any = None
    groupName: Any = None
    agentVersion: Any = None
    isActive: Any = None
    isDecommissioned: Any = None
    isUninstalled: Any = None
    lastActiveDate: Any = None
    updatedAt: Any = None


class ThreatInfo(msgspec.Struct, kw_only=True, gc=False):
    threatId: Any = None
    threatName: Any = None
    classification: Any = None
    confidenceLevel: Any = None
    analystVerdict: Any = None
    incidentStatus: Any = None
    mitigationStatus: Any = None
    filePath: Any = None
    sha1: Any = None
    sha256: Any = None
    identifiedAt: Any = None
    createdAt: Any = None
    updatedAt: Any = None


class AgentRealtimeInfo(msgspec.Struct, kw_only=True, gc=False):
    agentId: Any = None
    agentComputerName: Any = None


class ThreatRecord(msgspec.Struct, kw_only=True, gc=False):
    id: str | int
    threatInfo: ThreatInfo | None = None
    agentRealtimeInfo: AgentRealtimeInfo | None = None


class RiskRecord(msgspec.Struct, kw_only=True, gc=False):
    id: str | int
    cveId: Any = None
    severity: Any = None
    baseScore: Any = None
    application: Any = None
    applicationName: Any = None
    applicationVendor: Any = None
    applicationVersion: Any = None
    endpointId: Any = None
    detectionDate: Any = None
    lastScanDate: Any = None
    status: Any = None


AGENT = msgspec.json.Decoder(AgentRecord)
THREAT = msgspec.json.Decoder(ThreatRecord)
RISK = msgspec.json.Decoder(RiskRecord)
