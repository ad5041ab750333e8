"""The MCP adapter: a registry of tools over the use cases, and nothing else.

Each tool is a `ToolSpec`: its toolset, its input model (the published input
schema), its output model (the output schema), its four annotations and the use
case it calls. No rule lives here: the adapter validates shape, picks the
caller's identity, calls the use case and turns business errors into
`ToolError`s a model can act on.
"""

from __future__ import annotations

import functools
import inspect
import logging
import operator
import os
import types
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, NoReturn, TypeVar, Union, cast, get_args, get_origin

import anyio.to_thread
import mcp.server.mcpserver.server as _sdk_server
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from cublab import __version__, logs
from cublab.auth import ToolAccess, caller_of

# Argument errors reach the agent as pydantic's text; without the documentation links they read
# cleanly. Pydantic reads this once, when it first formats an error, so it is set at import.
os.environ.setdefault("PYDANTIC_ERRORS_INCLUDE_URL", "0")
from cublab.app.errors import LeaveTheLoop, invalid_input
from cublab.app.faults import classify
from cublab.app.guards import refuse_secret_identity
from cublab.app.inputs import (
    BypassCheck,
    CaptureBreakGlass,
    CompareExperiment,
    CreateExperiment,
    DeclareBreakGlass,
    DestroySandbox,
    ExperimentRef,
    Input,
    ListExperiments,
    ListObligations,
    ListProposals,
    ListSandboxes,
    LogResults,
    LogVariant,
    PromoteVariant,
    ProposalRef,
    RenewSandbox,
    SandboxRef,
    SpawnSandbox,
)
from cublab.app.outputs import (
    BypassAnswer,
    CaptureResult,
    Comparison,
    ExperimentLog,
    ExperimentPage,
    ExperimentView,
    IncidentView,
    ObligationList,
    PolicyDocument,
    ProposalPage,
    ProposalView,
    ResultsLogged,
    SandboxPage,
    SandboxView,
    VariantLogged,
)
from cublab.domain.errors import CublabError, Fault, Forbidden
from cublab.domain.identity import Identity, agent_identity
from cublab.logs import LogFormat
from cublab.portable_schema import portable
from cublab.runtime import Runtime

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

AGENT_HEADER = "x-cublab-agent"
_log = logging.getLogger("cublab.faults")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
UNIONS = (Union, types.UnionType)

INSTRUCTIONS = """\
cublab records configuration experiments beside the configuration authority (ConfigHub).
Workflow: sandbox_spawn -> experiment_create -> variant_log (each configuration) ->
result_log (measurements) -> experiment_compare -> sandbox_destroy -> variant_promote (the winner).
Sandboxes are ephemeral (default 24h, at most 72h). Secrets only as references.
You propose; humans decide. There is no tool to approve or apply anything."""


In = TypeVar("In", bound=Input)


@dataclass(frozen=True)
class ToolSpec(Generic[In]):
    name: str
    title: str
    toolset: str
    description: str
    input: type[In]
    output: type[BaseModel]
    call: Callable[[Runtime, In, Identity], BaseModel]
    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    on_loop: bool = False  # a read that cannot wait: runs on the event loop (see _tool_function)

    @property
    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )


