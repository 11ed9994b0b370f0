"""snapshot.diff.merge: the streaming merge-join and its capped result, over stored-order streams (pure)."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapshot.content.document import resource_from_entities
from snapshot.content.entities import resource_entities
from snapshot.content.rowkeys import is_part_key, part_keys
from snapshot.diff.merge import diff_streams
from snapshot.diff.result import DiffResult
from snapshot.diff.values import HASHTABLE_PLACEHOLDER, PropertyChange

pytestmark = pytest.mark.timeout(20)

CA = "microsoft.entra.conditionalaccesspolicy"
EXO = "microsoft.exchange.transportrule"
GLP = "microsoft.entra.grouplifecyclepolicy"


def res(resource_type: str, name: Any, properties: Any = None, **extra: Any) -> dict[str, Any]:
    return {"displayName": name, "resourceType": resource_type, "properties": properties or {}, **extra}


def utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def stored(resources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the app streams for a job: the resources' entities in Table Storage order, assembled back
    (as `document.assemble_resources` does, synchronously)."""
    entities = sorted(resource_entities("job", resources), key=lambda e: utf16_key(e["RowKey"]))
    by_key = {entity["RowKey"]: entity for entity in entities}
    return [
        resource_from_entities(entity, [by_key[key] for key in part_keys(entity)])
        for entity in entities
        if not is_part_key(entity["RowKey"])
    ]


def _run_sync(coro: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def stream(resources: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for resource in resources:
        yield resource


async def diff(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]], **kwargs: Any) -> DiffResult:
    return await diff_streams(stream(stored(old)), stream(stored(new)), **kwargs)


def refs(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(entry["resourceType"], entry["displayName"]) for entry in entries]


# --- streams ---------------------------------------------------------------------------------------------


async def test_added_removed_changed_and_unchanged() -> None:
    old = [
        res(CA, "AADConditionalAccessPolicy-Block legacy", {"State": "enabled", "IncludeUsers": ["All"]}),
        res(CA, "AADConditionalAccessPolicy-MFA", {"State": "enabled"}),
        res(EXO, "EXOTransportRule-Deny", {"Priority": 1, "FromMemberOf": ["FinanceTeam@contoso.com"]}),
        res(GLP, "AADGroupLifecyclePolicy", {"GroupLifetimeInDays": 99}),
        res(EXO, "EXOTransportRule-Old", {"Priority": 2}),
    ]
    new = [
        res(GLP, "AADGroupLifecyclePolicy", {"GroupLifetimeInDays": 180}),
        res(CA, "AADConditionalAccessPolicy-MFA", {"State": "enabled"}),
        res(CA, "AADConditionalAccessPolicy-Block legacy", {"State": "disabled", "IncludeUsers": "All"}),
        res(EXO, "EXOTransportRule-Deny", {"Priority": 1, "FromMemberOf": "FinanceTeam@contoso.com"}),
        res(EXO, "EXOTransportRule-New", {"Priority": 5}),
    ]
    result = (await diff(old, new)).to_json()
    assert result["summary"] == {
        "added": 1,
        "removed": 1,
        "changed": 2,
        "unchanged": 2,
        "notComparable": 0,
        "byResourceType": {
            CA: {"added": 0, "removed": 0, "changed": 1, "unchanged": 1, "notComparable": 0},
            GLP: {"added": 0, "removed": 0, "changed": 1, "unchanged": 0, "notComparable": 0},
            EXO: {"added": 1, "removed": 1, "changed": 0, "unchanged": 1, "notComparable": 0},
        },
    }
    assert result["added"] == [{"resourceType": EXO, "displayName": "EXOTransportRule-New"}]
    assert result["removed"] == [{"resourceType": EXO, "displayName": "EXOTransportRule-Old"}]
    assert result["changed"] == [
        {
            "resourceType": CA,
            "displayName": "AADConditionalAccessPolicy-Block legacy",
            "changes": [{"path": "State", "kind": "changed", "old": "enabled", "new": "disabled"}],
            "notComparable": [],
            "truncated": False,
        },
        {
            "resourceType": GLP,
            "displayName": "AADGroupLifecyclePolicy",
            "changes": [{"path": "GroupLifetimeInDays", "kind": "changed", "old": 99, "new": 180}],
            "notComparable": [],
            "truncated": False,
        },
    ]
    assert result["notComparable"] == []
    assert result["truncated"] is False
    json.dumps(result)  # JSON-serialisable


