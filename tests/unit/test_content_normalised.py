"""snapshot.content.normalised: splitting a resource for storage and putting it back exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshot.content.normalised import NormalisedResource, denormalise, normalise
from tests.unit.content_samples import as_json, entities_of, realistic_resources, reassemble


def test_normalise_splits_top_level_annotations_and_sorts_values() -> None:
    resource = realistic_resources()[2]
    n = normalise(resource)
    assert n.resource_type == "microsoft.entra.grouplifecyclepolicy"
    assert n.display_name == "AADGroupLifecyclePolicy"
    assert n.annotations == {"GroupLifetimeInDays@odata.type": "#Int64"}
    assert "GroupLifetimeInDays@odata.type" not in n.values
    assert list(n.values) == sorted(n.values)
    assert n.extra == {}
    assert denormalise(n) == resource


def test_nested_annotations_stay_in_place() -> None:
    n = normalise(realistic_resources()[3])
    assert n.annotations == {}
    assert n.values["Nested"]["Inner@odata.type"] == "#Int32"


def test_normalise_keeps_what_it_needs_to_rebuild_odd_resources() -> None:
    mixed = normalise(realistic_resources()[4])
    assert mixed.resource_type == "microsoft.entra.namedlocationpolicy"
    assert mixed.extra == {"resourceType": "Microsoft.Entra.NamedLocationPolicy", "@odata.etag": 'W/"1"'}
    for odd in (
        {},
        {"displayName": None, "resourceType": 5, "properties": None},
        {"displayName": "x", "properties": [1, 2]},
        {"resourceType": "microsoft.a.b", "properties": {"@odata.type": "#x", "A": 1}},
    ):
        assert denormalise(normalise(odd)) == odd


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just("System.Collections.Hashtable")
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
PROPERTY_NAMES = st.text(max_size=12) | st.sampled_from(["A", "A@odata.type", "@odata.type", "B@x", "Ensure"])
RESOURCES = st.fixed_dictionaries(
    {},
    optional={
        "displayName": st.text(max_size=30) | JSON_SCALARS,
        "resourceType": st.sampled_from(["microsoft.entra.user", "Microsoft.Entra.User", "MICROSOFT.X", ""])
        | JSON_SCALARS,
        "properties": st.dictionaries(PROPERTY_NAMES, JSON_VALUES, max_size=6) | JSON_VALUES,
        "@odata.etag": st.text(max_size=5),
        "extra": JSON_VALUES,
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCES)
def test_normalise_denormalise_round_trip(resource: dict[str, Any]) -> None:
    n = normalise(resource)
    assert n.resource_type == n.resource_type.lower()
    assert not any("@" in key for key in n.values)
    assert all("@" in key for key in n.annotations)
    assert as_json(denormalise(n)) == as_json(resource)
    # and through entities, as JSON
    [rebuilt] = reassemble(entities_of([resource]))
    assert rebuilt == as_json(resource)


def test_normalised_resource_is_frozen() -> None:
    n = NormalisedResource("t", "n", {})
    with pytest.raises(AttributeError):
        n.display_name = "m"  # type: ignore[misc]