TOOLS: list[ToolSpec[Any]] = [
    ToolSpec(
        "sandbox_spawn",
        "Spawn a sandbox",
        "sandboxes",
        "Record a new test environment for experiments (step 1). It bypasses the authority under the seed's "
        "criterion 7 and is ephemeral: it expires after its ttl (default 24h, at most 72h) and then refuses "
        "new experiments and results. Returns the sandbox with its id (sbx_…), labels and expires_at.",
        SpawnSandbox,
        SandboxView,
        lambda rt, cmd, who: rt.sandboxes.spawn(cmd, who),
        read_only=False,
    ),
    ToolSpec(
        "sandbox_get",
        "Get a sandbox",
        "sandboxes",
        "Read one sandbox; its status is 'expired' once expires_at has passed.",
        SandboxRef,
        SandboxView,
        lambda rt, cmd, who: rt.sandboxes.get(cmd),
        read_only=True,
        idempotent=True,
        on_loop=True,
    ),
    ToolSpec(
        "sandbox_list",
        "List sandboxes",
        "sandboxes",
        "List sandboxes, newest first, a page at a time (pass next_cursor back as cursor).",
        ListSandboxes,
        SandboxPage,
        lambda rt, cmd, who: rt.sandboxes.list(cmd),
        read_only=True,
        idempotent=True,
        on_loop=True,
    ),
    ToolSpec(
        "sandbox_renew",
        "Renew a sandbox",
        "sandboxes",
        "Extend a live sandbox: it now expires ttl from now (default its current ttl, at most 72h).",
        RenewSandbox,
        SandboxView,
        lambda rt, cmd, who: rt.sandboxes.renew(cmd, who),
        read_only=False,
        idempotent=True,
    ),
    ToolSpec(
        "sandbox_destroy",
        "Destroy a sandbox",
        "sandboxes",
        "End a test environment (step 4). Its experiments stay readable; it accepts nothing new. "
        "Destroying a destroyed sandbox changes nothing.",
        DestroySandbox,
        SandboxView,
        lambda rt, cmd, who: rt.sandboxes.destroy(cmd, who),
        read_only=False,
        destructive=True,
        idempotent=True,
    ),
    ToolSpec(
        "experiment_create",
        "Create an experiment",
        "experiments",
        "Start an experiment in a live sandbox: a hypothesis, the objective metric and whether to minimize or "
        "maximize it, and the authority space/unit the winner would change.",
        CreateExperiment,
        ExperimentView,
        lambda rt, cmd, who: rt.experiments.create(cmd, who),
        read_only=False,
    ),
    ToolSpec(
        "experiment_get",
        "Get an experiment's log",
        "experiments",
        "The full log of one experiment: its definition, every variant with its configuration, and how many "
        "measurements each variant has per metric.",
        ExperimentRef,
        ExperimentLog,
        lambda rt, cmd, who: rt.experiments.get(cmd),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "experiment_list",
        "List experiments",
        "experiments",
        "List experiments, newest first, optionally in one sandbox, a page at a time.",
        ListExperiments,
        ExperimentPage,
        lambda rt, cmd, who: rt.experiments.list(cmd),
        read_only=True,
        idempotent=True,
        on_loop=True,
    ),
    ToolSpec(
        "variant_log",
        "Log a configuration variant",
        "experiments",
        "Record one configuration you will try (step 2): a JSON object or YAML text, at most 1 MiB. Stored "
        "canonicalised with a content hash; logging the same content twice returns the first variant with "
        "duplicate=true instead of storing it again.",
        LogVariant,
        VariantLogged,
        lambda rt, cmd, who: rt.experiments.log_variant(cmd, who),
        read_only=False,
    ),
    ToolSpec(
        "result_log",
        "Log measurements",
        "experiments",
        "Record measurements (step 3) for one or more variants of an experiment: up to 10,000 points per call, "
        "stored together or not at all. Values must be finite, at most 1e15 in magnitude.",
        LogResults,
        ResultsLogged,
        lambda rt, cmd, who: rt.experiments.log_results(cmd, who),
        read_only=False,
    ),
    ToolSpec(
        "experiment_compare",
        "Compare variants",
        "experiments",
        "Per-variant n, mean, standard deviation, min, max and confidence interval for one metric (default: "
        "the objective), ranked by the objective's direction, with a winner only when Welch's t-test against "
        "the runner-up is significant, and 'not_enough_data' below the policy's minimum sample size.",
        CompareExperiment,
        Comparison,
        lambda rt, cmd, who: rt.experiments.compare(cmd),
        read_only=True,
        idempotent=True,
        on_loop=True,  # one row per variant from the running summaries, whatever the number of points
    ),
    ToolSpec(
        "variant_promote",
        "Propose a variant to the authority",
        "promotion",
        "Step 5: turn the winning variant into a proposal in the configuration authority. Requires results for the "
        "objective; a non-winner needs a justification; literal secrets are refused. Destroys the sandbox if still "
        "live, computes an RFC 6902 patch against the target's head, classifies the risk (LOW/MEDIUM/HIGH) and "
        "stores a pending proposal (expires after 7 days) with a change set proposal-<id>. Nothing becomes current "
        "configuration until humans decide. Promoting the same variant again returns the open proposal.",
        PromoteVariant,
        ProposalView,
        lambda rt, cmd, who: rt.promotion.promote(cmd, who),
        read_only=False,
        idempotent=True,
    ),
    ToolSpec(
        "proposal_get",
        "Get a proposal",
        "promotion",
        "Read one proposal: its state (pending, approved, applied, rejected, expired, stale), patch, risk, the "
        "human decision it requires and what is still missing.",
        ProposalRef,
        ProposalView,
        lambda rt, cmd, who: rt.proposals.get(cmd),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "proposal_list",
        "List proposals",
        "promotion",
        "List proposals, newest first, optionally by state or experiment, a page at a time.",
        ListProposals,
        ProposalPage,
        lambda rt, cmd, who: rt.proposals.list(cmd),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "bypass_check",
        "May this change bypass the authority?",
        "policy",
        "Call before changing configuration outside the authority (ConfigHub). Answers, per the seed policy's "
        "decision framework, whether the change may bypass it (verdict bypass, bypass_then_reconcile or "
        "use_confighub), under which of the eight criteria, the path through the decision tree, what "
        "reconciliation is owed (with deadlines for break-glass) and the audit requirement. Classifies from the "
        "document itself where it can (literal secrets, observed state, platform and observability components, "
        "local contexts, ephemeral labels). A bypass rests on what cublab checks itself (its own probe of the "
        "authority, the space's tier, an incident declared with breakglass_declare and open, a live sandbox named "
        "by sandbox_id); your claims can only make the answer stricter, and `facts` says which was which. "
        "Production is never ephemeral. Read-only: it changes nothing, and records the decision in the log.",
        BypassCheck,
        BypassAnswer,
        lambda rt, cmd, who: rt.bypass.check(cmd, who),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        "breakglass_declare",
        "Declare a break-glass emergency",
        "breakglass",
        "After (or while) changing configuration outside the authority in an emergency (criterion 4): name the "
        "incident, the reason and the affected units ('space/unit'). Opens obligations: capture each unit's live "
        "state within 1 hour, and a human review within 24 hours. Declaring the same incident again returns it.",
        DeclareBreakGlass,
        IncidentView,
        lambda rt, cmd, who: rt.breakglass.declare(cmd, who),
        read_only=False,
        idempotent=True,
    ),
    ToolSpec(
        "breakglass_capture",
        "Capture live state after break-glass",
        "breakglass",
        "Record a unit's live configuration into the authority as a pending revision tagged break-glass, in the "
        "incident's change set, and meet the capture obligation. Humans then persist it (approve and apply) or "
        "revert it (reject). Literal secrets are refused.",
        CaptureBreakGlass,
        CaptureResult,
        lambda rt, cmd, who: rt.breakglass.capture(cmd, who),
        read_only=False,
    ),
    ToolSpec(
        "obligation_list",
        "List reconciliation obligations",
        "breakglass",
        "Open, overdue and met reconciliation obligations (break-glass captures due within 1 hour, reviews within "
        "24 hours). Overdue ones are also listed as warnings.",
        ListObligations,
        ObligationList,
        lambda rt, cmd, who: rt.breakglass.obligations(cmd),
        read_only=True,
        idempotent=True,
    ),
]


