"""Properties of the guard's parser: wrapping a command never hides what it writes, and no text crashes it."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cublab.domain.guard import parse_command

WRITES = [
    "kubectl delete ns web --context prod",
    "kubectl apply -f web.yaml -n shop",
    "helm upgrade web ./chart --kube-context prod",
    "cub unit update web web.yaml --space shop-prod",
    "TF_WORKSPACE=prod terraform apply",
    "aws --profile prod lambda delete-function --function-name f",
]
WRAPPERS = [
    "sudo {}",
    "sudo -u root -- {}",
    "env A=1 {}",
    "nohup {} &",
    "time {}",
    "timeout 5 {}",
    "nice -n 5 {}",
    "true && {}",
    "false || {}",
    "{} | tee out.log",
    "{} 2>&1 | tail -5",
    "if true; then {}; fi",
    "while true; do {}; done",
    "( {} )",
    "{{ {}; }}",
    "bash -c '{}'",
    "sh -lc '{}'",
    "eval '{}'",
    "echo '{}' | bash",
    "bash <<EOF\n{}\nEOF",
    "x=$({})",
    "ls `{}`",
    "stdbuf -oL {}",
    "command {}",
]


def writes(command: str) -> list[tuple]:
    return [
        (a.tool, a.verb, a.context, a.namespace, a.space, a.unit, a.resources, a.files)
        for a in parse_command(command).actions
        if a.effect in ("write", "authority_write", "human_only", "unknown")
    ]


@pytest.mark.parametrize("wrapper", WRAPPERS)
@pytest.mark.parametrize("command", WRITES)
def test_wrapping_a_command_never_hides_its_write(command: str, wrapper: str) -> None:
    bare = writes(command)
    assert bare, command
    wrapped = writes(wrapper.format(command))
    for w in bare:
        assert w in wrapped, (wrapper, wrapped)


PIECES = ["kubectl ", "apply ", "delete ", "-f ", "- ", "x.yaml ", "--context ", "prod ", "sudo ", "bash -c ", "<<EOF",
          "\nEOF\n", "EOF", "'", '"', "`", "$(", ")", "(", "|", "&&", ";", "\n", "\\", "{ ", "}", "xargs ", "-I{} ",
          "cd ", "env ", "X=1 ", "<<<", "<", ">", "2>&1", "#", " "]  # fmt: skip


def internal(command: str | list[str]) -> list[str]:
    return [p for p in parse_command(command).problems if "could not read it" in p]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_no_line_trips_the_parser(text: str) -> None:
    """Unreadable lines are problems (denied); none may be an internal error of the parser."""
    assert internal(text) == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_text_trips_the_parser(text: str) -> None:
    assert internal(text) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=8))
def test_no_argv_trips_the_parser(argv: list[str]) -> None:
    assert internal(["kubectl", *argv]) == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WRITES), st.lists(st.sampled_from(WRAPPERS), min_size=1, max_size=3))
def test_nested_wrappers_never_hide_a_write_either(command: str, wrappers: list[str]) -> None:
    """Nesting may break the quoting (then the guard cannot read it and denies); it never hides the write.
    Single quotes and backticks do not nest in the shell (`'a 'b' c'` is one word, `a `b` c` two
    substitutions: another command than the one written), so a wrapper using them appears once."""
    assume(sum(1 for w in wrappers if "'" in w or "`" in w) <= 1)
    line = command
    for wrapper in wrappers:
        line = wrapper.format(line)
    parsed = parse_command(line)
    found = writes(line)
    assert parsed.problems or all(w in found for w in writes(command)), (line, found)
