"""Parses and validates the query string of a list request, with the console's semantics
(s1-api.md §4): ``limit`` 1–1000 (default 10; ``/groups`` ≤ 300), ``skip`` ≤ 1000,
``cursor``, ``countOnly``, ``skipCount``, ``sortBy``/``sortOrder``, comma-joined list filters,
``__gt/__gte/__lt/__lte`` ISO-8601 and ``__between`` epoch-millisecond date filters, and ids of
at least 18 digits. Anything malformed is a 400 with code 4000010.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s1uvm.simulator.tables import Field, Predicate, Scope, Table
from s1uvm.simulator.timefmt import parse_iso

ID_MIN = 10**17
DATE_OPS = ("gt", "gte", "lt", "lte", "between")


class ValidationError(ValueError):
    """A 400 "Validation Error" whose detail names the parameter, as the console's does."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What an endpoint accepts. ``lists`` maps a parameter to (field, how to match)."""

    lists: dict[str, tuple[str, str]] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)  # param → accounts|sites|groups
    single_scope: bool = False  # risks: "Single Account/Site/Group ID to filter by"
    dates: tuple[str, ...] = ()
    sortable: tuple[str, ...] = ("id",)
    defaults: dict[str, str] = field(default_factory=dict)
    ignored: frozenset[str] = frozenset()  # accepted for compatibility, not applied
    max_limit: int = 1000


@dataclass(slots=True)
class ListQuery:
    limit: int = 10
    skip: int = 0
    cursor: str | None = None
    count_only: bool = False
    skip_count: bool = False
    sort_by: str = "id"
    descending: bool = False
    predicates: list[Predicate] = field(default_factory=list)
    scope_filters: dict[str, frozenset[str]] = field(default_factory=dict)
    signature: tuple[tuple[str, str], ...] = ()  # the filters, for caching counts


def _bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise ValidationError(f"{name}: Not a valid boolean.")


def _int(name: str, value: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"{name}: Not a valid integer.") from None
    if number < lo:
        raise ValidationError(f"{name}: Must be greater than or equal to {lo}.")
    if number > hi:
        raise ValidationError(f"{name}: Must be less than or equal to {hi}.")
    return number


def _ids(name: str, value: str) -> list[str]:
    out = []
    for i, part in enumerate(value.split(",")):
        part = part.strip()
        if not part.isdigit():
            raise ValidationError(f"{name}: {i}: Not a valid integer.")
        # Real ids are 18–19 digits; redacted samples pad small ids with zeros, keep those.
        if int(part) < ID_MIN and len(part) < 18:
            raise ValidationError(f"{name}: {i}: Must be greater than or equal to {ID_MIN}.")
        out.append(part)
    return out


def _date_bound(name: str, value: str) -> int:
    try:
        return parse_iso(value)
    except ValueError:
        raise ValidationError(f"{name}: Not a valid datetime.") from None


def _between(name: str, value: str) -> tuple[int, int]:
    lo, sep, hi = value.partition("-")
    if not sep or not lo.isdigit() or not hi.isdigit():
        raise ValidationError(f"{name}: Expected '<from_ms>-<to_ms>' in epoch milliseconds.")
    # Inclusive at millisecond precision: the whole last millisecond counts.
    return int(lo) * 1000, int(hi) * 1000 + 999


def _date_predicate(get: Callable[[Any], Any], op: str, bound: Any) -> Predicate:
    if op == "between":
        lo, hi = bound

        def between(r: Any) -> bool:
            v = get(r)
            return v is not None and lo <= v <= hi

        return between
    compare: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda v, b: v > b,
        "gte": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "lte": lambda v, b: v <= b,
    }
    cmp = compare[op]

    def dated(r: Any) -> bool:
        v = get(r)
        return isinstance(v, int) and cmp(v, bound)

    return dated


