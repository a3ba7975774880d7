"""Record collections the API pages over, and the keyset scan they share.

A table knows, for each filterable or sortable API field, how to read it off a record, and how
to render a record as JSON bytes. Generated tables read the world; raw tables (``--data``)
read parsed copies of the user's files and serve the original bytes untouched.
"""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from s1uvm.simulator.world import ID_BASE, ID_SPACE, RISK_SLOTS, Agent, Kind, World, id_key

RISK_ID_BASE = ID_BASE + Kind.RISK * ID_SPACE

R = TypeVar("R")
Getter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """An API field of a record: how to read it, and what kind of value it holds."""

    get: Getter
    kind: str  # "id" | "date" | "text" | "enum" | "bool" | "number"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which accounts/sites/groups a request may see: the token's scope intersected with the
    scope filters it sent. ``None`` means unrestricted; an empty set means nothing."""

    accounts: frozenset[str] | None = None
    sites: frozenset[str] | None = None
    groups: frozenset[str] | None = None

    def allows(self, account: str | None, site: str | None, group: str | None) -> bool:
        if self.accounts is not None and account not in self.accounts:
            return False
        if self.sites is not None and site not in self.sites:
            return False
        return self.groups is None or group in self.groups


Predicate = Callable[[Any], bool]


def norm(kind: str, value: Any) -> Any:
    """Comparable form of a field value: ids compare numerically, as S1 orders them."""
    if kind == "id" and isinstance(value, str):
        return id_key(value)
    return value


def sort_key(value: Any, record_id: str) -> tuple[Any, ...]:
    """Total order for keyset paging: nulls first, then the (normalised) value, then the id."""
    if value is None:
        return (0, 0, id_key(record_id))
    return (1, value, id_key(record_id))


class Table(ABC, Generic[R]):
    """Base: an in-memory list of records with cached sort orders."""

    name: str
    fields: dict[str, Field]

    def __init__(self, name: str, fields: dict[str, Field]) -> None:
        self.name = name
        self.fields = fields
        self._orders: dict[str, tuple[int, list[tuple[Any, ...]], list[R]]] = {}

    # Overridden by subclasses -------------------------------------------------------------
    def version(self) -> int:
        return 0

    @abstractmethod
    def items(self) -> Sequence[R]: ...

    @abstractmethod
    def scope_of(self, rec: R) -> tuple[str | None, str | None, str | None]: ...

    @abstractmethod
    def render(self, rec: R) -> bytes: ...

    def record_id(self, rec: R) -> str:
        value = self.fields["id"].get(rec)
        return str(value)

    # Shared machinery ---------------------------------------------------------------------
    def _order(self, sort_by: str) -> tuple[list[tuple[Any, ...]], list[R]]:
        version = self.version()
        cached = self._orders.get(sort_by)
        if cached and cached[0] == version:
            return cached[1], cached[2]
        field = self.fields[sort_by]
        keyed = sorted(
            (
                (sort_key(norm(field.kind, field.get(r)), self.record_id(r)), r)
                for r in self.items()
            ),
            key=lambda kr: kr[0],
        )
        keys = [k for k, _ in keyed]
        recs = [r for _, r in keyed]
        self._orders[sort_by] = (version, keys, recs)
        return keys, recs

    def scan(
        self, sort_by: str, descending: bool, after: tuple[Any, ...] | None, scope: Scope
    ) -> Iterator[tuple[tuple[Any, ...], R]]:
        """Records within ``scope`` in keyset order, strictly after ``after``."""
        keys, recs = self._order(sort_by)
        if descending:
            start = len(keys) - 1 if after is None else bisect.bisect_left(keys, after) - 1
            indexes: Iterable[int] = range(start, -1, -1)
        else:
            start = 0 if after is None else bisect.bisect_right(keys, after)
            indexes = range(start, len(keys))
        for i in indexes:
            rec = recs[i]
            if scope.allows(*self.scope_of(rec)):
                yield keys[i], rec

    def count(self, scope: Scope, predicates: list[Predicate]) -> int:
        return sum(
            1
            for r in self.items()
            if scope.allows(*self.scope_of(r)) and all(p(r) for p in predicates)
        )


def encode(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


class RiskTable(Table[Any]):
    """Risks derived agent by agent, so a million of them are never all in memory.

    Risk ids are agent-major, so the id order is the agent order: a walk in id order streams
    one agent's risks at a time, and a cursor tells which agent to resume at. Other sort
    orders fall back to materialising the matching keys (documented; the connectors page by
    id).
    """

    def __init__(self, world: World, fields: dict[str, Field], render: Callable[[Any], Any]):
        super().__init__("risks", fields)
        self.world = world
        self._render = render

    def version(self) -> int:
        return self.world.version

    def items(self) -> Sequence[Any]:
        return [r for a in self.world.agents for r in self.world.risks_of(a)]

    def scope_of(self, rec: Any) -> tuple[str | None, str | None, str | None]:
        a = rec.agent
        return a.account.id, a.site.id, a.group.id

    def render(self, rec: Any) -> bytes:
        return encode(self._render(rec))

    def _agents(self, scope: Scope) -> Iterator[Agent]:
        for a in self.world.agents:
            if scope.allows(a.account.id, a.site.id, a.group.id):
                yield a

    def scan(
        self, sort_by: str, descending: bool, after: tuple[Any, ...] | None, scope: Scope
    ) -> Iterator[tuple[tuple[Any, ...], Any]]:
        if sort_by != "id":
            yield from super().scan(sort_by, descending, after, scope)
            return
        agents = self.world.agents
        first = 0 if not descending else len(agents) - 1
        if after is not None and after[2][1]:  # "" is the before-everything cursor
            offset = int(after[2][1]) - RISK_ID_BASE
            first = min(max(offset // RISK_SLOTS, 0), len(agents) - 1) if agents else 0
        order = range(first, -1, -1) if descending else range(first, len(agents))
        for seq in order:
            a = agents[seq]
            if not scope.allows(a.account.id, a.site.id, a.group.id):
                continue
            risks = self.world.risks_of(a)
            if descending:
                risks.reverse()
            for r in risks:
                key = sort_key(id_key(r.id), r.id)
                if after is not None and (key >= after if descending else key <= after):
                    continue
                yield key, r

    def count(self, scope: Scope, predicates: list[Predicate]) -> int:
        if predicates:
            return super().count(scope, predicates)
        return sum(a.risk_count() for a in self._agents(scope))


class ListTable(Table[R]):
    """A table over an in-memory list owned elsewhere (the world, or ``--data`` files)."""

    def __init__(
        self,
        name: str,
        fields: dict[str, Field],
        items: Callable[[], Sequence[R]],
        scope_of: Callable[[R], tuple[str | None, str | None, str | None]],
        render: Callable[[R], bytes],
        version: Callable[[], int] = lambda: 0,
    ) -> None:
        super().__init__(name, fields)
        self._items = items
        self._scope_of = scope_of
        self._render = render
        self._version = version

    def version(self) -> int:
        return self._version()

    def items(self) -> Sequence[R]:
        return self._items()

    def scope_of(self, rec: R) -> tuple[str | None, str | None, str | None]:
        return self._scope_of(rec)

    def render(self, rec: R) -> bytes:
        return self._render(rec)