def _identity(runtime: Runtime, ctx: Context, spec: ToolSpec[Any]) -> Identity:
    """Who is calling: the agent an HTTP bearer token names (cublab/auth.py), whatever else the request says,
    once its token's scope and toolsets reach `spec` (else a Forbidden naming what it lacks).

    Without authentication (stdio, in-process, `serve --http --no-auth` on a loopback address) it is the
    server's agent identity, or the agent an `X-Cublab-Agent` header names: a local convenience that trusts
    whoever reaches the port, which is why --no-auth is refused on any other address.
    """
    try:
        request = ctx.request_context.request  # the HTTP request on streamable HTTP; None over stdio and in-process
    except ValueError:
        request = None
    caller = caller_of(request)
    if caller is not None:
        if not caller.may_use(spec.toolset, spec.read_only):
            raise Forbidden(caller.refusal(spec.name, spec.toolset, spec.read_only))
        return caller.identity
    header = request.headers.get(AGENT_HEADER) if request is not None and hasattr(request, "headers") else None
    if not header:
        return runtime.agent
    refuse_secret_identity(header, AGENT_HEADER)
    return agent_identity(header, AGENT_HEADER)


def _sdk_logging(level: LogLevel = "INFO") -> None:
    """The SDK's `configure_logging`, which `MCPServer()` calls, skipped when it would do nothing.

    It imports rich and builds a RichHandler (a sixtieth of a second, on every `cublab serve`) only to pass
    it to `logging.basicConfig`, which does nothing when the root logger has a handler already: it
    always has, when cublab builds a server (`logs.configure` runs first, see `build_server`).
    """
    if logging.getLogger().handlers:
        return
    _configure_sdk_logging(level)


