"""One pydantic model per tool input.

The MCP adapter publishes these as the tools' input schemas, and the CLI builds
the same models, so a limit written here holds on every path. Field
descriptions are what an agent reads: they say the unit and the limit.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Annotated, Any, Literal, NotRequired, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
    with_config,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict

from cublab.app.outputs import PublishedProposalState, PublishedSandboxStatus
from cublab.domain.durations import MAX_DURATION_TEXT, parse_duration
from cublab.domain.errors import InvalidInput
from cublab.domain.text import has_visible_text, refused_characters_rule, unsafe_character

MAX_POINTS_PER_CALL = 10_000
MAX_CONFIG_BYTES = 1024 * 1024
MAX_ABS_VALUE = 1e15
"""The largest magnitude of a measured value. Every statistic is computed from sums of values and of their squares,
in SQL (float8 on PostgreSQL, REAL on SQLite) and in Python: a square is at most 1e30, so even 2^63 points sum to
about 1e49, nowhere near float8's 1.8e308 on either backend, and the means, spreads and t statistics built from them
stay finite and JSON-serialisable. Doubles also hold every integer up to 9e15 exactly, so counts in nanoseconds or
bytes up to a petabyte fit without rounding."""
MAX_STEP = 2**63 - 1  # a signed 64-bit column (BIGINT)
MAX_REPETITION = 2**31 - 1  # a signed 32-bit column (INTEGER on PostgreSQL)


def _stored_text(value: str) -> str:
    """Text is stored and shown to reviewers: no character a terminal acts on or that reorders what they read.
    The message names the character by code point and position, never the text."""
    problem = unsafe_character(value)
    if problem is not None:
        raise ValueError(f"{problem} is refused: text holds {refused_characters_rule()}")
    return value


# Every string an input model accepts ends in STORED but configuration documents, which are data (parsed,
# then checked for NUL, by `guards.parse_config`). The checks add nothing to the published JSON schemas
# (tests/snapshots/tool_schemas.json), where a `pattern` would; STORED comes after the constraints,
# so they keep their place in the schema and their own messages.
STORED = AfterValidator(_stored_text)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORED]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000), STORED]


def _visible(value: str) -> str:
    if not has_visible_text(value):
        raise ValueError(
            "must contain visible text: blank, zero-width and control characters alone are not something a reviewer can read"
        )
    return value


# What a reviewer must read (a rationale, a justification, a reason): at least one visible character.
VisibleText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), STORED, AfterValidator(_visible)
]
Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    STORED,
]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), STORED]
Explanation = Annotated[
    Annotated[str, StringConstraints(max_length=2000), STORED] | None,
    Field(default=None, description="Why you are doing this, in a sentence; recorded in the audit log."),
]
IdempotencyKey = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$"), STORED] | None,
    Field(
        default=None,
        description="Optional key you choose for this call (1 to 128 visible ASCII characters, e.g. a UUID) so that "
        "retrying it is safe: a repeat with the same key and the same arguments returns the first answer and writes "
        "nothing; the same key with different arguments is refused. Kept per agent and tool for at least the longest "
        "sandbox lifetime (72h by default).",
    ),
]
Limit = Annotated[int, Field(default=50, ge=1, le=200, description="Page size, 1 to 200; default 50.")]
Cursor = Annotated[
    Annotated[str, StringConstraints(max_length=64), STORED] | None,
    Field(default=None, description="`next_cursor` of the previous page; omit for the first page."),
]


def _duration_text(value: str) -> str:
    """A lifetime such as '2h', refused here (malformed, zero, or over MAX_DURATION) before any date arithmetic,
    so every path that takes a ttl gives the same message."""
    try:
        parse_duration(value, "ttl")
    except InvalidInput as exc:
        raise ValueError(str(exc).removeprefix("ttl: ")) from None
    return value


Ttl = Annotated[str, StringConstraints(max_length=32), STORED, AfterValidator(_duration_text)]


# Labels are a list of key/value pairs: strict tool schemas (OpenAI's strict mode, Gemini) can express that,
# where a free-form string-to-string map is not (a strict converter closes it to `{}`).
class Label(BaseModel):
    """A label: a key and its value."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, StringConstraints(min_length=1, max_length=63), STORED] = Field(
        description="The label's key, 1 to 63 characters, e.g. 'team'."
    )
    value: Annotated[str, StringConstraints(max_length=200), STORED] = Field(
        description="The label's value, at most 200 characters (may be empty)."
    )


