"""The baseline rules (snapshot/baseline.py): what a stored resource becomes in a monitor's baseline."""

from __future__ import annotations

from snapshot.baseline import Selection, baseline_resources, key_properties

CA = "microsoft.entra.conditionalaccesspolicy"
GUID = "4e80a6c1-3b0f-4a53-9a2f-0c8b3d2e1f10"


def resource(name: str, resource_type: str = CA, **properties: object) -> dict[str, object]:
    return {"displayName": name, "resourceType": resource_type, "properties": properties}


def test_ids_nulls_annotations_and_placeholders_are_dropped_at_any_depth() -> None:
    raw = resource(
        "Policy",
        DisplayName="Policy",
        Id=GUID,
        TenantId=GUID,
        State="enabled",
        Nothing=None,
        Blob="System.Collections.Hashtable",
        **{"Priority@odata.type": "#Int32"},
        Priority=3,
        Settings={
            "Mode": "Audit",
            "Gone": None,
            "Inner@odata.type": "#x",
            "List": [None, "a", "System.Collections.Hashtable"],
        },
        Ensure="Present",
    )
    [entry] = baseline_resources([raw], Selection())
    assert entry == {
        "displayName": "Policy",
        "resourceType": CA,
        "properties": {
            "DisplayName": "Policy", "Ensure": "Present", "Priority": 3, "Settings": {"List": ["a"], "Mode": "Audit"},
            "State": "enabled",
        },
    }  # fmt: skip


def test_the_key_and_ensure_are_kept_whatever_the_property_list() -> None:
    raw = resource("Policy", DisplayName="Policy", State="on", Other=1, Ensure="Present")
    [entry] = baseline_resources([raw], Selection(properties={CA: frozenset({"State"})}))
    assert entry["properties"] == {"DisplayName": "Policy", "State": "on", "Ensure": "Present"}


def test_a_guid_key_is_kept_and_is_single_instance_is_never_added() -> None:
    assert key_properties("microsoft.entra.grouplifecyclepolicy", {"GroupLifetimeInDays": 1}) == ("IsSingleInstance",)
    [entry] = baseline_resources(
        [resource("Mailbox", "microsoft.exchange.sharedmailbox", Identity=GUID, Alias="x")], Selection()
    )
    assert entry["properties"] == {"Identity": GUID, "Alias": "x"}
    [lifecycle] = baseline_resources(
        [resource("Lifecycle", "microsoft.entra.grouplifecyclepolicy", GroupLifetimeInDays=180)], Selection()
    )
    assert lifecycle["properties"] == {"GroupLifetimeInDays": 180}


def test_filters_unique_names_and_entries_without_properties() -> None:
    raws = [
        resource("Same", DisplayName="One", Ensure="Present"),
        resource("Same", DisplayName="Two", Ensure="Present"),
        resource("x" * 200, DisplayName="Three"),
        resource("Empty", Id=GUID),
        resource("Other type", "microsoft.entra.user", UserPrincipalName="a@b"),
    ]
    entries = baseline_resources(raws, Selection(resource_types=frozenset({CA})))
    names = [e["displayName"] for e in entries]
    assert names == ["Same", "Same (2)", "x" * 128]
    assert baseline_resources(raws, Selection(resource_names=frozenset({"Other type"})))[0]["properties"] == {
        "UserPrincipalName": "a@b"
    }