_configure_sdk_logging = _sdk_server.configure_logging
_sdk_server.configure_logging = _sdk_logging


class CublabServer(MCPServer):
    """The SDK's server, holding the runtime its tools act on.

    Tools find the runtime through their request's server, so the tools themselves
    (and their schemas, which cost ~70 ms a server to derive) are built once per process.
    """

    def __init__(self, runtime: Runtime, **settings: Any) -> None:
        super().__init__(**settings)
        self.runtime = runtime


_WOULD_WAIT = object()  # an attempt on the event loop met a lock: the call goes to a worker thread instead


def _run(
    spec: ToolSpec[Any], runtime: Runtime, arguments: dict[str, Any], ctx: Context, *, on_loop: bool = False
) -> Any:
    """Validate, call the use case, and turn its errors into what the agent reads."""
    try:
        who = _identity(runtime, ctx, spec)
        # The SDK validated the arguments with a model built from these same fields and annotations
        # (`_strict_tool`): assembling the command without validating again validates every point of a
        # result_log batch once, not twice. The one model-level rule, null takes the default
        # (`Input._null_means_default`), is applied here: model_construct fills in what is left out.
        command = spec.input.model_construct(**spec.input.without_defaulted_nulls(arguments))
        if spec.read_only:
            return spec.call(runtime, command, who)
        # Every mutation: an `idempotency_key` makes a retry return the first answer (app/idempotency.py).
        return runtime.idempotency.run(spec.name, command, who, spec.output, lambda: spec.call(runtime, command, who))
    except ValidationError as exc:
        raise ToolError(str(invalid_input(exc))) from None
    except LeaveTheLoop:
        return _WOULD_WAIT  # only a reader raises it, and only the loop reads through one
    except Exception as exc:
        fault = classify(exc)
        if fault is not None:
            return _WOULD_WAIT if on_loop else fault_result(spec.name, fault)
        if isinstance(exc, CublabError):
            raise ToolError(str(exc)) from None
        raise


def _tool_function(spec: ToolSpec[Any]) -> Callable[..., Any]:
    """A function whose signature is the input model's fields, flat, as MCP clients expect.

    A plain `def`, which the SDK runs on a worker thread, since sync database work
    must never block the event loop. A tool marked `on_loop` is a read that cannot
    wait (a primary-key read or one bounded page of a small table, on SQLite in WAL
    mode through `Runtime.on_loop`): it runs on the loop itself, saving the thread
    hop, which costs more than the read. If that read meets a lock, or the
    application is not built yet, or the database is PostgreSQL, it runs on a worker
    thread like any other tool.
    """
    if spec.on_loop:

        async def tool(ctx: Context, **arguments: Any) -> BaseModel | CallToolResult:
            runtime = cast(CublabServer, ctx.mcp_server).runtime
            reading = runtime.on_loop
            if reading is not None:
                answer = _run(spec, reading, arguments, ctx, on_loop=True)
                if answer is not _WOULD_WAIT:
                    return cast(BaseModel | CallToolResult, answer)
            return cast(
                BaseModel | CallToolResult,
                await anyio.to_thread.run_sync(functools.partial(_run, spec, runtime, arguments, ctx)),
            )

    else:

        def tool(ctx: Context, **arguments: Any) -> BaseModel | CallToolResult:  # type: ignore[misc]
            return cast(
                BaseModel | CallToolResult, _run(spec, cast(CublabServer, ctx.mcp_server).runtime, arguments, ctx)
            )

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    for name, field in spec.input.model_fields.items():
        # Built at run time from the model, so values, not type expressions: operator.getitem says so.
        kind: Any = (
            operator.getitem(Annotated, (field.annotation, *field.metadata)) if field.metadata else field.annotation
        )
        # An optional argument is published as nullable with a null default (strict tool schemas make every
        # argument required, and null says "the default"); the input model puts the real default in its place.
        default = inspect.Parameter.empty if field.is_required() else None
        if not field.is_required():
            kind = kind | None
        annotation = operator.getitem(Annotated, (kind, Field(description=field.description, title=field.title)))
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        )
    tool.__signature__ = inspect.Signature(parameters, return_annotation=spec.output)  # type: ignore[attr-defined]
    tool.__annotations__ = {"ctx": Context, "return": spec.output}
    tool.__name__ = spec.name
    return tool


