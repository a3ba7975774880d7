"""The rules of a finding's life, with no database in sight: what a sighting does to a stored
finding, what a complete snapshot's absence does to it, when a record may replace the stored
one, and how the records of a re-imaged host resolve to one machine. Both store backends call
these functions; the store only fetches their inputs and writes their answers.

A finding is closed by absence only when a run's *complete* snapshot lacked it, and then:

* its endpoint is unknown, retired (decommissioned, uninstalled) or superseded by a re-imaged
  agent record: ``archived``;
* its endpoint was rescanned since the finding was last seen (a newer ``lastScanDate`` on its
  other risks; or, with none left, the endpoint has been active since): ``fixed``;
* otherwise (offline, not rescanned yet): ``stale``, and ``archived`` after 90 days stale.

A finding seen again after any closed state is ``reopened``. Leaving the token's scope archives a
finding with the reason ``out of scope``; it is never ``fixed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from s1uvm.model import State

STALE_TO_ARCHIVED_DAYS = 90
CLOSED = (State.FIXED, State.STALE, State.ARCHIVED)
# Why a finding was archived without its endpoint having been rescanned: kept in its history.
OUT_OF_SCOPE = "out of scope"
SUPERSEDED = "agent superseded"


def state_on_sight(kind: str, reported: str, old: str | None) -> str:
    """The state a finding takes when a record of it arrives: what the record says, except
    that an open record of a finding that was closed (or, for a threat, marked a false
    positive) makes it ``reopened``, and a reopened one stays reopened while open."""
    if old is None or reported != State.OPEN:
        return reported
    closed = (*CLOSED, State.REOPENED) + ((State.SUPPRESSED,) if kind == "threat" else ())
    return State.REOPENED if old in closed else reported


def event(old: str | None, new: str) -> str:
    """The history event of a change from ``old`` to ``new``."""
    if old is None:
        return "created"
    if old == new:
        return "updated"
    if new in (State.FIXED, State.SUPPRESSED, State.REOPENED, State.STALE, State.ARCHIVED):
        return str(new)
    return "updated"


def replaces(stored_updated: str | None, new_updated: str | None, *, stored_this_run: bool) -> bool:
    """Whether a record may replace the stored version of the same object. Never one with an
    older ``updatedAt`` (a console that serves records out of order must not turn a finding
    back); and within one run, not one with the same ``updatedAt`` either, so a record sent
    twice in one walk with different contents does not flip the finding back and forth."""
    if stored_updated is None or new_updated is None:
        return True
    if new_updated < stored_updated:
        return False
    return not (stored_this_run and new_updated == stored_updated)


@dataclass(frozen=True, slots=True)
class Absence:
    """What is known of a finding that a complete snapshot did not contain. Times are
    ISO-8601 UTC text in one format, so they compare as text."""

    state: str
    endpoint_known: bool
    endpoint_lifecycle: str | None
    scanned_at: str | None  # the finding's own last lastScanDate
    seen_at: str | None  # when it was last seen
    endpoint_active_at: str | None
    # The newest lastScanDate of the endpoint's other risks in this snapshot: proof that the
    # endpoint was scanned again and the finding was not among the results.
    rescan_at: str | None


def on_absence(a: Absence, now: str, archive_before: str) -> tuple[str, str | None] | None:
    """The new state (and ``fixed_at``) of a finding a complete snapshot lacked; None when it
    stays as it is. ``archive_before``: a stale finding last seen before this is archived."""
    fixed_at: str | None = None
    if not a.endpoint_known or a.endpoint_lifecycle in ("retired", "superseded"):
        new = State.ARCHIVED
    elif a.rescan_at and (a.scanned_at is None or a.rescan_at > a.scanned_at):
        new, fixed_at = State.FIXED, a.rescan_at
    elif (
        a.rescan_at is None
        and a.endpoint_lifecycle == "active"
        and a.endpoint_active_at
        and (a.scanned_at is None or a.endpoint_active_at > a.scanned_at)
    ):
        new, fixed_at = State.FIXED, now
    elif a.state == State.STALE and a.seen_at and a.seen_at < archive_before:
        new = State.ARCHIVED
    else:
        new = State.STALE
    if new == a.state:
        return None
    return str(new), fixed_at


JUNK_SERIALS = frozenset(
    {
        "",
        "0",
        "none",
        "null",
        "n/a",
        "na",
        "not specified",
        "not available",
        "to be filled by o.e.m.",
        "system serial number",
        "default string",
        "123456789",
        "0123456789",
        "chassis serial number",
    }
)


def serial_key(serial: str | None) -> str | None:
    """A serial number fit to identify a machine, normalised; None for placeholders."""
    if serial is None:
        return None
    key = serial.strip().lower()
    return None if key in JUNK_SERIALS else key


@dataclass(slots=True)
class AgentRecord:
    """One agent record of a machine, as re-image resolution sees it."""

    agent_id: str
    asset_id: str
    serial: str | None
    host: str
    macs: set[str]
    retired: bool
    active: str  # last active time, "" when unknown


def same_machine(a: AgentRecord, b: AgentRecord) -> bool:
    """Two agent records of one machine (a re-image): the same serial number, or the same
    hostname and a shared MAC address."""
    if a.agent_id == b.agent_id:
        return False
    if a.serial and a.serial == b.serial:
        return True
    return bool(a.host and a.host == b.host and a.macs & b.macs)


def current_record(records: Sequence[AgentRecord]) -> AgentRecord:
    """The record that stands for a machine now: the most recently active of the ones not
    retired (or of all, when every one is); the others are superseded by it."""
    return max(records, key=lambda k: (not k.retired, k.active))
