"""Structural analysis of an Amazon States Language (ASL) definition.

The checks judge what states *do* (resources, transitions, data flow), never what they are called:
a deployment may rename every state of the guide's flow and still be right.

Scope, chosen to err on the side of reporting rather than trusting:
- Paths (``paths_without_stop``, ``error_exits_without_stop``) are enumerated over the top-level
  states. A Parallel or Map state is one node with its own Next/Catch/End; a stop task inside its
  branches does NOT count as stopping the path, because a branch can fail before reaching it.
- Task classification (start/describe/stop/invoke, payloads, instance ids) includes states nested
  in Parallel branches and Map iterators; for reachability a nested state stands for the
  top-level Parallel/Map state that contains it.
- Loops, dangling transitions and structural problems are checked in every scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MAX_PATHS = 1000
"""Reported paths per kind; past it the enumeration stops and says so (``paths_truncated``)."""
MAX_STEPS = 200_000
"""Transitions the path search may follow: simple paths grow exponentially in bad graphs."""

_EC2_ACTIONS = {
    "startinstances": "start",
    "describeinstances": "describe",
    "stopinstances": "stop",
}
_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?")
_SINGLE_ARRAY = re.compile(r"States\.Array\(\s*([^,()]+?)\s*\)")
_SIMPLE_PATH = re.compile(r"\$(?:\.[A-Za-z0-9_-]+)*")
_JSONATA_START_TIME = re.compile(r"\{%\s*\$states\.context\.Execution\.StartTime\s*%\}")
_START_TIME_PATH = "$$.Execution.StartTime"
_STATE_TYPES = {"Task", "Pass", "Wait", "Choice", "Parallel", "Map", "Succeed", "Fail"}
_NEEDS_NEXT = {"Task", "Pass", "Wait", "Parallel", "Map"}
_FAILABLE = {"Task", "Parallel", "Map"}


class DefinitionError(ValueError):
    """The text is not a state machine definition at all, so nothing can be analysed."""


@dataclass(frozen=True)
class FlowAnalysis:
    """What a definition does, as judged from its structure (see the module docstring)."""

    start_states: tuple[str, ...]
    describe_states: tuple[str, ...]
    stop_states: tuple[str, ...]
    invoke_states: tuple[str, ...]
    invoked_functions: tuple[str, ...]
    """Function names (no ARN, no qualifier) of every statically named invoke target."""
    invoked_qualifiers: tuple[tuple[str, str | None], ...]
    """(function name, version or alias or None) of every statically named invoke target."""
    instance_id_sources: dict[str, str | tuple[str, ...] | None]
    """Per EC2 state: the input path of the id, the literal ids, a raw expression, or None."""
    payload_keys: dict[str, tuple[str, ...]]
    """Per invoke state: the payload's keys without their ``.$`` suffix."""
    force_current_time_from_start_time: bool
    reaches_invoke_after_start: bool
    paths_without_stop: tuple[tuple[str, ...], ...]
    """Paths from StartAt to Succeed, Fail or ``End: true`` that pass no stop task."""
    error_exits_without_stop: tuple[tuple[str, ...], ...]
    """Paths without a stop task ending where the run can fail uncaught: a Task, Parallel or Map
    without a ``States.ALL`` Catch, or a Choice without Default (``States.NoChoiceMatched``)."""
    paths_truncated: bool
    unbounded_loops: tuple[tuple[str, ...], ...]
    dangling_transitions: tuple[tuple[str, str], ...]
    """(state, target) pairs whose target does not exist in the state's scope."""
    problems: tuple[str, ...]
    """Structural defects that are not transitions: missing StartAt, Type, Next, Choices."""

    @property
    def always_stops(self) -> bool:
        """The spec's graph property: no run can end without passing a stop task."""
        return not (
            self.paths_without_stop or self.error_exits_without_stop or self.paths_truncated
        )


@dataclass(frozen=True)
class _Scope:
    """One state graph: the top level, a Parallel branch or a Map iterator."""

    label: str
    start_at: Any
    states: dict[str, Any]
    owner: str | None
    """Top-level state containing this scope; None for the top level itself."""


def parse_definition(text: str) -> dict[str, Any]:
    """Parse definition text, refusing what is not even an ASL object with StartAt and States."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            f"definition is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise DefinitionError(f"definition is a JSON {type(data).__name__}, not an object")
    if not isinstance(data.get("StartAt"), str):
        raise DefinitionError("definition has no StartAt string")
    if not isinstance(data.get("States"), dict):
        raise DefinitionError("definition has no States object")
    return data


def iter_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state object, nested branches included, in definition order (the objects, not
    copies, so a caller can rewrite a copy of the definition in place)."""
    for scope in _scopes(definition, "top level", None):
        for name, state in scope.states.items():
            if isinstance(state, dict):
                yield name, state


