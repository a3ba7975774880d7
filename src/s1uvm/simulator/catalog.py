"""Static vocabularies the generator draws from: applications and their CVEs, malware,
operating systems. Values follow the real shapes in ``tests/fixtures/real`` and
``s1-api.md`` §5 (upper-case risk severities, string CVSS scores, vendors with HTML
entities, lower snake-case threat enums).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from s1uvm.simulator.timefmt import US_PER_DAY, iso_s, parse_iso


@dataclass(frozen=True, slots=True)
class Cve:
    cve_id: str
    score: str  # "7.00": S1 sends baseScore as a string
    severity: str  # CRITICAL|HIGH|MEDIUM|LOW
    published: str  # whole seconds
    fixed_in: int  # index of the first version that is not affected
    published_us: int  # the same instant, for date arithmetic


@dataclass(frozen=True, slots=True)
class App:
    name: str
    vendor: str  # raw, possibly HTML-escaped as S1 sends it
    versions: tuple[str, ...]
    os_types: tuple[str, ...]
    weight: float  # how common the application is
    cves: tuple[Cve, ...]
    os_names: tuple[str, ...] = ()  # empty: any OS of the families above


# name, vendor as S1 sends it, versions oldest → newest, operating systems, prevalence
_APPS: list[tuple[str, str, tuple[str, ...], tuple[str, ...], float]] = [
    ("7-Zip", "Igor Pavlov", ("19.00", "21.07", "22.01", "23.01", "24.08"), ("windows",), 6),
    (
        "Microsoft Edge",
        "Microsoft Corporation",
        ("112.0.1722.68", "118.0.2088.46", "124.0.2478.51", "131.0.2903.70"),
        ("windows", "macos"),
        9,
    ),
    (
        "Microsoft Edge WebView2 Runtime",
        "Microsoft Corporation",
        ("112.0.1722.64", "120.0.2210.91", "128.0.2739.42"),
        ("windows",),
        7,
    ),
    (
        "Google Chrome",
        "Google LLC",
        ("114.0.5735.199", "120.0.6099.130", "126.0.6478.127", "131.0.6778.86"),
        ("windows", "macos", "linux"),
        9,
    ),
    (
        "Mozilla Firefox",
        "Mozilla",
        ("115.0.2", "121.0", "128.0.3", "133.0"),
        ("windows", "macos", "linux"),
        5,
    ),
    (
        "VMware Tools",
        "VMware, Inc.",
        ("10.3.10.12406962", "11.3.5.18557794", "12.1.5.20735119"),
        ("windows", "linux"),
        4,
    ),
    (
        "PuTTY release",
        "Simon Tatham",
        ("0.76.0.0", "0.77.0.0", "0.80.0.0", "0.81.0.0"),
        ("windows",),
        3,
    ),
    ("Notepad++", "Notepad++ Team", ("8.4.6", "8.5.8", "8.6.9", "8.7.1"), ("windows",), 4),
    (
        "Adobe Acrobat Reader",
        "Adobe Systems Incorporated",
        ("22.003.20282", "23.006.20320", "24.002.20933"),
        ("windows", "macos"),
        5,
    ),
    (
        "Zoom",
        "Zoom Video Communications, Inc.",
        ("5.13.4", "5.15.12", "5.17.11", "6.1.10"),
        ("windows", "macos"),
        5,
    ),
    (
        "Oracle Java SE Runtime",
        "Oracle Corporation",
        ("8.0.3410", "8.0.3810", "8.0.4210"),
        ("windows", "linux"),
        3,
    ),
    ("OpenSSL", "OpenSSL Project", ("1.1.1n", "3.0.2", "3.0.13", "3.3.2"), ("linux", "windows"), 5),
    (
        "openssh-client",
        "Ubuntu Developers &lt;ubuntu-devel-discuss@lists.ubuntu.com&gt;",
        ("1:8.9p1-3ubuntu0.1", "1:8.9p1-3ubuntu0.6", "1:9.6p1-3ubuntu13.5"),
        ("linux",),
        6,
    ),
    (
        "libc6",
        "Ubuntu Developers &lt;ubuntu-devel-discuss@lists.ubuntu.com&gt;",
        ("2.35-0ubuntu3.1", "2.35-0ubuntu3.6", "2.39-0ubuntu8.3"),
        ("linux",),
        6,
    ),
    (
        "sudo",
        "Debian Sudo Maintainers &lt;sudo@packages.debian.org&gt;",
        ("1.9.5p2-3", "1.9.13p3-1", "1.9.15p5-3"),
        ("linux",),
        4,
    ),
    (
        "curl",
        "Alessandro Ghedini &lt;ghedo@debian.org&gt;",
        ("7.74.0-1.3", "7.88.1-10", "8.5.0-2"),
        ("linux",),
        5,
    ),
    (
        "Python",
        "Python Software Foundation",
        ("3.8.10", "3.10.11", "3.11.4", "3.12.7"),
        ("windows", "macos", "linux"),
        4,
    ),
    (
        "Git",
        "The Git Development Community",
        ("2.37.3", "2.40.1", "2.45.2"),
        ("windows", "macos", "linux"),
        3,
    ),
    (
        "Microsoft Teams",
        "Microsoft Corporation",
        ("1.5.00.36367", "1.6.00.4472", "24215.1007.3082"),
        ("windows", "macos"),
        6,
    ),
    (
        "Slack",
        "Slack Technologies Inc.",
        ("4.29.149", "4.33.90", "4.41.97"),
        ("windows", "macos"),
        3,
    ),
    ("AnyDesk", "AnyDesk Software GmbH", ("7.0.14", "7.1.17", "8.0.14"), ("windows", "macos"), 2),
    ("WinRAR", "win.rar GmbH", ("6.02.0", "6.22.0", "7.01.0"), ("windows",), 3),
    ("Apple Safari", "Apple Inc.", ("16.5", "17.3", "18.1"), ("macos",), 4),
    ("Docker Desktop", "Docker Inc.", ("4.19.0", "4.27.2", "4.34.3"), ("windows", "macos"), 2),
    (
        "Wireshark",
        "The Wireshark developer community, https://www.wireshark.org",
        ("3.6.8", "4.0.10", "4.2.6"),
        ("windows", "macos"),
        1,
    ),
    ("AT&amp;T Global Network Client", "AT&amp;T", ("9.6.1", "10.2.0"), ("windows",), 1),
    (
        "Microsoft Windows Server 2019",
        "Microsoft Corporation",
        ("10.0.17763.5458", "10.0.17763.6054"),
        ("windows",),
        3,
    ),
    (
        "Microsoft Windows 11",
        "Microsoft Corporation",
        ("10.0.22631.3007", "10.0.22631.3880", "10.0.22631.4460"),
        ("windows",),
        6,
    ),
    (
        "linux-image-generic",
        "Ubuntu Kernel Team &lt;kernel-team@lists.ubuntu.com&gt;",
        ("5.15.0.91.88", "6.5.0.35.35", "6.8.0.48.48"),
        ("linux",),
        5,
    ),
    ("macOS", "Apple Inc.", ("13.4.1", "14.2.1", "15.1"), ("macos",), 6),
]

CVES_PER_APP = 36


def _cves_for(rng: random.Random, app_index: int, n_versions: int) -> tuple[Cve, ...]:
    out: list[Cve] = []
    for j in range(CVES_PER_APP):
        year = rng.choice((2019, 2020, 2021, 2022, 2023, 2024, 2025))
        number = 1000 + app_index * 997 + j * 13 + rng.randrange(0, 9)
        raw = rng.choice(
            (2.1, 3.3, 4.3, 4.7, 5.3, 5.9, 6.1, 6.5, 7.0, 7.1, 7.5, 7.8, 8.1, 8.8, 9.1, 9.8, 10.0)
        )
        if raw >= 9.0:
            sev = "CRITICAL"
        elif raw >= 7.0:
            sev = "HIGH"
        elif raw >= 4.0:
            sev = "MEDIUM"
        else:
            sev = "LOW"
        published_us = parse_iso(f"{year}-01-01T00:00:00Z") + rng.randrange(0, 360) * US_PER_DAY
        published_us += rng.randrange(0, 86400) * 1_000_000
        # Most CVEs are fixed by some later version; a few affect every version we list.
        fixed_in = rng.randrange(1, n_versions + 1)
        out.append(
            Cve(
                f"CVE-{year}-{number}",
                f"{raw:.2f}",
                sev,
                iso_s(published_us),
                fixed_in,
                published_us // 1_000_000 * 1_000_000,
            )
        )
    return tuple(out)


# Operating-system packages and distribution-maintained packages only exist on their own OS
# (a Windows 10 host has no "Microsoft Windows 11" application, RHEL has no Ubuntu libc6).
_ONLY_ON: dict[str, tuple[str, ...]] = {
    "Microsoft Windows Server 2019": ("Windows Server 2019 Datacenter",),
    "Microsoft Windows 11": ("Windows 11 Pro",),
    "linux-image-generic": ("Ubuntu 22.04.4 LTS",),
    "openssh-client": ("Ubuntu 22.04.4 LTS",),
    "libc6": ("Ubuntu 22.04.4 LTS",),
    "sudo": ("Debian GNU/Linux 12",),
    "curl": ("Debian GNU/Linux 12",),
}


def _build_apps() -> tuple[App, ...]:
    rng = random.Random("s1uvm-catalog-v1")  # fixed: the catalogue is the same for every seed
    apps = []
    for i, (name, vendor, versions, oses, weight) in enumerate(_APPS):
        cves = _cves_for(rng, i, len(versions))
        apps.append(App(name, vendor, versions, oses, weight, cves, _ONLY_ON.get(name, ())))
    return tuple(apps)


APPS: tuple[App, ...] = _build_apps()


def applicable(app: App, version_index: int) -> list[int]:
    """Indexes of the CVEs of ``app`` that affect the given version."""
    return [k for k, c in enumerate(app.cves) if c.fixed_in > version_index]


APPLICABLE_COUNT: dict[tuple[int, int], int] = {
    (a, v): len(applicable(app, v)) for a, app in enumerate(APPS) for v in range(len(app.versions))
}

# Publication instants of the CVEs affecting (application, version), sorted: how many of them
# a scan at a given time can have found is one bisection.
_APPLICABLE_PUBLISHED: dict[tuple[int, int], list[int]] = {
    (a, v): sorted(app.cves[k].published_us for k in applicable(app, v))
    for a, app in enumerate(APPS)
    for v in range(len(app.versions))
}


def published_by(app_index: int, version_index: int, at_us: int) -> int:
    """How many CVEs affecting this application version were published by ``at_us``."""
    return bisect.bisect_right(_APPLICABLE_PUBLISHED[(app_index, version_index)], at_us)


@dataclass(frozen=True, slots=True)
class Malware:
    name: str
    classification: str
    file_path: str
    extension: str | None
    extension_type: str | None
    process: str


MALWARE: tuple[Malware, ...] = (
    Malware("Threats", "Malware", "test/path/user", "TXT", "Document", "default.EXE"),
    Malware(
        "UC232A_Windows_Setup.exe",
        "Malware",
        "/Users/REDACTED/Downloads/uc232a_windows_setup_v1.0.084/UC232A_Windows_Setup.exe",
        None,
        None,
        "ArchiveService",
    ),
    Malware(
        "invoice_0932.docm",
        "Trojan",
        "C:\\Users\\jdoe\\Downloads\\invoice_0932.docm",
        "DOCM",
        "Document",
        "WINWORD.EXE",
    ),
    Malware(
        "mimikatz.exe",
        "Hacktool",
        "C:\\Windows\\Temp\\mimikatz.exe",
        "EXE",
        "Executable",
        "cmd.exe",
    ),
    Malware(
        "lockbit3.exe",
        "Ransomware",
        "C:\\ProgramData\\lb3\\lockbit3.exe",
        "EXE",
        "Executable",
        "explorer.exe",
    ),
    Malware("xmrig", "Miner", "/tmp/.x/xmrig", None, None, "bash"),
    Malware(
        "setup_crack.exe",
        "PUA",
        "C:\\Users\\jdoe\\Desktop\\setup_crack.exe",
        "EXE",
        "Executable",
        "explorer.exe",
    ),
    Malware(
        "payload.ps1",
        "Malware",
        "C:\\Users\\Public\\payload.ps1",
        "PS1",
        "Script",
        "powershell.exe",
    ),
    Malware(
        "CVE-2021-40444.cab",
        "Exploit",
        "C:\\Users\\jdoe\\AppData\\Local\\Temp\\x.cab",
        "CAB",
        "Archive",
        "control.exe",
    ),
    Malware(
        "update.bin",
        "Downloader",
        "/Users/jdoe/Library/LaunchAgents/update.bin",
        None,
        None,
        "launchd",
    ),
    Malware("backdoor.sh", "Backdoor", "/var/tmp/backdoor.sh", "SH", "Script", "sshd"),
)

ENGINES: tuple[tuple[str, str], ...] = (
    ("pre_execution", "On-Write Static AI"),
    ("pre_execution_suspicious", "On-Write Static AI - Suspicious"),
    ("data_files", "Documents, Scripts"),
    ("executables", "Behavioral AI"),
    ("reputation", "Reputation"),
    ("sentinelone_cloud", "SentinelOne Cloud"),
    ("exploits", "Anti Exploitation / Fileless"),
)

TACTICS: tuple[str, ...] = (
    "Execution",
    "Initial Access",
    "Defense Evasion",
    "Persistence",
    "Discovery",
    "Privilege Escalation",
    "Credential Access",
    "Command and Control",
)

# (osType, osName, osRevision, machine types it runs on)
OPERATING_SYSTEMS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("windows", "Windows 11 Pro", "22631", ("desktop", "laptop")),
    ("windows", "Windows 10 Enterprise", "19045", ("desktop", "laptop")),
    ("windows", "Windows Server 2025 Standard", "26100", ("server",)),
    ("windows", "Windows Server 2019 Datacenter", "17763", ("server",)),
    ("windows_legacy", "Windows 7 Professional", "7601", ("desktop",)),
    ("macos", "macOS Sequoia", "15.1", ("laptop", "desktop")),
    ("macos", "macOS Sonoma", "14.7.1", ("laptop",)),
    ("linux", "Ubuntu 22.04.4 LTS", "5.15.0-91-generic", ("server", "kubernetes node")),
    ("linux", "Red Hat Enterprise Linux 9.4", "5.14.0-427.el9", ("server",)),
    ("linux", "Debian GNU/Linux 12", "6.1.0-26-amd64", ("server", "storage")),
)

HOST_WORDS: tuple[str, ...] = (
    "fin",
    "hr",
    "dev",
    "ops",
    "sales",
    "mkt",
    "lab",
    "db",
    "web",
    "app",
    "k8s",
    "build",
    "dc",
    "file",
    "mail",
    "vpn",
    "ci",
    "edge",
    "ws",
    "kiosk",
)
USER_NAMES: tuple[str, ...] = (
    "jdoe",
    "asmith",
    "bwayne",
    "ckent",
    "dprince",
    "pparker",
    "tstark",
    "nromanoff",
    "root",
    "administrator",
    "svc_backup",
)
DOMAINS: tuple[str, ...] = ("WORKGROUP", "CORP", "DOMAIN", "ACME.LOCAL")
SERIAL_JUNK: tuple[str, ...] = ("To Be Filled By O.E.M.", "System Serial Number", "0")
