"""snapshot.diff.values: normalising and comparing values, and the paths of one resource's diff (pure)."""

from __future__ import annotations

import pytest

from snapshot.diff.values import (
    HASHTABLE_PLACEHOLDER,
    NOT_COMPARABLE,
    PropertyChange,
    compare_values,
    diff_resource,
    normalise_value,
)

pytestmark = pytest.mark.timeout(20)


def test_normalise_value_rules() -> None:
    assert normalise_value({"b": 1, "a@odata.type": "#Int64", "a": ["x"]}) == {"a": "x", "b": 1}
    assert list(normalise_value({"b": 1, "a": 2})) == ["a", "b"]
    assert normalise_value([{"k": {"x@odata.type": "t", "x": [[5]]}}]) == {"k": {"x": 5}}
    assert normalise_value(["a", "b"]) == ["a", "b"]
    assert normalise_value(HASHTABLE_PLACEHOLDER) is NOT_COMPARABLE
    assert normalise_value({"x": [HASHTABLE_PLACEHOLDER]}) == {"x": NOT_COMPARABLE}
    assert normalise_value("system.collections.hashtable") == "system.collections.hashtable"


def test_compare_values() -> None:
    assert compare_values("a", ["a"]) == "equal"
    assert compare_values({"a": 1, "b": 2}, {"b": 2, "a": 1}) == "equal"
    assert compare_values({"a": 1, "a@odata.type": "#Int64"}, {"a": 1}) == "equal"
    assert compare_values(1, 1.0) == "equal"
    assert compare_values(True, 1) == "changed"
    assert compare_values("1", 1) == "changed"
    assert compare_values(None, "") == "changed"
    assert compare_values(["a", "b"], ["b", "a"]) == "changed"  # scalar lists are order-sensitive
    assert compare_values(HASHTABLE_PLACEHOLDER, {"a": 1}) == "notComparable"
    assert compare_values(HASHTABLE_PLACEHOLDER, HASHTABLE_PLACEHOLDER) == "notComparable"
    assert compare_values([HASHTABLE_PLACEHOLDER, "x"], ["y", "x"]) == "notComparable"
    assert compare_values([HASHTABLE_PLACEHOLDER, "x"], ["y", "z"]) == "changed"  # "z" != "x" whatever it is
    assert compare_values([HASHTABLE_PLACEHOLDER, "x"], ["x"]) == "changed"
    assert compare_values([HASHTABLE_PLACEHOLDER], ["x", "y"]) == "notComparable"  # one-element list = scalar


def test_diff_resource_paths_and_values() -> None:
    old = {
        "Identity": "Global",
        "Conditions": {"Users": {"IncludeUsers": ["a", "b"], "ExcludeUsers": []}, "Old": 1},
        "Rules": [{"Name": "r0"}, {"Name": "r1"}, {"Name": "r2", "Priority@odata.type": "#Int64", "Priority": 3}],
        "Odd.key": 1,
        "Nested": {'we"ird key': "x"},
        "Gone": {"v": 1, "v@odata.type": "#Int64"},
    }
    new = {
        "Identity": "Global",
        "Conditions": {"Users": {"IncludeUsers": ["a", "c"], "ExcludeUsers": []}, "New": [1, 2]},
        "Rules": [{"Name": "r0"}, {"Name": "r1"}, {"Name": "R2", "Priority": 3}],
        "Odd.key": 2,
        "Nested": {'we"ird key': "y"},
    }
    assert diff_resource(old, new) == [
        PropertyChange("Conditions.New", "added", None, [1, 2]),
        PropertyChange("Conditions.Old", "removed", 1, None),
        PropertyChange("Conditions.Users.IncludeUsers", "changed", ["a", "b"], ["a", "c"]),
        PropertyChange("Gone", "removed", {"v": 1}, None),
        PropertyChange('Nested["we\\"ird key"]', "changed", "x", "y"),
        PropertyChange('["Odd.key"]', "changed", 1, 2),
        PropertyChange("Rules[2].Name", "changed", "r2", "R2"),
    ]


def test_diff_resource_lists_of_different_length_are_whole_values() -> None:
    old = {"Rules": [{"Name": "a"}, {"Name": "b"}]}
    new = {"Rules": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}]}
    assert diff_resource(old, new) == [PropertyChange("Rules", "changed", old["Rules"], new["Rules"])]
    # a one-element list of dicts is the dict: walked into, not compared whole
    assert diff_resource({"R": [{"a": 1, "b": 1}]}, {"R": {"a": 1, "b": 2}}) == [PropertyChange("R.b", "changed", 1, 2)]


def test_diff_resource_normalisation_means_no_change() -> None:
    old = {"IpRanges": "20.29.89.128/32", "A": {"x": 1, "y": 2}, "N@odata.type": "#Int64", "N": 99}
    new = {"N": 99, "A": {"y": 2, "x": 1}, "IpRanges": ["20.29.89.128/32"]}
    assert diff_resource(old, new) == []


def test_diff_resource_hashtable_placeholder() -> None:
    old = {"SystemCredentialPreferences": HASHTABLE_PLACEHOLDER, "Same": HASHTABLE_PLACEHOLDER, "S": 1}
    new = {"SystemCredentialPreferences": {"State": "enabled"}, "Same": HASHTABLE_PLACEHOLDER, "S": 1}
    assert diff_resource(old, new) == [
        PropertyChange("Same", "notComparable", HASHTABLE_PLACEHOLDER, HASHTABLE_PLACEHOLDER),
        PropertyChange("SystemCredentialPreferences", "notComparable", HASHTABLE_PLACEHOLDER, {"State": "enabled"}),
    ]