def analyse(definition: dict[str, Any]) -> FlowAnalysis:
    """Analyse a parsed definition; malformed parts are reported, never raised."""
    scopes = list(_scopes(definition, "top level", None))
    top = scopes[0]
    kinds: dict[str, list[str]] = {"start": [], "describe": [], "stop": [], "invoke": []}
    contained: dict[str, set[str]] = {name: set() for name in top.states}
    functions: list[str] = []
    qualified: list[tuple[str, str | None]] = []
    id_sources: dict[str, str | tuple[str, ...] | None] = {}
    payloads: dict[str, dict[str, Any] | None] = {}
    dangling: list[tuple[str, str]] = []
    problems: list[str] = []
    loops: list[tuple[str, ...]] = []
    for scope in scopes:
        problems.extend(_scope_problems(scope))
        for name, state in scope.states.items():
            if not isinstance(state, dict):
                continue
            dangling.extend((name, t) for t in _transitions(state) if t not in scope.states)
            kind = _task_kind(state)
            if kind is None:
                continue
            kinds[kind].append(name)
            contained[scope.owner or name].add(kind)
            if kind == "invoke":
                payloads[name] = _payload(state)
                function, qualifier = _invoked_function(state)
                if function and function not in functions:
                    functions.append(function)
                if function and (function, qualifier) not in qualified:
                    qualified.append((function, qualifier))
            else:
                id_sources[name] = _instance_id_source(state)
        loops.extend(_unbounded_loops(scope.states))
    edges = _edges(top.states)
    top_stops = {name for name in kinds["stop"] if name in top.states}
    exits = _exits_without_stop(top.start_at, top.states, edges, top_stops)
    return FlowAnalysis(
        start_states=tuple(kinds["start"]),
        describe_states=tuple(kinds["describe"]),
        stop_states=tuple(kinds["stop"]),
        invoke_states=tuple(kinds["invoke"]),
        invoked_functions=tuple(functions),
        invoked_qualifiers=tuple(qualified),
        instance_id_sources=id_sources,
        payload_keys={
            name: tuple(key.removesuffix(".$") for key in payload or {})
            for name, payload in payloads.items()
        },
        force_current_time_from_start_time=bool(payloads)
        and all(_forces_start_time(payload) for payload in payloads.values()),
        reaches_invoke_after_start=_reaches_invoke_after_start(edges, contained),
        paths_without_stop=exits[0],
        error_exits_without_stop=exits[1],
        paths_truncated=exits[2],
        unbounded_loops=tuple(loops),
        dangling_transitions=tuple(dangling),
        problems=tuple(problems),
    )


def _scopes(graph: Any, label: str, owner: str | None) -> Iterator[_Scope]:
    """Yield this graph's scope, then every nested branch/iterator scope, in definition order."""
    graph = graph if isinstance(graph, dict) else {}
    states = graph.get("States")
    states = states if isinstance(states, dict) else {}
    yield _Scope(label, graph.get("StartAt"), states, owner)
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        branches = state.get("Branches")
        nested = list(branches) if isinstance(branches, list) else []
        nested += [state[key] for key in ("Iterator", "ItemProcessor") if key in state]
        for index, branch in enumerate(nested, start=1):
            yield from _scopes(branch, f"'{name}' branch {index}", owner or name)


def _scope_problems(scope: _Scope) -> Iterator[str]:
    """Structural defects that would make the service reject or derail the definition."""
    if not scope.states:
        yield f"{scope.label}: no States"
    elif not _names_state(scope.start_at, scope.states):
        yield f"{scope.label}: StartAt {scope.start_at!r} names no state"
    for name, state in scope.states.items():
        if not isinstance(state, dict):
            yield f"{scope.label}: state {name!r} is not an object"
            continue
        state_type = state.get("Type")
        if state_type not in _STATE_TYPES:
            yield f"{scope.label}: state {name!r} has no valid Type ({state_type!r})"
        elif state_type in _NEEDS_NEXT and "Next" not in state and state.get("End") is not True:
            yield f"{scope.label}: state {name!r} has neither Next nor End"
        elif state_type == "Choice" and not isinstance(state.get("Choices"), list):
            yield f"{scope.label}: Choice {name!r} has no Choices"


def _names_state(name: Any, states: dict[str, Any]) -> bool:
    """Whether a StartAt/Next/Default value names an existing state (it may be any JSON)."""
    return isinstance(name, str) and name in states


