"""Reading a shell command line into the simple commands it will run.

The guard judges what a command will do, so it first has to find every program the
line runs: `a && b | c; d` runs four, `sudo env X=1 kubectl ...` runs kubectl,
`bash -c "..."` runs what its string says, and `$(...)` runs its inside before the
outside. This module does that with `shlex` (POSIX rules: quotes, escapes, comments)
and nothing else; it never reads a file, the environment or the clock.

What it gives back is a list of `Segment`s, one per simple command, each with its
argv, the environment assignments in front of it, and what arrives on its standard
input when the line says so (a here-document, a here-string, `echo ... |` or
`cat <<EOF |`, or `< file`). Anything it cannot read with confidence (an unbalanced
quote, a nesting deeper than `MAX_DEPTH`) is reported as a problem, never guessed:
the guard denies what it cannot read.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_DEPTH = 6  # bash -c "sh -c '...'" nested deeper than this is refused, not read
SUBST = "$__cublab_subst_{}__"  # what a $(...) or `...` is replaced by: a `$` word, so it is never a target
HEREDOC = "__cublab_heredoc_{}__"
_OPERATORS = ("&&", "||", ";;", "|&", ">>", "&>", ">&", "<<<", "<>", "<&", "(", ")", ";", "|", "&", "<", ">", "\n")
_SEPARATORS = {"&&", "||", ";;", ";", "&", "\n", "(", ")", "|", "|&"}
_REDIRECTS = {">", ">>", "&>", ">&", "<>", "<&", "<", "<<<"}
# Reserved words that can lead a simple command: what follows them is what runs.
KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "esac", "!", "{", "}"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_HEREDOC_OP = re.compile(r"(?<!<)<<(?!<)(-?)[ \t]*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_FD_BEFORE_REDIRECT = re.compile(r"(?<=\s)\d+(?=[<>])")


@dataclass
class Segment:
    """One simple command: what runs, with which environment assignments, fed what."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None  # text the line feeds it (here-document, here-string, echo/cat piped in)
    stdin_file: str | None = None  # `< file`
    piped_from: Segment | None = None


@dataclass
class Parsed:
    segments: list[Segment]
    problems: list[str]  # what could not be read; the guard denies a command that has any
    exports: list[str] = field(default_factory=list)  # `export NAME=...` seen, in order (KUBECONFIG matters)


def _outside_quotes(text: str, *, double_too: bool = False) -> list[bool]:
    """For each character, whether it is outside single quotes (where `$` and backticks expand), or
    with `double_too` outside any quotes (where `<<` starts a here-document)."""
    out = []
    single = double = escaped = False
    for ch in text:
        out.append(not single and not (double_too and double))
        if escaped:
            escaped = False
        elif ch == "\\" and not single:
            escaped = True
        elif ch == "'" and not double:
            single = not single
        elif ch == '"' and not single:
            double = not double
    return out


def _extract_heredocs(text: str, bodies: list[str]) -> str:
    """Replace each `<<WORD` and its body by `< HEREDOC_n`, keeping the body aside (it is the command's stdin)."""
    lines = text.split("\n")
    free = _outside_quotes(text, double_too=True)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        pending: list[tuple[str, bool]] = []
        offset = starts[i]

        def swap(m: re.Match[str], pending: list[tuple[str, bool]] = pending, offset: int = offset) -> str:
            if not free[offset + m.start()]:  # `<<` inside quotes is text, not a here-document
                return m.group(0)
            pending.append((m.group(3), m.group(1) == "-"))
            bodies.append("")
            return f"< {HEREDOC.format(len(bodies) - 1)}"

        first = len(bodies)
        line = _HEREDOC_OP.sub(swap, line)
        out.append(line)
        i += 1
        for n, (word, strip_tabs) in enumerate(pending):
            body: list[str] = []
            while i < len(lines):
                candidate = lines[i].lstrip("\t") if strip_tabs else lines[i]
                i += 1
                if candidate == word:
                    break
                body.append(candidate)
            bodies[first + n] = "\n".join(body) + ("\n" if body else "")
    return "\n".join(out)