async def test_annotation_only_difference_is_unchanged() -> None:
    old = [res(GLP, "AADGroupLifecyclePolicy", {"Days": 99, "Days@odata.type": "#Int64", "N": {"a@odata.type": "x"}})]
    new = [res(GLP, "AADGroupLifecyclePolicy", {"N": {}, "Days": 99})]
    result = await diff(old, new)
    assert (result.summary.unchanged, result.summary.changed, result.changed, result.not_comparable) == (1, 0, [], [])


async def test_hashtable_only_resource_is_unchanged_and_listed_as_not_comparable() -> None:
    policy = "microsoft.entra.authenticationmethodpolicy"
    old = [
        res(policy, "Only placeholder", {"RegistrationEnforcement": HASHTABLE_PLACEHOLDER, "Ensure": "Present"}),
        res(policy, "Both", {"RegistrationEnforcement": HASHTABLE_PLACEHOLDER, "Description": "a"}),
    ]
    new = [
        res(policy, "Only placeholder", {"RegistrationEnforcement": {"State": "on"}, "Ensure": "Present"}),
        res(policy, "Both", {"RegistrationEnforcement": HASHTABLE_PLACEHOLDER, "Description": "b"}),
    ]
    result = (await diff(old, new)).to_json()
    summary = result["summary"]
    assert (summary["changed"], summary["unchanged"], summary["notComparable"]) == (1, 1, 2)
    assert summary["byResourceType"][policy]["notComparable"] == 2
    both = {"path": "RegistrationEnforcement", "kind": "notComparable"}
    assert result["changed"] == [
        {
            "resourceType": policy,
            "displayName": "Both",
            "changes": [{"path": "Description", "kind": "changed", "old": "a", "new": "b"}],
            "notComparable": [{**both, "old": HASHTABLE_PLACEHOLDER, "new": HASHTABLE_PLACEHOLDER}],
            "truncated": False,
        }
    ]
    assert result["notComparable"] == [
        {
            "resourceType": policy,
            "displayName": "Only placeholder",
            "changes": [],
            "notComparable": [{**both, "old": HASHTABLE_PLACEHOLDER, "new": {"State": "on"}}],
            "truncated": False,
        }
    ]


async def test_duplicates_matched_by_occurrence_and_type_case_insensitive() -> None:
    old = [
        res(CA, "Dup", {"n": 1}),
        res(CA, "Dup", {"n": 2}),
        res(CA, "Dup", {"n": 3}),
    ]
    new = [
        res("Microsoft.Entra.ConditionalAccessPolicy", "Dup", {"n": 1}),
        res("MICROSOFT.ENTRA.CONDITIONALACCESSPOLICY", "Dup", {"n": 20}),
    ]
    result = await diff(old, new)
    assert (result.summary.unchanged, result.summary.changed, result.summary.removed, result.summary.added) == (
        1,
        1,
        1,
        0,
    )
    assert result.changed[0].changes == [PropertyChange("n", "changed", 2, 20)]
    assert [r.resource_type for r in result.removed] == [CA]
    assert list(result.summary.by_resource_type) == [CA]


HOSTILE_NAMES = [
    "O'Brien",
    "a#b",
    "a/b\\c",
    "what?",
    "100%",
    "pipe|name",
    "~tilde",
    "  spaced  ",
    "",
    "Ünïcödé-名前",
    "x\uff61",  # BMP, above the surrogate range
    "x\U0001f600",  # astral: sorts before "x\uff61" in UTF-16, after it by code point
    "\U0001f600 emoji first",
    "tab\tand\nnewline",
    "a" * 600,  # cut to a hashed segment
    "a" * 599 + "b",
]