def _transitions(state: dict[str, Any]) -> list[str]:
    """Every state this one can hand over to: Next, Default, Choice rules and Catchers."""
    targets = [state[key] for key in ("Next", "Default") if isinstance(state.get(key), str)]
    for key in ("Choices", "Catch"):
        entries = state.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("Next"), str):
                targets.append(entry["Next"])
    return list(dict.fromkeys(targets))


def _edges(states: dict[str, Any]) -> dict[str, list[str]]:
    """Adjacency over existing states only (dangling targets are reported separately)."""
    return {
        name: [t for t in _transitions(state) if t in states] if isinstance(state, dict) else []
        for name, state in states.items()
    }


def _arguments(state: dict[str, Any]) -> dict[str, Any]:
    """The task's request: Parameters (JSONPath) or Arguments (JSONata)."""
    for key in ("Parameters", "Arguments"):
        if isinstance(state.get(key), dict):
            return state[key]
    return {}


def _task_kind(state: dict[str, Any]) -> str | None:
    """start/describe/stop/invoke from a Task's resource ARN, else None."""
    resource = state.get("Resource")
    if state.get("Type") != "Task" or not isinstance(resource, str):
        return None
    if _FUNCTION_ARN.fullmatch(resource):
        return "invoke"
    parts = resource.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states":
        return None
    integration = parts[5:]
    if integration[0] == "aws-sdk" and len(integration) == 3:
        integration = integration[1:]
    if len(integration) != 2:
        return None
    service, action = integration[0].lower(), integration[1].lower().split(".")[0]
    if service == "ec2":
        return _EC2_ACTIONS.get(action)
    return "invoke" if service == "lambda" and action == "invoke" else None


def _invoked_function(state: dict[str, Any]) -> tuple[str | None, str | None]:
    """The bare function name, and the version or alias it names (None: unqualified), from a
    function ARN resource or a static FunctionName (name, name:qualifier, ARN or partial ARN)
    with its optional Qualifier argument."""
    match = _FUNCTION_ARN.fullmatch(state.get("Resource", ""))
    if match:
        reference = state["Resource"]
        qualifier = None
    else:
        arguments = _arguments(state)
        reference = arguments.get("FunctionName")
        if not isinstance(reference, str) or reference.startswith("{%"):
            return None, None
        qualifier = (
            arguments.get("Qualifier") if isinstance(arguments.get("Qualifier"), str) else None
        )
    if ":function:" in reference:
        reference = reference.split(":function:", 1)[1]
    name, _, named = reference.partition(":")
    return name, named or qualifier


def _payload(state: dict[str, Any]) -> dict[str, Any] | None:
    """The static payload object of an invoke state (a plain ARN task sends its Parameters)."""
    if _FUNCTION_ARN.fullmatch(state.get("Resource", "")):
        return _arguments(state) or None
    payload = _arguments(state).get("Payload")
    return payload if isinstance(payload, dict) else None


def _forces_start_time(payload: dict[str, Any] | None) -> bool:
    """The notifier must see the execution's start time, not its own clock, as "now"."""
    if not payload:
        return False
    if payload.get("force_current_time.$") == _START_TIME_PATH:
        return True
    value = payload.get("force_current_time")
    return isinstance(value, str) and bool(_JSONATA_START_TIME.fullmatch(value))


def _instance_id_source(state: dict[str, Any]) -> str | tuple[str, ...] | None:
    """Where InstanceIds comes from: an input path, literal ids, a raw expression, or None."""
    arguments = _arguments(state)
    expression = arguments.get("InstanceIds.$")
    if isinstance(expression, str):
        single = _SINGLE_ARRAY.fullmatch(expression.strip())
        return single.group(1) if single else expression
    literal = arguments.get("InstanceIds")
    if isinstance(literal, list) and all(isinstance(item, str) for item in literal):
        return tuple(literal)
    return literal if isinstance(literal, str) else None


def _is_terminal(state: dict[str, Any]) -> bool:
    return state.get("Type") in ("Succeed", "Fail") or state.get("End") is True


def _can_fail_uncaught(state: dict[str, Any]) -> bool:
    """Whether the run can end in this state with an error no Catcher or Default handles."""
    state_type = state.get("Type")
    if state_type == "Choice":
        return not isinstance(state.get("Default"), str)
    if state_type not in _FAILABLE:
        return False
    catchers = state.get("Catch")
    return not any(
        isinstance(c, dict) and "States.ALL" in (c.get("ErrorEquals") or [])
        for c in (catchers if isinstance(catchers, list) else [])
    )


