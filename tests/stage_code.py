"""What a DVC stage's code reads, found statically: from the stage script's entry point
through every project function it calls or passes on, the files it names through
mnist_pipeline.paths and the params keys it reads, in the script or in library code.

Static, not traced: every branch counts (the fallback in which evaluate completes an MLflow
run from train's outputs, too), and it takes a fraction of a second. Precise where a scan of
whole modules would not be (a module serves several stages): only the functions a stage
reaches count, and a params object passed into a function is followed under the name it
has there (`datasets.describe(params.data)` reads `data.source` as `data.source`).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mnist_pipeline import paths
from mnist_pipeline.params import Params

PACKAGE = "mnist_pipeline"
PATHS = f"{PACKAGE}.paths"
LOAD_PARAMS = f"{PACKAGE}.params.load_params"
DATASET = "${data.dataset}"  # how dvc.yaml spells the dataset in paths

Key = tuple[str, ...]  # a params key: () all of it, ("data",) a section, ("data", "dataset")
Bindings = tuple[tuple[str, Key], ...]  # a function's parameters bound to params keys


@dataclass
class Reads:
    """What a stage's code names: files (as dvc.yaml spells them) and params keys read."""

    paths: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)


def module_name(file: Path, root: Path) -> str:
    """`src/mnist_pipeline/data/datasets.py` -> mnist_pipeline.data.datasets,
    `stages/train.py` -> stages.train."""
    parts = file.relative_to(root).with_suffix("").parts
    parts = parts[1:] if parts[0] == "src" else parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class Project:
    """The package's modules and the stage scripts, parsed; `sources` replaces the text of
    modules by name (a test injects a read into a library function this way)."""

    def __init__(self, root: Path, sources: Mapping[str, str] | None = None):
        files = [*(root / "src" / PACKAGE).rglob("*.py"), *(root / "stages").glob("*.py")]
        texts = {module_name(file, root): file.read_text() for file in sorted(files)}
        texts |= dict(sources or {})
        self.trees = {name: ast.parse(text, name) for name, text in texts.items()}
        # qualified name -> its FunctionDef / ClassDef, or the value of a module constant
        self.definitions: dict[str, ast.AST] = {}
        self.module_of: dict[str, str] = {}
        self.scopes = {name: self._module_scope(name, tree) for name, tree in self.trees.items()}
        self.found: dict[str, Reads] = {}  # reads(), by entry point

    def _module_scope(self, module: str, tree: ast.Module) -> dict[str, str]:
        """The module's top-level names, each bound to the qualified name it stands for."""
        scope = imports(tree.body)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._define(f"{module}.{node.name}", node, module)
                scope[node.name] = f"{module}.{node.name}"
            if isinstance(node, ast.ClassDef):
                for method in node.body:
                    if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._define(f"{module}.{node.name}.{method.name}", method, module)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    self._define(f"{module}.{target.id}", node.value, module)
                    scope[target.id] = f"{module}.{target.id}"
        return scope

    def _define(self, name: str, node: ast.AST, module: str) -> None:
        self.definitions[name] = node
        self.module_of[name] = module

    def canonical(self, name: str) -> str:
        """`name` where it is defined: mnist_pipeline.x.f imported into module y is y.f."""
        for _ in range(10):  # a chain of re-exports, never a cycle in practice
            module, _, attribute = name.rpartition(".")
            if name in self.trees or name in self.definitions or module not in self.scopes:
                return name
            name = self.scopes[module].get(attribute, name)
        return name

    def reads(self, script_module: str) -> Reads:
        """What the stage script `script_module` (stages.train) and the project functions
        it reaches name and read."""
        if script_module in self.found:
            return self.found[script_module]
        found = Reads()
        seen: set[tuple[str, Bindings]] = set()
        pending: list[tuple[str, Bindings]] = [(script_module, ())]
        while pending:
            item = pending.pop()
            if item not in seen:
                seen.add(item)
                pending.extend(Visit(self, *item, found).callees)
        self.found[script_module] = found
        return found


def imports(statements: list[ast.stmt] | Iterator[ast.AST]) -> dict[str, str]:
    """Names bound by the project imports among `statements`, to what they import."""
    bound = {}
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else PACKAGE
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names if node.module.split(".")[0] == PACKAGE else ():
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def resolve(project: Project, scope: dict[str, str], node: ast.AST) -> str | None:
    """The qualified project name `node` (a name or a dotted attribute) stands for in a
    module whose names are `scope`."""
    if isinstance(node, ast.Name):
        bound = scope.get(node.id)
        return project.canonical(bound) if bound else None
    if isinstance(node, ast.Attribute):
        base = resolve(project, scope, node.value)
        if base is not None and (base in project.trees or base == PACKAGE):
            return project.canonical(f"{base}.{node.attr}")
    return None


def params_type(key: Key) -> type | None:
    """The type of the params value at `key` (a dataclass, or what is under one)."""
    kind: typing.Any = Params
    for name in key:
        kind = typing.get_type_hints(kind)[name]
    return kind