def _unique_keys(value: list[Label]) -> list[Label]:
    """A key given twice is ambiguous (which value holds?): refused, naming the positions, never the key's text."""
    first: dict[str, int] = {}
    for n, label in enumerate(value, start=1):
        if label.key in first:
            raise ValueError(f"label number {n} repeats the key of label number {first[label.key]}; keys are unique")
        first[label.key] = n
    return value


Labels = Annotated[list[Label], Field(max_length=64), AfterValidator(_unique_keys)]


def label_map(labels: list[Label] | None) -> dict[str, str]:
    """The labels as the mapping the rules read."""
    return {label.key: label.value for label in labels or ()}


# A configuration document as text: a JSON object or YAML of a mapping, parsed by `guards.parse_config`.
# Text rather than a JSON object because strict tool schemas cannot express a free-form object, and a model
# writes a configuration as JSON or YAML text as readily as it writes any other. The byte limit is checked
# on the text before it is parsed (so the message names the limit in bytes), then the parsed mapping's size.
def _document_text(value: str) -> str:
    """A document's characters are data (a PS1 prompt may hold ESC) but NUL, which no database column stores and
    neither JSON nor YAML text may hold raw; named by position, never shown. NUL written as an escape inside the
    text is found once it is parsed."""
    at = value.find("\x00")
    if at >= 0:
        raise ValueError(f"U+0000 (NUL) at position {at} is refused: a configuration's text holds no NUL character")
    return value


DocumentText = Annotated[str, AfterValidator(_document_text)]


class Input(BaseModel):
    """A tool's arguments. An optional argument given as null takes its default: strict tool schemas
    (OpenAI's strict mode) make every argument required, so a caller says "the default" with null."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        return cls.without_defaulted_nulls(data) if isinstance(data, dict) else data

    @classmethod
    def without_defaulted_nulls(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The arguments without the nulls that stand for a non-null default (the default then takes their place)."""
        fields = cls.model_fields
        return {
            k: v
            for k, v in data.items()
            if not (
                v is None
                and k in fields
                and not fields[k].is_required()
                and fields[k].get_default(call_default_factory=True) is not None
            )
        }