async def test_hostile_names_sort_and_match() -> None:
    old = [res(CA, name, {"v": index}) for index, name in enumerate(HOSTILE_NAMES)]
    new = [res(CA, name, {"v": index + (index % 2)}) for index, name in enumerate(HOSTILE_NAMES)]
    new.append(res(CA, "x\U0001f601", {}))
    result = await diff(old, new)
    assert result.summary.unchanged == (len(HOSTILE_NAMES) + 1) // 2
    assert result.summary.changed == len(HOSTILE_NAMES) // 2
    assert (result.summary.added, result.summary.removed) == (1, 0)
    assert sorted(entry.display_name for entry in result.changed) == sorted(HOSTILE_NAMES[1::2])
    assert [ref.display_name for ref in result.added] == ["x\U0001f601"]


async def test_utf16_order_not_code_point_order() -> None:
    names = ["x\uff61", "x\U0001f600"]
    ordered = [r["displayName"] for r in stored(res(CA, name) for name in names)]
    assert ordered == ["x\U0001f600", "x\uff61"]  # Table Storage order
    assert sorted(names) == ["x\uff61", "x\U0001f600"]  # Python's order differs
    old = [res(CA, name, {"v": 1}) for name in names]
    result = await diff(old, old)
    assert result.summary.unchanged == 2
    # a stream in code point order is out of RowKey order: refused, not silently mis-joined
    code_point_order = [res(CA, name) for name in sorted(names)]
    with pytest.raises(ValueError, match="not in RowKey order"):
        await diff_streams(stream(code_point_order), stream([]))


async def test_unsorted_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="new stream is not in RowKey order"):
        await diff_streams(stream([]), stream([res(EXO, "b"), res(CA, "a")]))


async def test_resource_type_filter() -> None:
    old = [res(CA, "a", {"v": 1}), res(EXO, "r", {"v": 1}), res(GLP, "g", {"v": 1})]
    new = [res(CA, "a", {"v": 2}), res(EXO, "r", {"v": 2}), res(GLP, "g", {"v": 1}), res(GLP, "h")]
    result = await diff(old, new, resource_type="Microsoft.Entra.GroupLifecyclePolicy")
    assert list(result.summary.by_resource_type) == [GLP]
    assert (result.summary.unchanged, result.summary.added, result.summary.changed) == (1, 1, 0)
    result = await diff(old, new, resource_type=EXO.upper())
    assert [entry.display_name for entry in result.changed] == ["r"]
    assert (await diff(old, new, resource_type="microsoft.none")).summary.to_json()["byResourceType"] == {}


