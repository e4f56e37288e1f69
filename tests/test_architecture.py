"""The architecture rules, read from the source with ast: one-way layers, one
module for ML Metadata, one bootstrap for the environment, no sys.path edits,
one name per module, command modules that are only commands."""

import ast
import os

import pytest

from serving.local_server import REPO

PACKAGES = ('common', 'models', 'serving', 'pipeline', 'operations', 'runner')
# What each package may import of ours (besides itself).
ALLOWED = {
    'common': set(),
    'models': {'common'},
    'serving': {'common'},
    'pipeline': {'common', 'models', 'serving'},
    'operations': {'common', 'models', 'serving', 'pipeline'},
    'runner': {'common', 'pipeline', 'operations'},
}
ENTRY_POINTS = ['runner/__main__.py', 'runner/cli.py', 'serving/server.py', 'serving/client.py',
                'tests/conftest.py',
                'bench/pipeline.py', 'bench/scale.py', 'bench/serving.py', 'bench/runs.py',
                'bench/soak.py', 'bench/tuning.py', 'dags/taxi_pipeline.py',
                'docs/airflow_screenshot.py']
BOOTSTRAP = 'common/bootstrap.py'
METADATA_MODULE = 'pipeline/mlmd.py'


def _sources(*directories):
    for directory in directories:
        for root, _, files in os.walk(os.path.join(REPO, directory)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(root, name)
                    yield os.path.relpath(path, REPO), ast.parse(open(path).read(), path)


def _imported_modules(tree):
    """Every module an import statement names, anywhere in the file (lazy imports too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_imports_follow_the_layers():
    wrong = []
    for path, tree in _sources(*PACKAGES):
        package = path.split(os.sep)[0]
        for module in _imported_modules(tree):
            top = module.split('.')[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f'{path} imports {module}')
    assert wrong == []


def test_only_the_record_module_talks_to_ml_metadata():
    users = sorted(path for path, tree in _sources(*PACKAGES, 'tests', 'bench')
                   if any(m.split('.')[0] == 'ml_metadata' for m in _imported_modules(tree)))
    assert users == [METADATA_MODULE]


def _environ_writes(tree):
    """Lines that change os.environ outside any function (at import)."""
    lines = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for inner in ast.walk(node):
            text = ast.unparse(inner)
            if isinstance(inner, ast.Call) and text.startswith(('os.environ.setdefault',
                                                                'os.environ.update', 'os.putenv')):
                lines.append(inner.lineno)
            elif isinstance(inner, (ast.Assign, ast.AugAssign)) and 'os.environ[' in text:
                lines.append(inner.lineno)
    return lines


def test_only_the_bootstrap_sets_the_environment_at_import():
    writers = {path: lines for path, tree in _sources(*PACKAGES, 'tests', 'bench')
               if (lines := _environ_writes(tree))}
    assert list(writers) == [BOOTSTRAP]


def _uses_sys_path(tree) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == 'path'
               and isinstance(node.value, ast.Name) and node.value.id == 'sys'
               for node in ast.walk(tree))


def test_nothing_edits_sys_path():
    edits = [path for path, tree in _sources(*PACKAGES, 'tests', 'bench') if _uses_sys_path(tree)]
    assert edits == []


@pytest.mark.parametrize('path', ENTRY_POINTS)
def test_entry_points_import_the_bootstrap_first(path):
    tree = ast.parse(open(os.path.join(REPO, path)).read())
    first = next(node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    assert ast.unparse(first) == 'import common.bootstrap'


def test_no_two_modules_share_a_name():
    """A module's name says what it holds, once: `where does X happen?` has one answer."""
    by_name = {}
    for path, _ in _sources(*PACKAGES):
        name = os.path.basename(path)
        if name not in ('__init__.py', '__main__.py'):
            by_name.setdefault(name, []).append(path)
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}


COMMAND_NAMES = {'NAME', 'HELP', 'EXAMPLES'}
COMMAND_FUNCTIONS = {'add_arguments', 'check', 'run'}


def _top_level_names(tree):
    """(kind, name) of every top-level statement that is not an import or the docstring."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            yield 'constant', node.targets[0].id
        elif isinstance(node, ast.ClassDef):
            yield 'class', node.name
        elif isinstance(node, ast.FunctionDef):
            yield 'function', node.name
        else:
            yield 'statement', ast.unparse(node)[:40]


def test_command_modules_hold_only_the_command_protocol():
    """runner/commands/X.py: NAME, HELP, EXAMPLES, its Plan, add_arguments, check
    and run; the work lives in operations/."""
    found = {}
    for path, tree in _sources(os.path.join('runner', 'commands')):
        if os.path.basename(path) == '__init__.py':
            continue
        names = set(_top_level_names(tree))
        expected = {('constant', n) for n in COMMAND_NAMES} | {('class', 'Plan')} | \
            {('function', n) for n in COMMAND_FUNCTIONS}
        if names != expected:
            found[path] = sorted(names ^ expected)
    assert found == {}


def test_every_command_module_is_a_command():
    from runner import commands
    listed = {command.__name__.rsplit('.', 1)[-1] for command in commands.ALL}
    on_disk = {os.path.basename(path)[:-3]
               for path, _ in _sources(os.path.join('runner', 'commands'))} - {'__init__'}
    assert listed == on_disk
