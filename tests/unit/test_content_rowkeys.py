"""snapshot.content.rowkeys: Table-safe, reversible, ordered RowKeys and part keys."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshot.content.rowkeys import part_key, row_key, split_row_key
from tests.unit.content_samples import FORBIDDEN_KEY_CHARS, HOSTILE_NAMES


def test_row_key_form_is_readable_and_reversible() -> None:
    assert row_key("microsoft.teams.meetingpolicy", "TeamsMeetingPolicy-Global", 0) == (
        "microsoft.teams.meetingpolicy|TeamsMeetingPolicy-Global|0000"
    )
    assert row_key("Microsoft.Entra.User", "a", 3) == "microsoft.entra.user|a|0003"
    key = row_key("microsoft.x.y", "O'B #1 / 50% ?\\|", 1)
    assert key == "microsoft.x.y|O%27B %231 %2F 50%25 %3F%5C%7C|0001"
    assert split_row_key(key) == ("microsoft.x.y", "O'B #1 / 50% ?\\|", 1)
    assert split_row_key(row_key("microsoft.x.y", "tab\t\x85é😀", 2)) == ("microsoft.x.y", "tab\t\x85é😀", 2)


def test_row_keys_never_start_with_a_tilde() -> None:
    for resource_type in ("~evil", "\x7fdel", "ÿ", "😀", "", "|"):
        key = row_key(resource_type, "~name", 0)
        assert key < "~", key
        assert split_row_key(key)[0] == resource_type


def test_long_names_are_cut_with_a_hash() -> None:
    a, b = "x" * 2000, "x" * 1999 + "y"
    key_a, key_b = row_key("microsoft.x.y", a, 0), row_key("microsoft.x.y", b, 0)
    assert key_a != key_b
    assert len(key_a) < 480
    assert "%~" in key_a
    assert key_a.startswith("microsoft.x.y|xxxx")
    # an escape is never split by the cut
    cut = row_key("microsoft.x.y", "#" * 500, 0).split("|")[1]
    assert cut.split("%~")[0].replace("%23", "") == ""


def test_row_keys_group_by_type_then_name() -> None:
    pairs = [
        ("microsoft.a", "z"),
        ("microsoft.a.b", "a"),
        ("microsoft.a", "a"),
        ("microsoft.a", "a b"),
        ("microsoft.b", ""),
    ]
    keys = sorted(row_key(t, n, 0) for t, n in pairs)
    types = [split_row_key(k)[0] for k in keys]
    # each type's keys are contiguous
    seen: list[str] = []
    for t in types:
        if not seen or seen[-1] != t:
            assert t not in seen
            seen.append(t)


KEY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=600) | st.sampled_from(HOSTILE_NAMES)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(KEY_TEXT, KEY_TEXT, st.integers(0, 20)), min_size=1, max_size=5, unique=True),
)
def test_row_key_is_table_safe_and_unique(identities: list[tuple[str, str, int]]) -> None:
    keys = set()
    for resource_type, name, occurrence in identities:
        key = row_key(resource_type, name, occurrence)
        assert not (set(key) & FORBIDDEN_KEY_CHARS), key
        assert "'" not in key
        assert key < "~"
        assert len(key.encode("utf-16-le", "surrogatepass")) <= 1024 - 2 * 11  # room for the part key wrapping
        assert len(part_key(key, 9999).encode("utf-16-le", "surrogatepass")) <= 1024
        assert row_key(resource_type, name, occurrence) == key
        got_type, got_name, got_occurrence = split_row_key(key)
        assert got_occurrence == occurrence
        if "%~" not in key:
            assert (got_type, got_name) == (resource_type.lower(), name)
        keys.add(key)
    lowered = {(t.lower(), n, o) for t, n, o in identities}
    assert len(keys) == len(lowered)
