"""RFC 6902 JSON Patch between a unit's head and a variant, via the `jsonpatch` library.

A proposal carries the change as a patch (the reference prefers it to a full
replacement) so reviewers see exactly which fields move and risk is computed per
changed field. Paths are JSON Pointers (RFC 6901), so keys holding "/" or "~"
round-trip.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from cublab.domain.errors import InvalidInput


def make_patch(base: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations that turn `base` into `target` (empty when they are equal)."""
    return list(jsonpatch.make_patch(base, target).patch)


def apply_patch(base: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """`base` with `ops` applied; `base` itself is never modified."""
    try:
        patched: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(base), ops, in_place=True)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise InvalidInput(f"patch: cannot apply to the base revision: {exc}") from None
    return patched


def changed_paths(ops: list[dict[str, Any]]) -> list[str]:
    """The JSON Pointers the patch writes or removes, in order, without repeats.

    A `move` changes both its source (`from`) and its destination; a `copy` only its
    destination; a `test` changes nothing.
    """
    paths: list[str] = []
    for op in ops:
        kind = op.get("op")
        if kind == "test":
            continue
        if kind == "move" and "from" in op:
            paths.append(op["from"])
        paths.append(op["path"])
    return list(dict.fromkeys(paths))


def patch_touches_deletion(ops: list[dict[str, Any]]) -> bool:
    """True if the patch removes a value (a `remove` op); a `move` keeps its value, so it is not one."""
    return any(op.get("op") == "remove" for op in ops)