def fault_result(tool: str, fault: Fault) -> CallToolResult:
    """An infrastructure fault as the agent sees it: an error result whose text says what happened, that nothing
    was written and whether to retry, and whose structured content carries the same for programs. (The SDK
    validates structured content against the output schema only for successful results.)"""
    _log.warning("tool %s: %s", tool, fault)
    return CallToolResult(
        content=[TextContent(type="text", text=f"Error executing tool {tool}: {fault}")],
        structured_content={
            "error": {"fault": fault.kind, "retryable": fault.retryable, "written": False, "message": str(fault)}
        },
        is_error=True,
    )


def _resource_error(exc: Exception) -> NoReturn:
    """A resource read's failure: a fault says what happened and whether to retry; an unknown id is not found."""
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

    fault = classify(exc)
    if fault is not None:
        _log.warning("resource read: %s", fault)
        raise ResourceError(str(fault)) from None
    if isinstance(exc, CublabError):
        raise ResourceNotFoundError(str(exc)) from None
    raise exc


def _takes_text(annotation: Any) -> bool:
    """Whether an argument's type admits a string (`str`, or `str | None`, however annotated)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if annotation is str:
        return True
    return any(_takes_text(option) for option in get_args(annotation)) if get_origin(annotation) in UNIONS else False


class _TextKeepingMetadata(FuncMetadata):
    """The SDK's argument handling, except that text stays text.

    The SDK parses a string argument as JSON when its type is anything but plain `str` (hosts that send
    lists and objects as JSON text are common); an optional text argument is `str | None`, so a
    configuration sent as JSON text would reach validation as an object and be refused."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        fields = self.arg_model.model_fields
        return {k: data[k] if k in fields and _takes_text(fields[k].annotation) else v for k, v in parsed.items()}


def _strict_tool(spec: ToolSpec[Any]) -> Tool:
    """The SDK's tool, made to refuse unknown arguments: a misspelt optional argument
    (say `explanaton`) is an error the agent can fix, not a value silently dropped."""
    tool = Tool.from_function(
        _tool_function(spec),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations,
        meta=_meta(spec),
        structured_output=True,
    )
    loose = tool.fn_metadata.arg_model
    config = {
        **loose.model_config,
        "extra": "forbid",
        "hide_input_in_errors": True,
    }  # never echo a value back (it may be a secret)
    strict = type(f"{spec.name} arguments", (loose,), {"model_config": config, "__module__": __name__})
    tool.fn_metadata = _TextKeepingMetadata(
        arg_model=strict,
        output_schema=tool.fn_metadata.output_schema,
        output_model=tool.fn_metadata.output_model,
        wrap_output=tool.fn_metadata.wrap_output,
    )
    # Input schemas keep nested models (a result point, a label) as `$defs` referenced by `$ref`: every framework
    # resolves those, and some (llama-index) build the nested model's fields only from a reference.
    tool.parameters = portable({**tool.parameters, "title": strict.__name__, "additionalProperties": False})
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = nullable_types(inline_refs(tool.fn_metadata.output_schema))
    return tool


_APPLIES_TO_NULL = frozenset({"anyOf", "oneOf", "allOf", "not", "if", "$ref", "enum", "const"})


