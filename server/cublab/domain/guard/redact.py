"""The command as it may be stored: literal secrets taken out, or the whole withheld.

The decision log records the command the guard judged, and a command line can carry a
credential (`--token ghp_…`, `--from-literal=password=…`, `AWS_SECRET_ACCESS_KEY=… aws …`,
a here-document holding a Secret). `redact` replaces every value the secret gate flags,
every value given to a flag whose name says secret (`--password X`), and every literal the
caller found elsewhere (the secret values of the documents the command applies); then it
checks the result again, and if the gate still finds anything the command is withheld
whole. What is stored never holds a literal secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cublab.domain.secrets import find_secrets_in_text, is_secret_name


def _mark(kinds: Iterable[str]) -> str:
    """A placeholder the gate reads as one (no space, in angle brackets): `<redacted:github-token>`."""
    return "<redacted:" + "+".join(sorted(set(kinds))) + ">"


def _redact_word(word: str) -> tuple[str, list[str]] | None:
    """The word with its flagged value replaced, and the kinds, or None when nothing in it is flagged."""
    kinds = [f.kind for f in find_secrets_in_text(word)]
    if not kinds:
        return None
    if "=" in word:
        head, _, value = word.rpartition("=")
        if value and not find_secrets_in_text(head):
            return f"{head}={_mark(kinds)}", kinds
    return _mark(kinds), kinds


def redact(command: str | Sequence[str], literals: Iterable[str] = ()) -> tuple[str, list[str]]:
    """(what may be stored, the kinds of secret taken out). `literals` are values known to be secret."""
    words = [command] if isinstance(command, str) else list(command)
    text = command if isinstance(command, str) else " ".join(command)
    kinds: list[str] = []
    for known in sorted({v for v in literals if v and len(v) >= 4}, key=len, reverse=True):
        if known in text:
            text = text.replace(known, "<redacted:secret-value>")
            kinds.append("secret-value")
    pieces = text.replace("\n", " \n ").split(" ") if isinstance(command, str) else [w for w in words]
    if not isinstance(command, str):
        pieces = [p for w in pieces for p in (w.split(" ") if " " in w else [w])]
    out: list[str] = []
    previous = ""
    for piece in pieces:
        bare = piece.strip("'\"")
        found = _redact_word(bare) if bare and not bare.startswith("<redacted:") else None
        if found is None and previous.startswith("-") and bare and not bare.startswith(("-", "<redacted:")):
            flag = previous.lstrip("-").split("=", 1)[0]
            if is_secret_name(flag) or flag in ("secret-string", "kube-token"):
                found = _mark(["secret-argument"]), ["secret-argument"]
        if found is not None:
            piece, new = found
            kinds += new
        out.append(piece)
        if piece.strip():
            previous = piece
    text = " ".join(out).replace(" \n ", "\n")
    still = [f.kind for f in find_secrets_in_text(text)]
    if still:
        return f"<command withheld: it holds a literal secret ({', '.join(sorted(set(still)))})>", sorted(
            set(kinds + still)
        )
    return text, sorted(set(kinds))