def extend(key: Key, attributes: list[str]) -> Key:
    """`key` followed by `attributes` as far as they are params fields: a method or a dict
    of `model` ends the key (`params.model.values()` reads `model`)."""
    kind = params_type(key)
    extended = list(key)
    for attribute in attributes:
        if not dataclasses.is_dataclass(kind):
            break
        if attribute not in {f.name for f in dataclasses.fields(kind)}:
            break
        extended.append(attribute)
        kind = typing.get_type_hints(kind)[attribute]
    return tuple(extended)


def named_paths(attribute: str) -> set[str]:
    """The files mnist_pipeline.paths.`attribute` names: a constant (or a tuple of them), or
    a per-dataset function's file for the dataset dvc.yaml names."""
    value = getattr(paths, attribute, None)
    if isinstance(value, str):
        return {value}
    if isinstance(value, tuple):
        return set(value)
    if callable(value) and list(inspect.signature(value).parameters) == ["dataset"]:
        return {value(DATASET)}
    return set()  # project_root, and names that are not files


class Visit:
    """One function's body (or a stage script's top level) under the params bindings its
    caller gave it: adds what it names and reads to `found`, and lists its callees."""

    def __init__(self, project: Project, name: str, bindings: Bindings, found: Reads):
        self.project, self.found = project, found
        self.callees: list[tuple[str, Bindings]] = []
        if name in project.trees:  # a stage script: its top level, which calls run(main)
            self.module = name
            body: list[ast.AST] = [
                node
                for node in project.trees[name].body
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            ]
        else:
            self.module = project.module_of[name]
            body = [project.definitions[name]]
        self.nodes = [node for statement in body for node in ast.walk(statement)]
        self.scope = project.scopes[self.module] | imports(iter(self.nodes))
        self.aliases = dict(bindings)
        self.skip: set[int] = set()  # expressions not read here: passed on, or aliased
        self._bind_aliases()
        for node in self.nodes:
            if isinstance(node, ast.Call):
                self._call(node)
        inner = {id(node.value) for node in self.nodes if isinstance(node, ast.Attribute)}
        for node in self.nodes:
            used = isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load)
            if used and id(node) not in inner:
                self._reference(node)

    def resolve(self, node: ast.AST) -> str | None:
        return resolve(self.project, self.scope, node)

    def key(self, node: ast.AST) -> Key | None:
        """The params key `node` reads (`params.data.dataset`, `train.epochs` where train is
        bound to params.train), or None if it is no params value."""
        attributes = []
        while isinstance(node, ast.Attribute):
            attributes.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return extend(self.aliases[node.id], attributes)
        return None

    def _bind_aliases(self) -> None:
        """`params = load_params()`, `plot = params.plot`: names bound to params keys (a value,
        not a section, is read where it is bound)."""
        assignments = [node for node in self.nodes if isinstance(node, ast.Assign)]
        for node in sorted(assignments, key=lambda node: node.lineno):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                continue
            value = node.value
            if isinstance(value, ast.Call) and self.resolve(value.func) == LOAD_PARAMS:
                self.aliases[node.targets[0].id] = ()
            elif (key := self.key(value)) is not None:
                self.aliases[node.targets[0].id] = key
                if dataclasses.is_dataclass(params_type(key)):
                    self.skip.add(id(value))  # a section: read where its keys are

    def _call(self, node: ast.Call) -> None:
        """A call of a project function (or class): followed, with the params values it is
        given bound to the parameters that receive them."""
        target = self.resolve(node.func)
        definition = self.project.definitions.get(target or "")
        if isinstance(definition, ast.ClassDef):
            target = f"{target}.__init__"
            definition = self.project.definitions.get(target)
        if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        if target.startswith(f"{PATHS}."):
            return  # a file named (_reference), not a function to follow
        arguments = definition.args
        positional = [a.arg for a in arguments.posonlyargs + arguments.args]
        if target.endswith(".__init__"):
            positional = positional[1:]  # self
        names = set(positional) | {a.arg for a in arguments.kwonlyargs}
        given = list(zip(positional, node.args, strict=False))  # defaults for the rest
        given += [(k.arg, k.value) for k in node.keywords if k.arg in names]
        bindings = []
        for parameter, value in given:
            if isinstance(value, ast.Starred):
                break
            if (key := self.key(value)) is not None:
                bindings.append((parameter, key))
                self.skip.add(id(value))
        self.callees.append((target, tuple(sorted(bindings))))

    def _reference(self, node: ast.Name | ast.Attribute) -> None:
        """A name used here: a params value read, a file named, a function reached."""
        if id(node) not in self.skip and (key := self.key(node)):
            self.found.params.add(".".join(key))
        target = self.resolve(node)
        if target is None:
            return
        if target.startswith(f"{PATHS}."):
            self.found.paths |= named_paths(target.removeprefix(f"{PATHS}."))
            return
        definition = self.project.definitions.get(target)
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.callees.append((target, ()))  # called, or passed on (a callback)
        elif isinstance(definition, ast.ClassDef):  # constructed: any method may run
            self.callees += [
                (f"{target}.{method.name}", ())
                for method in definition.body
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
        elif definition is not None:  # a module constant: the files its value names
            scope = self.project.scopes[self.project.module_of[target]]
            for inner in ast.walk(definition):
                named = resolve(self.project, scope, inner) or ""
                if named.startswith(f"{PATHS}."):
                    self.found.paths |= named_paths(named.removeprefix(f"{PATHS}."))