def _list_predicate(
    get: Callable[[Any], Any], match: str, values: list[Any], negate: bool
) -> Predicate:
    if match == "enum":
        wanted = {str(v).lower() for v in values}

        def test(r: Any) -> bool:
            v = get(r)
            return (str(v).lower() in wanted) if v is not None else False
    elif match == "contains":
        needle = str(values[0]).lower()

        def test(r: Any) -> bool:
            v = get(r)
            return isinstance(v, str) and needle in v.lower()
    else:
        wanted_set = set(values)

        def test(r: Any) -> bool:
            return get(r) in wanted_set

    if negate:
        return lambda r: not test(r)
    return test


def parse(params: list[tuple[str, str]], filters: Filters, table: Table[Any]) -> ListQuery:
    q = ListQuery()
    seen: dict[str, str] = {}
    for name, value in params:
        if name in seen:
            raise ValidationError(f"{name}: Given more than once.")
        seen[name] = value
    for name, value in filters.defaults.items():
        seen.setdefault(name, value)
    signature: list[tuple[str, str]] = []
    for name, value in seen.items():
        if name == "limit":
            q.limit = _int(name, value, 1, filters.max_limit)
        elif name == "skip":
            q.skip = _int(name, value, 0, 1000)
        elif name == "cursor":
            q.cursor = value
        elif name == "countOnly":
            q.count_only = _bool(name, value)
        elif name == "skipCount":
            q.skip_count = _bool(name, value)
        elif name == "sortBy":
            if value not in filters.sortable:
                raise ValidationError(
                    f"sortBy: Must be one of: {', '.join(sorted(filters.sortable))}."
                )
            q.sort_by = value
        elif name == "sortOrder":
            if value.lower() not in ("asc", "desc"):
                raise ValidationError("sortOrder: Must be one of: asc, desc.")
            q.descending = value.lower() == "desc"
        elif name in filters.scopes:
            ids = _ids(name, value)
            if filters.single_scope and len(ids) > 1:
                raise ValidationError(f"{name}: Single ID expected.")
            level = filters.scopes[name]
            # Two filters on one level (``ids`` and ``accountIds``) intersect.
            q.scope_filters[level] = q.scope_filters.get(level, frozenset(ids)) & frozenset(ids)
            signature.append((name, value))
        elif name in filters.lists or (name.endswith("Nin") and name[:-3] in filters.lists):
            negate = name not in filters.lists
            field_name, match = filters.lists[name[:-3] if negate else name]
            fld = table.fields[field_name]
            values: list[Any]
            if match == "ids":
                values = _ids(name, value)
            elif match == "bools":
                values = [_bool(name, v) for v in value.split(",")]
            elif match == "contains":
                if len(value) < 3:
                    raise ValidationError(f"{name}: Shorter than minimum length 3.")
                values = [value]
            else:
                values = [v.strip() for v in value.split(",") if v.strip()]
                if not values:
                    raise ValidationError(f"{name}: Field may not be empty.")
            q.predicates.append(_list_predicate(fld.get, match, values, negate))
            signature.append((name, value))
        elif "__" in name and name.split("__", 1)[0] in filters.dates:
            field_name, op = name.split("__", 1)
            if op not in DATE_OPS:
                raise ValidationError(f"{name}: Unknown field.")
            fld = table.fields[field_name]
            bound: Any = _between(name, value) if op == "between" else _date_bound(name, value)
            q.predicates.append(_date_predicate(fld.get, op, bound))
            signature.append((name, value))
        elif name in filters.ignored:
            continue
        else:
            raise ValidationError(f"{name}: Unknown field.")
    q.signature = tuple(sorted(signature))
    return q


def scope_for(token_scope: Scope, filters: dict[str, frozenset[str]]) -> Scope:
    """The token's scope narrowed by the request's scope filters (never widened)."""
    parts: dict[str, frozenset[str] | None] = {
        "accounts": token_scope.accounts,
        "sites": token_scope.sites,
        "groups": token_scope.groups,
    }
    for key, ids in filters.items():
        current = parts[key]
        parts[key] = ids if current is None else current & ids
    return Scope(parts["accounts"], parts["sites"], parts["groups"])


__all__ = ["Field", "Filters", "ListQuery", "ValidationError", "parse", "scope_for"]