def _extract_substitutions(text: str, inner: list[str]) -> str | None:
    """Replace `$(...)`, `<(...)`, `>(...)` and backticks (outside single quotes) by a `$` word, keeping
    what they run: it runs too, and is judged as its own command. None if one is not closed."""
    free = _outside_quotes(text)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        opener = text[i : i + 2]
        if free[i] and opener in ("$(", "<(", ">(") and not text.startswith("$((", i):
            depth, j = 1, i + 2
            quote: str | None = None
            while j < len(text) and depth:
                c = text[j]
                if quote:
                    if c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                j += 1
            if depth:
                return None
            inner.append(text[i + 2 : j - 1])
            out.append(SUBST.format(len(inner) - 1))
            i = j
            continue
        if free[i] and ch == "`":
            j = text.find("`", i + 1)
            if j < 0:
                return None
            inner.append(text[i + 1 : j])
            out.append(SUBST.format(len(inner) - 1))
            i = j + 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_operator(token: str) -> list[str]:
    """A run of punctuation shlex kept together (`)\\n`, `2>&1` leftovers) as the operators it holds."""
    out = []
    while token:
        op = next((o for o in _OPERATORS if token.startswith(o)), token[0])
        out.append(op)
        token = token[len(op) :]
    return out


def tokens(text: str) -> list[str]:
    """Words and operators, POSIX quoting rules; raises ValueError on an unbalanced quote."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    out: list[str] = []
    for tok in lexer:
        if tok and all(c in "();<>|&\n" for c in tok):
            out.extend(_split_operator(tok))
        else:
            out.append(tok)
    return out


def split_line(text: str, depth: int = 0, bodies: list[str] | None = None) -> Parsed:
    """Every simple command the line runs, with its input; problems for what cannot be read.
    `bodies`: the here-documents already taken out of an enclosing line (a `$(...)` inside it)."""
    if depth > MAX_DEPTH:
        return Parsed([], [f"the command nests shells more than {MAX_DEPTH} deep"])
    bodies = [] if bodies is None else bodies
    inner: list[str] = []
    text = text.replace("\\\r\n", "").replace("\\\n", "")
    text = _extract_heredocs(text, bodies)
    replaced = _extract_substitutions(text, inner)
    if replaced is None:
        return Parsed([], ["a command substitution ($(...) or a backtick) is not closed"])
    text = _FD_BEFORE_REDIRECT.sub("", replaced)
    try:
        words = tokens(text)
    except ValueError as exc:
        return Parsed([], [f"the shell cannot read it either: {exc}"])
    parsed = Parsed([], [])
    for body in inner:  # what a substitution runs, runs first
        sub = split_line(body, depth + 1, bodies)
        parsed.segments += sub.segments
        parsed.problems += sub.problems
        parsed.exports += sub.exports
    current: list[str] = []
    previous: Segment | None = None
    piped = False

    def close(op: str | None) -> None:
        nonlocal current, previous, piped
        if current:
            seg = _segment(current, bodies)
            if piped and previous is not None:
                seg.piped_from = previous
            if seg.argv and seg.argv[0] == "export":
                parsed.exports += [a.split("=", 1)[0] for a in seg.argv[1:] if _ASSIGNMENT.match(a)]
            parsed.segments.append(seg)
            previous = seg
        piped = op in ("|", "|&")
        current = []

    for word in words:
        if word in _SEPARATORS:
            close(word)
        else:
            current.append(word)
    close(None)
    return parsed


def _segment(words: list[str], bodies: list[str]) -> Segment:
    """Redirections taken out (a `<` source kept as stdin), leading assignments taken apart."""
    argv: list[str] = []
    seg = Segment(argv=argv)
    i = 0
    while i < len(words):
        w = words[i]
        if w in _REDIRECTS:
            target = words[i + 1] if i + 1 < len(words) else ""
            if w == "<":
                m = re.fullmatch(r"__cublab_heredoc_(\d+)__", target)
                if m and int(m.group(1)) < len(bodies):
                    seg.stdin = bodies[int(m.group(1))]
                else:
                    seg.stdin_file = target
            elif w == "<<<":
                seg.stdin = target + "\n"
            i += 2
            continue
        argv.append(w)
        i += 1
    while argv and (argv[0] in KEYWORDS or _ASSIGNMENT.match(argv[0])):
        if argv[0] in KEYWORDS:  # `then kubectl ...`, `do kubectl ...`, `{ kubectl ...`: the command follows
            argv.pop(0)
        else:
            name, value = argv.pop(0).split("=", 1)
            seg.env[name] = value
    if argv and argv[0] in ("for", "select", "case"):
        argv.clear()  # a loop or case header runs nothing; its variable is a `$` word where it is used
    return seg


def from_argv(argv: Sequence[str]) -> Parsed:
    """An argv list given as such (no shell reads it): one segment, its leading assignments taken apart."""
    return Parsed([_segment(list(argv), [])], [])