class SpawnSandbox(Input):
    name: Name = Field(description="A short name for the test environment, 1 to 200 characters.")
    purpose: Text = Field(min_length=1, description="What the sandbox is for, in a sentence.")
    ttl: Ttl | None = Field(
        default=None,
        description="Lifetime such as '90m', '2h' or '3d'; default 24h, at most 72h (the policy's limits).",
    )
    labels: Labels | None = Field(
        default=None,
        description="Extra labels as key/value pairs (at most 64, keys unique); cublab adds ephemeral, ttl, bypass-confighub and bypass-criterion.",
    )
    context: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORED] = Field(
        default="sandbox",
        description="Where the test environment runs: sandbox, local, ci, preview, or a cluster context such as 'kind-dev'; default 'sandbox'. Production is refused.",
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class SandboxRef(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")


class ListSandboxes(Input):
    status: PublishedSandboxStatus | None = Field(
        default=None, title="Status", description="Only sandboxes in this state."
    )
    limit: Limit
    cursor: Cursor


class RenewSandbox(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")
    ttl: Ttl | None = Field(
        default=None,
        description="New lifetime from now, e.g. '2h'; default: the sandbox's current ttl; at most 72h.",
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class DestroySandbox(Input):
    sandbox_id: Id = Field(description="The sandbox's id (sbx_…).")
    explanation: Explanation
    idempotency_key: IdempotencyKey


class CreateExperiment(Input):
    sandbox_id: Id = Field(description="The live sandbox the experiment runs in (sbx_…).")
    name: Name = Field(description="A short name, 1 to 200 characters.")
    hypothesis: Text = Field(min_length=1, description="What you expect to find, in a sentence.")
    objective_metric: Name = Field(description="The metric that decides the winner, e.g. 'p95_latency_ms'.")
    direction: Literal["minimize", "maximize"] = Field(
        description="Whether lower ('minimize') or higher ('maximize') values of the objective are better."
    )
    target_space: Slug | None = Field(
        default=None,
        description="The authority space the winner would change, e.g. 'messagewall-prod'. Needed before promotion.",
    )
    target_unit: Slug | None = Field(
        default=None, description="The unit (configuration document) in that space the winner would change."
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class ExperimentRef(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")


class ListExperiments(Input):
    sandbox_id: Id | None = Field(default=None, description="Only experiments in this sandbox.")
    limit: Limit
    cursor: Cursor


class LogVariant(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    name: Name = Field(description="A short name for this variant, unique in the experiment.")
    configuration: DocumentText = Field(
        description="The configuration as text: a JSON object or a YAML mapping, e.g. '{\"replicas\": 3}'; at most 1 MiB. "
        "Secrets only as references."
    )
    description: Text = Field(default="", description="What differs in this variant; default: empty.")
    explanation: Explanation
    idempotency_key: IdempotencyKey


# Unknown keys are refused (the published schema says `additionalProperties: false`), but not by this TypedDict's
# config: pydantic-core's per-key check for extra="forbid" costs a third of a batch's validation. `_known_keys`
# counts the points' keys instead, and a batch that holds an unknown key is validated by `_StrictPoint`, which
# reports every problem as before.
@with_config(ConfigDict(json_schema_extra={"additionalProperties": False}))
class Point(TypedDict):
    """One measurement: a variant's value for a metric."""

    # A TypedDict, not a model: pydantic-core checks each point's fields and limits without building an object per
    # point (a 10,000-point batch is one validation, about a fifth of the models' cost). Stored text is checked
    # once per distinct variant and metric, by `_stored_points`, not once per point.
    variant: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="The variant's id (var_…) or its name in this experiment."),
    ]
    metric: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Field(description="Metric name, e.g. 'p95_latency_ms'."),
    ]
    value: Annotated[
        float,
        Field(
            allow_inf_nan=False,
            ge=-MAX_ABS_VALUE,
            le=MAX_ABS_VALUE,
            description="The measured value; finite, from -1e15 to 1e15 (NaN, infinity and larger magnitudes are refused).",
        ),
    ]
    step: NotRequired[
        Annotated[
            int | None,
            Field(ge=0, le=MAX_STEP, description="Optional step (e.g. load level or iteration), 0 to 2^63-1."),
        ]
    ]
    repetition: NotRequired[
        Annotated[int | None, Field(ge=0, le=MAX_REPETITION, description="Optional repetition number, 0 to 2^31-1.")]
    ]


@with_config(ConfigDict(extra="forbid"))
class _StrictPoint(Point):
    """`Point` refusing unknown keys one by one: what validates a batch that holds one (`_known_keys`)."""


_POINTS_LIMITS = Field(min_length=1, max_length=MAX_POINTS_PER_CALL)
_STRICT_POINTS: TypeAdapter[list[_StrictPoint]] = TypeAdapter(Annotated[list[_StrictPoint], _POINTS_LIMITS])


def _known_keys(points: Any, handler: ValidatorFunctionWrapHandler) -> list[Point]:
    """Unknown keys refused, as extra="forbid" would, for the cost of counting keys: `Point` leaves unknown keys
    out of what it returns, so the points hold none when they have as many keys in all as the validated ones do.
    Anything else (an unknown key, any other problem, not a list) is validated by the strict model, so the
    errors, their order and their number are what they always were."""
    if type(points) is list:
        try:
            valid = cast("list[Point]", handler(points))
        except ValidationError:
            pass
        else:
            if sum(map(len, points)) == sum(map(len, valid)):
                return valid
    return _STRICT_POINTS.validate_python(points)


def _stored_points(points: list[Point]) -> list[Point]:
    """The stored-text rule (STORED) for every point's variant and metric, checked once per distinct text; a refusal
    names the first point that holds it, as a per-point check would."""
    for field in ("variant", "metric"):
        texts = set(map(itemgetter(field), points))  # map and itemgetter: no Python frame per point
        bad = next((t for t in texts if unsafe_character(t) is not None), None)
        if bad is not None:
            k = next(k for k, p in enumerate(points) if p[field] == bad)
            message = f"{unsafe_character(bad)} is refused: text holds {refused_characters_rule()}"
            raise ValidationError.from_exception_data(
                "Point",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("stored_text", "{message}", {"message": message}),
                        loc=(k, field),
                        input=bad,
                    )
                ],
            )
    return points


class LogResults(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    points: Annotated[list[Point], _POINTS_LIMITS, WrapValidator(_known_keys), AfterValidator(_stored_points)] = Field(
        description="1 to 10,000 measurements, inserted together or not at all."
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class CompareExperiment(Input):
    experiment_id: Id = Field(description="The experiment's id (exp_…).")
    metric: Name | None = Field(
        default=None, description="Metric to compare; default: the experiment's objective metric."
    )


class PromoteVariant(Input):
    variant_id: Id = Field(description="The variant to propose (var_…); normally the experiment's winner.")
    rationale: VisibleText = Field(description="Why this change should be made, in a few sentences; reviewers read it.")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure you are this change is right, 0 to 1.")
    model: Annotated[str, StringConstraints(max_length=200), STORED] | None = Field(
        default=None, description="The model you run on, e.g. 'claude-sonnet-4'; recorded as provenance."
    )
    justification: VisibleText | None = Field(
        default=None,
        description="Required to promote a variant that is not the winner by experiment_compare: why anyway. Shown to reviewers.",
    )
    target_space: Slug | None = Field(default=None, description="Override the experiment's target space.")
    target_unit: Slug | None = Field(default=None, description="Override the experiment's target unit.")
    new_unit: bool = Field(
        default=False,
        description="True to propose a unit that does not exist yet (risk at least MEDIUM); default false.",
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class ProposalRef(Input):
    proposal_id: Id = Field(description="The proposal's id (prp_…).")


class ListProposals(Input):
    state: PublishedProposalState | None = Field(
        default=None, title="State", description="Only proposals in this state."
    )
    experiment_id: Id | None = Field(default=None, description="Only proposals from this experiment.")
    limit: Limit
    cursor: Cursor


class BypassCheck(Input):
    """A change an agent is about to make outside the authority. Mirrors the engine's ChangeFacts, minus
    what cublab computes or checks itself (secret paths, its own probe of the authority, the space's tier,
    whether an incident is declared and open, whether a sandbox is live), so a caller cannot claim them.
    What the caller does claim can only make the answer stricter."""

    context: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), STORED] = Field(
        description="Where: local, ci, preview, sandbox, staging, production, or a cluster context such as 'kind-dev'."
    )
    kind: Annotated[str, StringConstraints(max_length=200), STORED] = Field(
        default="", description="Resource kind, e.g. 'Deployment'; default: the document's `kind`."
    )
    name: Annotated[str, StringConstraints(max_length=253), STORED] = Field(
        default="", description="Resource name; default: the document's metadata.name."
    )
    space: Annotated[str, StringConstraints(max_length=200), STORED] | None = Field(
        default=None, description="The authority space it belongs to, e.g. 'messagewall-prod'."
    )
    namespace: Annotated[str, StringConstraints(max_length=253), STORED] | None = Field(
        default=None, description="Kubernetes namespace; default: the document's metadata.namespace."
    )
    labels: Labels | None = Field(
        default=None,
        description="The resource's labels as key/value pairs, e.g. ephemeral, ttl, bypass-confighub; default: none.",
    )
    ttl: Ttl | None = Field(
        default=None,
        description=f"Intended lifetime, e.g. '2h', at most {MAX_DURATION_TEXT}; omit if it should persist.",
    )
    persist: bool | None = Field(default=None, description="Whether the configuration should persist; omit if unknown.")
    document: DocumentText | None = Field(
        default=None,
        description="The configuration document itself as text (a JSON object or a YAML mapping, at most 1 MiB); "
        "cublab classifies from it.",
    )
    confighub_reachable: bool | None = Field(
        default=None,
        description="Your claim that the authority is (un)reachable. cublab always probes it itself: 'false' while "
        "cublab reaches it is noted and overruled; 'true' while cublab cannot is weighed, and the stricter answer wins.",
    )
    incident_id: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), STORED] | None
    ) = Field(
        default=None,
        description="The incident id, for an emergency change. It counts only once declared with breakglass_declare "
        "and still open; otherwise the answer says must_declare_incident.",
    )
    sandbox_id: Id | None = Field(
        default=None,
        description="The cublab sandbox (sbx_…) the change is made in: if it is live and the context is not "
        "production, criterion 7 (the winning variant becomes a proposal via variant_promote).",
    )
    adds_value: bool | None = Field(
        default=None, description="Would the authority add value? Default: yes unless a criterion says no."
    )


UnitRef = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=401,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$",
    ),
    STORED,
]
IncidentId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
    STORED,
]


class DeclareBreakGlass(Input):
    incident_id: IncidentId = Field(description="The incident's id as responders name it, e.g. 'INC-2041'.")
    reason: VisibleText = Field(description="What broke and why the normal workflow was bypassed.")
    units: list[UnitRef] = Field(
        min_length=1, max_length=50, description="Affected units as 'space/unit'; each owes a capture within 1 hour."
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class CaptureBreakGlass(Input):
    incident_id: IncidentId = Field(description="The declared incident.")
    unit: UnitRef = Field(description="The unit as 'space/unit'; must be one the incident named.")
    live_state: DocumentText = Field(
        description="The unit's live configuration now, as text (a JSON object or a YAML mapping, at most 1 MiB); "
        "secrets only as references."
    )
    explanation: Explanation
    idempotency_key: IdempotencyKey


class ListObligations(Input):
    status: Literal["open", "overdue", "met", "all"] = Field(
        default="open", description="'open' (the default) includes overdue ones."
    )
    incident_id: IncidentId | None = Field(default=None, description="Only this incident's obligations.")
    limit: Limit