async def test_filter_stops_reading_past_the_type() -> None:
    pulled: list[str] = []

    async def tracked(resources: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        for resource in resources:
            pulled.append(resource["displayName"])
            yield resource

    resources = stored([res("a.type", "1"), res("b.type", "2"), res("c.type", "3"), res("d.type", "4")])
    result = await diff_streams(tracked(resources), tracked(resources), resource_type="b.type")
    assert result.summary.unchanged == 1
    assert "4" not in pulled


async def test_non_object_and_missing_properties() -> None:
    old = [res(CA, "a", None) | {"properties": "text"}, {"displayName": "b", "resourceType": CA}]
    new = [res(CA, "a", None) | {"properties": ["text"]}, res(CA, "b", {"x": 1})]
    result = await diff(old, new)
    assert result.summary.changed == 1
    assert result.changed[0].changes == [PropertyChange("x", "added", None, 1)]


async def test_result_cap_and_truncated_flag() -> None:
    old = [res(CA, f"p{i:03d}", {"v": 0, "w": 0}) for i in range(100)]
    new = [res(CA, f"p{i:03d}", {"v": 1, "w": 1}) for i in range(100)] + [res(EXO, f"n{i}") for i in range(10)]
    result = await diff(old, new, max_entries=30, max_changes=45)
    assert result.truncated is True
    assert (result.summary.changed, result.summary.added) == (100, 10)  # totals stay complete
    assert len(result.changed) + len(result.added) + len(result.removed) <= 30
    assert sum(len(entry.changes) for entry in result.changed) <= 45
    assert result.changed[22].truncated is True and len(result.changed[22].changes) == 1
    assert not (await diff(old, new)).truncated


# --- streaming -------------------------------------------------------------------------------------------

SIZE = 20_000


def generated(side: str, index: int) -> dict[str, Any]:
    """Resource `index` of a generated snapshot, ~1 KB, in RowKey order; a few differ between sides."""
    properties: dict[str, Any] = {
        "Identity": f"policy-{index}",
        "Ensure": "Present",
        "Description": "x" * 800,
        "Members": [f"user{j}@contoso.com" for j in range(5)],
        "Priority@odata.type": "#Int64",
        "Priority": index,
    }
    if side == "new" and index % 1000 == 7:
        properties["Priority"] = -index
    return res("microsoft.teams.meetingpolicy", f"TeamsMeetingPolicy-{index:06d}", properties)


class Lockstep:
    """Two generated streams that record how far apart (in resource index) the consumer pulls them."""

    def __init__(self) -> None:
        self.position = {"old": -1, "new": -1}
        self.produced = 0
        self.max_gap = 0

    async def stream(self, side: str) -> AsyncIterator[dict[str, Any]]:
        for index in range(SIZE + 1):
            if (side == "new" and index % 1000 == 3) or (side == "old" and index == SIZE):
                continue  # removed in the new snapshot / added at the end
            self.position[side] = index
            self.produced += 1
            self.max_gap = max(self.max_gap, abs(self.position["old"] - self.position["new"]))
            yield generated(side, index)


async def test_twenty_thousand_resources_streamed_in_lockstep() -> None:
    probe = Lockstep()
    result = await diff_streams(probe.stream("old"), probe.stream("new"))
    summary = result.summary
    assert (summary.added, summary.removed, summary.changed) == (1, SIZE // 1000, SIZE // 1000)
    assert summary.unchanged == SIZE - 2 * (SIZE // 1000)
    assert probe.produced == 2 * SIZE - SIZE // 1000 + 1
    assert probe.max_gap <= 2  # neither stream runs ahead: one resource per side in flight


async def test_memory_stays_well_below_one_snapshot() -> None:
    count = 5_000
    one_snapshot = len(json.dumps([generated("old", i) for i in range(count)]).encode())

    async def side(name: str) -> AsyncIterator[dict[str, Any]]:
        for index in range(count):
            yield generated(name, index)

    tracemalloc.start()
    try:
        result = await diff_streams(side("old"), side("new"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.summary.changed == count // 1000
    assert one_snapshot > 4_000_000
    assert peak < one_snapshot // 10


# --- against a reference -----------------------------------------------------------------------------------

NAME_ALPHABET = st.sampled_from(["a", "B", "'", "#", "/", "|", "%", "~", "é", "\uff61", "\U0001f600", " "])
RESOURCES = st.lists(
    st.tuples(
        st.sampled_from([CA, EXO, "Microsoft.Exchange.TransportRule", "~odd.type"]),
        st.text(NAME_ALPHABET, max_size=4),
        st.integers(0, 2),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(RESOURCES, RESOURCES)
def test_matches_a_dict_reference(old_spec: list[tuple[str, str, int]], new_spec: list[tuple[str, str, int]]) -> None:
    old = [res(t, name, {"v": v}) for t, name, v in old_spec]
    new = [res(t, name, {"v": v}) for t, name, v in new_spec]

    def by_identity(resources: list[dict[str, Any]]) -> dict[tuple[str, str, int], int]:
        seen: Counter[tuple[str, str]] = Counter()
        out: dict[tuple[str, str, int], int] = {}
        for r in resources:  # stored order keeps each (type, name)'s document order
            identity = (r["resourceType"].lower(), r["displayName"])
            out[(*identity, seen[identity])] = r["properties"]["v"]
            seen[identity] += 1
        return out

    a, b = by_identity(old), by_identity(new)
    result = _run_sync(diff(old, new))
    assert result.summary.added == len(b.keys() - a.keys())
    assert result.summary.removed == len(a.keys() - b.keys())
    assert result.summary.changed == sum(a[k] != b[k] for k in a.keys() & b.keys())
    assert result.summary.unchanged == sum(a[k] == b[k] for k in a.keys() & b.keys())
    assert Counter(refs([r.to_json() for r in result.added])) == Counter(k[:2] for k in b.keys() - a.keys())
