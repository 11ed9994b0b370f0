"""azd-proof names, tags and regions: any azd environment name yields valid names; only the app carries azd-service-name."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.bicep import BICEP_FILES, FUNCTION_APP, MAIN, body, decorator, evaluate, parse, variable

# Naming rules per resource type (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules).
NAME_RULES = {
    "storage": r"[a-z0-9]{3,24}",  # Microsoft.Storage/storageAccounts
    "deploymentContainer": r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",  # blob container: no '--'
    "logAnalytics": r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]",  # Microsoft.OperationalInsights/workspaces
    "applicationInsights": r"[^%&\\?/]{1,260}(?<![ .])",  # Microsoft.Insights/components
    "plan": r"[A-Za-z0-9-]{1,60}",  # Microsoft.Web/serverfarms
    "functionApp": r"[a-z0-9][a-z0-9-]{0,58}[a-z0-9]",  # Microsoft.Web/sites (the host name label)
    "identity": r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}",  # Microsoft.ManagedIdentity/userAssignedIdentities
    # Microsoft.Graph/applications uniqueName: no published pattern; kept to the characters every other name uses.
    "appRegistration": r"[a-z0-9][a-z0-9-]{2,62}[a-z0-9]",
}

# azd environment names: letters, digits, '-', '_', '.', '(' and ')', up to 64 characters.
ENVIRONMENT_NAMES = ["dev", "x", "My_Env.(1)", "prod.west_(eu)", "(((", "a" * 64, "Z9-" * 21, "_._"]


@pytest.mark.parametrize("environment_name", ENVIRONMENT_NAMES)
def test_every_resource_name_is_valid_for_any_azd_environment_name(environment_name: str) -> None:
    main = parse(MAIN)
    names = variable(main, "names")
    assert set(names) == set(NAME_RULES), "a new resource name needs its rule in NAME_RULES"
    for key, expression in names.items():
        name = evaluate(main, expression, {"environmentName": environment_name})
        assert re.fullmatch(NAME_RULES[key], name), f"{key}: {name!r} is not a valid name"


def test_environment_name_accepts_what_azd_accepts() -> None:
    parameter = parse(MAIN)["parameters"]["environmentName"]
    assert decorator(parameter, "max_length") >= 64
    assert decorator(parameter, "min_length") == 1


def test_names_differ_per_environment() -> None:
    main = parse(MAIN)
    app = variable(main, "names")["functionApp"]
    assert evaluate(main, app, {"environmentName": "a_b"}) != evaluate(main, app, {"environmentName": "a.b"})


def test_azd_service_name_tag_is_on_the_function_app_only() -> None:
    """Older azd fails when two resources carry azd-service-name: only the site may."""
    call = body(parse(MAIN)["modules"]["functionApp"])["params"]
    assert call["siteTags"] == {"'azd-service-name'": "api"}
    assert "azd-service-name" not in json.dumps(call["tags"]) and call["tags"] == "allTags"
    assert "azd-service-name" not in json.dumps(variable(parse(MAIN), "allTags"))
    tagged = []
    for path in BICEP_FILES:
        for name, resource in parse(path).get("resources", {}).items():
            if "siteTags" in json.dumps(body(resource).get("tags")) or "azd-service-name" in json.dumps(body(resource)):
                tagged.append((path.name, name))
    assert tagged == [(FUNCTION_APP.name, "site")]


def test_location_is_a_flex_consumption_region_with_azd_metadata() -> None:
    location = parse(MAIN)["parameters"]["location"]
    allowed = decorator(location, "allowed")
    assert allowed and {"westeurope", "northeurope", "eastus", "eastus2", "swedencentral"} <= set(allowed)
    assert all(re.fullmatch(r"[a-z0-9]+", region) for region in allowed)
    assert "eastus2euap" not in allowed  # a canary region, not for customer deployments
    assert decorator(location, "metadata") == {"azd": {"type": "location"}}
