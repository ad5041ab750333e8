"""JSON Patch round trips: base + make_patch(base, target) == target."""

from __future__ import annotations

import copy

import pytest

from cublab.domain.errors import InvalidInput
from cublab.domain.patch import apply_patch, changed_paths, make_patch, patch_touches_deletion

CASES = [
    ("identical", {"a": 1}, {"a": 1}),
    ("replace scalar", {"lambdaMemory": 256}, {"lambdaMemory": 512}),
    ("add key", {"a": 1}, {"a": 1, "b": {"c": [1, 2]}}),
    ("remove key", {"a": 1, "b": 2}, {"a": 1}),
    ("nested dict", {"spec": {"db": {"size": "s"}}}, {"spec": {"db": {"size": "m", "tier": 2}}}),
    ("list append", {"l": [1, 2]}, {"l": [1, 2, 3]}),
    ("list shrink", {"l": [1, 2, 3, 4]}, {"l": [4]}),
    (
        "list of dicts",
        {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "x"}]},
    ),
    ("nested lists", {"m": [[1, 2], [3, [4, 5]]]}, {"m": [[1], [3, [4, 5, 6]], []]}),
    ("key with slash", {"labels": {"app.kubernetes.io/name": "a"}}, {"labels": {"app.kubernetes.io/name": "b"}}),
    ("key with tilde", {"a~b": 1, "c": {"~": 2}}, {"a~b": 3, "c": {"~": 2, "/~": 4}}),
    ("type change", {"x": [1, 2]}, {"x": {"0": 1}}),
    ("null and bool", {"x": None, "y": True}, {"x": False, "y": None}),
    ("empty to full", {}, {"a": {"b": [1, {"c": "d"}]}}),
]


@pytest.mark.parametrize(("base", "target"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_trip(base, target):
    before = copy.deepcopy(base)
    ops = make_patch(base, target)
    assert apply_patch(base, ops) == target
    assert base == before  # the base revision is never modified
    assert (ops == []) == (base == target)


def test_changed_paths_escape_keys():
    ops = make_patch({"labels": {"a/b": 1, "c~d": 1}}, {"labels": {"a/b": 2, "c~d": 2}})
    assert sorted(changed_paths(ops)) == ["/labels/a~1b", "/labels/c~0d"]


def test_changed_paths_of_move_and_test():
    ops = [
        {"op": "test", "path": "/a", "value": 1},
        {"op": "move", "from": "/a", "path": "/b"},
        {"op": "replace", "path": "/b", "value": 2},
    ]
    assert changed_paths(ops) == ["/a", "/b"]


def test_deletion_detected_only_for_removals():
    assert patch_touches_deletion(make_patch({"a": 1, "b": 2}, {"a": 1}))
    assert not patch_touches_deletion(make_patch({"a": 1}, {"a": 2, "b": 3}))


def test_patch_that_does_not_fit_is_invalid_input():
    with pytest.raises(InvalidInput, match="patch"):
        apply_patch({"a": 1}, [{"op": "remove", "path": "/missing"}])