def _exits_without_stop(
    start: Any, states: dict[str, Any], edges: dict[str, list[str]], stops: set[str]
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...], bool]:
    """Enumerate simple stop-free paths (DFS), collecting those that end the run.

    A prefix that reaches a stop task is pruned: every continuation passes that stop. Walks that
    repeat a state need no separate check, since removing their cycles leaves a simple path.
    """
    terminal: list[tuple[str, ...]] = []
    failing: list[tuple[str, ...]] = []
    if not _names_state(start, states) or start in stops:
        return (), (), False
    path = [start]
    on_path = {start}

    def record() -> bool:
        state = states[path[-1]]
        if not isinstance(state, dict):
            return True
        for found, applies in ((terminal, _is_terminal), (failing, _can_fail_uncaught)):
            if applies(state):
                if len(found) >= MAX_PATHS:
                    return False
                found.append(tuple(path))
        return True

    complete = record()
    pending = [iter(edges[start])]
    steps = 0
    while pending and complete:
        target = next(pending[-1], None)
        if target is None:
            pending.pop()
            on_path.discard(path.pop())
            continue
        steps += 1
        if steps > MAX_STEPS:
            complete = False
        elif target not in stops and target not in on_path:
            path.append(target)
            on_path.add(target)
            complete = record()
            pending.append(iter(edges[target]))
    return tuple(terminal), tuple(failing), not complete


def _reaches_invoke_after_start(
    edges: dict[str, list[str]], contained: dict[str, set[str]]
) -> bool:
    """Whether some invoke state can run after some start state (top-level granularity)."""
    seen: set[str] = set()
    frontier = [t for name, kinds in contained.items() if "start" in kinds for t in edges[name]]
    while frontier:
        node = frontier.pop()
        if node in seen:
            continue
        if "invoke" in contained[node]:
            return True
        seen.add(node)
        frontier.extend(edges[node])
    return False


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so deep graphs cannot hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _unbounded_loops(states: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Cycles (non-trivial strongly connected components) with no provable counter exit."""
    edges = _edges(states)
    order = {name: position for position, name in enumerate(states)}
    for component in _strongly_connected(edges):
        members = set(component)
        if len(component) == 1 and component[0] not in edges[component[0]]:
            continue
        if not _is_bounded(members, states):
            yield tuple(sorted(component, key=order.__getitem__))


def _is_bounded(members: set[str], states: dict[str, Any]) -> bool:
    """A Choice in the cycle compares a number the cycle itself advances, and leaves on it.

    "Leaves on it" means the numeric rule's Next is outside the cycle, or the rule stays inside
    and the Default leads out (``counter < N -> loop``). A Pass that re-sets the counter from a
    literal ``Result`` is not an advance, so only computed writes count.
    """
    for name in members:
        state = states[name]
        if not isinstance(state, dict) or state.get("Type") != "Choice":
            continue
        default = state.get("Default")
        default_exits = _names_state(default, states) and default not in members
        rules = state.get("Choices")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, dict):
                continue
            target = rule.get("Next")
            if not (default_exits or (_names_state(target, states) and target not in members)):
                continue
            for variable in _numeric_variables(rule):
                if any(_advances(states[writer], variable) for writer in members):
                    return True
    return False


def _numeric_variables(rule: Any) -> set[str]:
    """Variables compared numerically anywhere in a Choice rule, including And/Or/Not."""
    if not isinstance(rule, dict):
        return set()
    found = set()
    variable = rule.get("Variable")
    if isinstance(variable, str) and any(key.startswith("Numeric") for key in rule):
        found.add(variable)
    for key in ("And", "Or"):
        nested = rule.get(key)
        for sub in nested if isinstance(nested, list) else []:
            found |= _numeric_variables(sub)
    return found | _numeric_variables(rule.get("Not"))


def _advances(state: Any, variable: str) -> bool:
    """Whether this state computes a new value for the path or workflow variable."""
    if not isinstance(state, dict) or not variable.startswith("$") or variable.startswith("$$"):
        return False
    if not variable.startswith("$."):
        assign = state.get("Assign")
        name = variable[1:].split(".", 1)[0]
        return isinstance(assign, dict) and (f"{name}.$" in assign or name in assign)
    parameters = state.get("Parameters")
    result_path = state.get("ResultPath", "$")
    if state.get("Type") != "Pass" or not isinstance(parameters, dict):
        return False
    target, base = _segments(variable), _segments(result_path)
    if target is None or base is None or target[: len(base)] != base:
        return False
    remainder = target[len(base) :]
    if not remainder:
        return True
    node: Any = parameters
    for segment in remainder[:-1]:
        node = node.get(segment)
        if not isinstance(node, dict):
            return False
    return f"{remainder[-1]}.$" in node


def _segments(path: Any) -> list[str] | None:
    """``$.a.b`` -> ["a", "b"]; None for anything fancier (brackets, wildcards, null)."""
    if not isinstance(path, str) or not _SIMPLE_PATH.fullmatch(path):
        return None
    return path.split(".")[1:]