def nullable_types(schema: Any) -> Any:
    """The schema with each `anyOf: [X, {"type": "null"}]` written as X with `type: [X's type, "null"]`.

    The same set of documents: the keywords X keeps (properties, items, format,
    lengths) apply only to instances of X's type, so null passes them as before;
    an X holding a keyword that applies to null too (enum, const, a combinator) is
    left alone. Clients validate every structured result against the output
    schema (mcp.Client does, with jsonschema), and each `anyOf` costs a descent
    per branch and an error object for the branch that fails: pydantic writes
    every optional field that way.
    """
    if isinstance(schema, list):
        return [nullable_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = {key: nullable_types(value) for key, value in schema.items()}
    branches = node.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        (other,) = [b for b in branches if b != {"type": "null"}] or [None]
        if isinstance(other, dict) and isinstance(other.get("type"), str) and not _APPLIES_TO_NULL & other.keys():
            rest = {key: value for key, value in node.items() if key != "anyOf"}
            return {**other, **rest, "type": [other["type"], "null"]}
    return node


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every `$ref` to its `$defs` written out in place.

    Clients validate every structured result against the output schema, and
    resolving references is most of that cost. A recursive model cannot be written
    out: it keeps its refs.
    """
    defs = schema.get("$defs", {})

    def expand(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise RecursionError(name)
                rest = {k: expand(v, seen) for k, v in node.items() if k != "$ref"}
                return {**expand(defs[name], (*seen, name)), **rest}
            return {k: expand(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [expand(v, seen) for v in node]
        return node

    if not defs:
        return schema
    try:
        return expand(schema, ())
    except RecursionError:
        return schema


def _meta(spec: ToolSpec[Any]) -> dict[str, Any]:
    return {"toolset": spec.toolset, "readOnly": spec.read_only}


class _PublishedTool(Tool):
    """A tool published from the schemas derived ahead of time (cublab/tool_schemas.py): `tools/list` needs
    nothing else. It derives its argument model, which validates a call, on its first call."""

    async def run(self, arguments: dict[str, Any], context: Context[Any, Any], convert_result: bool = False) -> Any:
        if self.fn_metadata.arg_model is ArgModelBase:
            self.fn_metadata = _strict_tool(_SPECS[self.name]).fn_metadata
        return await super().run(arguments, context, convert_result)


def _published_tool(spec: ToolSpec[Any], schemas: dict[str, Any]) -> Tool:
    return _PublishedTool(
        fn=_tool_function(spec),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        parameters=schemas["inputSchema"],
        fn_metadata=FuncMetadata(
            arg_model=ArgModelBase, output_schema=schemas["outputSchema"], output_model=spec.output
        ),
        is_async=spec.on_loop,
        context_kwarg="ctx",
        annotations=spec.annotations,
        meta=_meta(spec),
    )


def derive_schemas() -> dict[str, dict[str, Any]]:
    """Each tool's published input and output schema, derived from its models (what tool_schemas.json records)."""
    derived = (_strict_tool(spec) for spec in TOOLS)
    return {tool.name: {"inputSchema": tool.parameters, "outputSchema": tool.output_schema} for tool in derived}


_SPECS = {spec.name: spec for spec in TOOLS}


@lru_cache(maxsize=1)
def _tools() -> tuple[Tool, ...]:
    """Built once per process. From the schemas derived ahead of time while they are current (most of
    `cublab serve`'s start-up otherwise), else derived here."""
    from cublab import tool_schemas

    published = tool_schemas.load() or {}
    return tuple(
        _published_tool(spec, published[spec.name]) if spec.name in published else _strict_tool(spec) for spec in TOOLS
    )


def offered_tools(toolsets: tuple[str, ...] | None = None, read_only: bool = False) -> list[Tool]:
    """The tools a server offers at all: every one, or those in `toolsets`, or only the read-only ones
    (`cublab serve --toolsets`, `--read-only`); a tool left out is unknown to every caller."""
    return [
        tool
        for spec, tool in zip(TOOLS, _tools(), strict=True)
        if (toolsets is None or spec.toolset in toolsets) and (spec.read_only or not read_only)
    ]


def build_server(
    runtime: Runtime,
    log_format: LogFormat | None = None,
    *,
    toolsets: tuple[str, ...] | None = None,
    read_only: bool = False,
    **auth: Any,
) -> CublabServer:
    """The MCP server over `runtime`. `auth` is the SDK's `token_verifier=` and `auth=` (cublab/httpserver.py)."""
    level = cast(LogLevel, os.environ.get("CUBLAB_LOG_LEVEL", "WARNING").upper())  # the SDK checks it
    # Before MCPServer(): its configure_logging() would install a RichHandler rendering tracebacks on the event
    # loop; with a handler on the root logger already, its basicConfig() does nothing (see cublab/logs.py).
    logs.configure(level, log_format or cast(LogFormat, os.environ.get("CUBLAB_LOG_FORMAT", "text").lower()))
    server = CublabServer(
        runtime,
        name="cublab",
        title="cublab",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level=level,  # logs go to stderr
        tools=offered_tools(toolsets, read_only),
        middleware=[ToolAccess({spec.name: (spec.toolset, spec.read_only) for spec in TOOLS})],
        **auth,
    )

    @server.resource(
        "cublab://policy",
        name="policy",
        title="The active policy",
        description="The policy this server enforces (JSON): sandbox lifetimes, the bypass criteria, promotion risk "
        "rules and the statistics settings, with its source and digest (every decision records the digest).",
        mime_type="application/json",
    )
    def policy_resource() -> str:
        loaded = runtime.policy
        return PolicyDocument(
            source=loaded.source, digest=loaded.digest, policy=loaded.policy.model_dump(mode="json")
        ).model_dump_json(indent=2)

    @server.resource(
        "cublab://experiments/{experiment_id}",
        name="experiment",
        title="An experiment's full log",
        description="One experiment (exp_…) as JSON: its definition, every variant with its configuration, and how "
        "many measurements each variant has per metric (what experiment_get returns).",
        mime_type="application/json",
    )
    def experiment_resource(experiment_id: str) -> str:
        try:
            log = runtime.experiments.get(ExperimentRef(experiment_id=experiment_id))
        except Exception as exc:
            _resource_error(exc)
        return log.model_dump_json(indent=2)

    @server.resource(
        "cublab://proposals/{proposal_id}",
        name="proposal",
        title="A proposal with its diff",
        description="One proposal (prp_…) as JSON: its state, the RFC 6902 patch and the diff against the target's "
        "head, the risk, the human decision it requires and its provenance.",
        mime_type="application/json",
    )
    def proposal_resource(proposal_id: str) -> str:
        try:
            document = runtime.proposals.document(proposal_id)
        except Exception as exc:
            _resource_error(exc)
        return document.model_dump_json(indent=2)

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(request: Request) -> Response:
        """For orchestrators (HTTP only): database writable, migrations current, authority reachable; 200 or 503."""
        import anyio.to_thread
        from starlette.responses import JSONResponse

        from cublab.app.health import check_health

        report = await anyio.to_thread.run_sync(check_health, lambda: runtime.ctx)
        return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.ok else 503)

    @server.prompt(
        name="governed_experiment",
        title="The governed experiment workflow",
        description="Step-by-step instructions for running a configuration experiment through cublab: sandbox, "
        "experiment, variants, measurements, comparison, then a proposal humans decide on.",
    )
    def governed_experiment(
        goal: Annotated[
            str,
            Field(
                description="What the experiment is for, as the end of 'You want to …', e.g. 'lower the p95 latency "
                "of the event handler'. Default: 'find a better configuration'."
            ),
        ] = "find a better configuration",
    ) -> str:
        return GOVERNED_WORKFLOW.format(goal=goal)

    return server


GOVERNED_WORKFLOW = """\
You want to {goal}. Use cublab so the experiment is recorded and only a governed outcome reaches the
configuration authority. Follow the seed policy's agent workflow (criterion 7, agent-local experimentation):

1. sandbox_spawn: name, purpose and a short ttl (e.g. "2h"). The sandbox bypasses the authority and expires.
2. experiment_create in that sandbox: a hypothesis, the objective metric, minimize or maximize, and the
   target space and unit the winner would change.
3. variant_log for each configuration you try. Never put a literal secret in a configuration: use a
   reference (secretRef, vault://, op://, env://, ${{VAR}}).
4. result_log your measurements, several repetitions per variant (batches of up to 10,000 points).
5. experiment_compare: read the verdict. 'not_enough_data' means measure more; 'no_significant_difference'
   means the leader is not proven better.
6. sandbox_destroy when you are done (variant_promote does it for you if you forget).
7. variant_promote the winner with a rationale and your confidence. If you must promote a variant that is not
   the winner, give a justification. The proposal waits for humans: read it with proposal_get.

Give an `explanation` on every change: it is recorded in the audit log humans read. You cannot approve or
apply configuration; humans decide.
"""
