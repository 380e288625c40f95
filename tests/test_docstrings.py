"""Every product module's docstring usage lines run against the real code.

The usage lines are the indented lines of a module docstring. Python ones are parsed, and every call
in them is checked: its callee exists (a name of the module's namespace, a builtin, or a name the
lines themselves bind) and its arguments bind to the callee's signature, every required parameter
included (`...` stands for an elided value). A method called on a name the lines bound from a class
or an annotated function is checked against that class. Calls of config dataclasses whose arguments
are all literals are executed (so their validation runs), and so are the whole usage lines of the
modules listed in SELF_CONTAINED. Command lines (`pileprep ...`, `python path ...`) are parsed by the
CLI's own parser, or their script must exist.
"""
import ast
import builtins
import dataclasses
import importlib
import inspect
import pathlib
import re
import shlex
import textwrap
import typing

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "transforms", "schemas", "trainer", "deploy")
# usage lines with no side effects and no inputs: run as they are
SELF_CONTAINED = {"transforms/order.py", "transforms/display.py", "transforms/provenance.py", "schemas/family.py"}
NEEDS = {"trainer": "torch"}  # an optional extra: its modules are checked where it is installed


def product_modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
                  if "__pycache__" not in p.parts)


def usage_blocks(path: str) -> list[str]:
    """The runs of indented lines in the module docstring, dedented."""
    doc = ast.get_docstring(ast.parse((ROOT / path).read_text()), clean=False) or ""
    blocks, current = [], []
    for line in doc.splitlines() + [""]:
        if line.startswith("    ") and line.strip():
            current.append(line)
        elif current:
            blocks.append(textwrap.dedent("\n".join(current)))
            current = []
    return blocks


def load_module(path: str):
    name = path[:-3].replace("/", ".")
    if name.endswith(".__init__"):
        name = name[: -len(".__init__")]
    need = NEEDS.get(name.split(".")[0])
    if need:
        pytest.importorskip(need)
    if name.startswith("deploy."):  # scripts, not a package: load them from their file
        spec = importlib.util.spec_from_file_location(name.replace(".", "_"), ROOT / path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(name)


# --- Python usage lines ----------------------------------------------------------------------------

def _bound_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _resolve(node, namespace: dict, types: dict):
    """The object a callee expression names, or None when it is a method of an unknown value."""
    if isinstance(node, ast.Name):
        if node.id in namespace:
            return namespace[node.id]
        if node.id in types:
            return types[node.id]
        return getattr(builtins, node.id)  # AttributeError: the callee does not exist
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace, types)
        return None if owner is None else getattr(owner, node.attr)
    if isinstance(node, ast.Call):  # f(...).g: through f's return annotation
        return _returns(_resolve(node.func, namespace, types))
    return None


def _returns(callee):
    """The class a call of `callee` returns, where it says so."""
    if callee is None:
        return None
    if inspect.isclass(callee):
        return callee
    try:
        hint = typing.get_type_hints(callee).get("return")
    except Exception:
        return None
    return hint if inspect.isclass(hint) else None


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return isinstance(node, ast.Call) and all(map(_is_literal, node.args)) and all(
            _is_literal(k.value) for k in node.keywords if k.arg)


def check_python(block: str, module, path: str) -> list[str]:
    tree = ast.parse(block)
    namespace = dict(vars(module))
    for node in tree.body:  # an import among the usage lines adds to what they can name
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            exec(compile(ast.Module([node], []), path, "exec"), namespace)
    local = _bound_names(tree)
    types: dict = {}  # snippet-local names bound from a call, -> the class that call returns
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    types[target.id] = _returns(_safe_resolve(node.value.func, namespace, {}))
    checked = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        text = ast.unparse(call.func)
        root = call.func
        while isinstance(root, (ast.Attribute, ast.Call)):
            root = root.value if isinstance(root, ast.Attribute) else root.func
        if isinstance(root, ast.Name) and root.id in local and types.get(root.id) is None:
            continue  # a method of a value the lines made (a pipeline, a PCollection): unknown type
        try:
            callee = _resolve(call.func, namespace, {k: v for k, v in types.items() if v is not None})
        except AttributeError as e:
            raise AssertionError(f"{path}: usage line calls {text}, which does not exist ({e})") from None
        if callee is None:
            continue
        args = [None] * len(call.args)
        instance = types.get(root.id) if isinstance(root, ast.Name) and root.id in local else None
        if instance is not None and isinstance(call.func, ast.Name):  # calling an instance
            callee = getattr(instance, "forward", None) or instance.__call__
            args.insert(0, None)  # self
        elif isinstance(call.func, ast.Attribute) and (call.func.value is root and instance is not None
                                                        or isinstance(call.func.value, ast.Call)):
            owner = instance or _returns(_safe_resolve(call.func.value.func, namespace, {}))
            if not isinstance(inspect.getattr_static(owner, call.func.attr), (staticmethod, classmethod)):
                args.insert(0, None)  # self: a method of an instance, looked up on its class
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            continue
        try:
            signature = inspect.signature(callee)
        except (TypeError, ValueError):
            continue  # a builtin without a signature
        kwargs = {k.arg: None for k in call.keywords}
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise AssertionError(f"{path}: usage line {ast.unparse(call)} does not fit {text}{signature}: {e}") \
                from None
        _check_literal_types(call, bound, callee, f"{path}: usage line {ast.unparse(call)}")
        if dataclasses.is_dataclass(callee) and inspect.isclass(callee) and _is_literal(call):
            eval(compile(ast.Expression(call), path, "eval"), dict(namespace))  # runs __post_init__
        checked.append(text)
    return checked


def _check_literal_types(call, bound, callee, where: str) -> None:
    """A literal argument given for a parameter annotated with a plain class must be one."""
    try:
        hints = typing.get_type_hints(callee.__init__ if inspect.isclass(callee) else callee)
    except Exception:
        return
    nodes = dict(zip(bound.arguments, [None] * (len(bound.args) - len(call.args)) + list(call.args)))
    nodes.update({k.arg: k.value for k in call.keywords})
    for name, node in nodes.items():
        hint = hints.get(name)
        if node is None or not inspect.isclass(hint) or isinstance(node, ast.Constant) and node.value is ...:
            continue
        try:
            value = ast.literal_eval(node)
        except ValueError:
            continue
        assert isinstance(value, hint) or hint is float and isinstance(value, int), \
            f"{where} gives {name}={value!r}, not a {hint.__name__}"


def _safe_resolve(node, namespace, types):
    try:
        return _resolve(node, namespace, types)
    except AttributeError:
        return None


# --- command lines ---------------------------------------------------------------------------------

def check_command(line: str, path: str) -> None:
    words = shlex.split(re.sub(r"\[[^\]]*\]", "", line))
    words = [w for w in words if w not in ("...", "\\")]
    if words[0] == "python":
        assert (ROOT / words[1]).is_file(), f"{path}: usage line runs {words[1]}, which does not exist"
        return
    assert words[0] == "pileprep", f"{path}: usage line {line!r} is neither Python nor a command"
    from pipeline.cli import _parser

    parser = _parser()
    try:
        parser.parse_known_args(words[1:])
    except SystemExit:
        raise AssertionError(f"{path}: `{line}` is not a valid pileprep command line") from None


# --- the tests ---------------------------------------------------------------------------------------

MODULES = product_modules()
PACKAGE_INITS = {m for m in MODULES if m.endswith("__init__.py")}


@pytest.mark.parametrize("path", [m for m in MODULES if m not in PACKAGE_INITS])
def test_module_docstring_has_usage_lines(path):
    assert usage_blocks(path), f"{path}: its docstring shows no usage line"


@pytest.mark.parametrize("path", MODULES)
def test_usage_lines_fit_the_code(path):
    module = None
    for block in usage_blocks(path):
        try:
            ast.parse(block)
        except SyntaxError:
            for line in block.splitlines():
                check_command(line.strip(), path)
            continue
        module = module or load_module(path)
        check_python(block, module, path)
        if path in SELF_CONTAINED:
            exec(compile(block, path, "exec"), dict(vars(module)))


def test_a_wrong_usage_line_is_caught():
    import transforms.read as read
    import transforms.write as write

    with pytest.raises(AssertionError, match="not a ReadConfig"):
        check_python('read = p | ReadPile(["data/*.jsonl.zst"])', read, "read.py")
    with pytest.raises(AssertionError, match="does not fit"):
        check_python("kept | WriteDocuments(out_dir, seed=0, files=4)", write, "write.py")
    with pytest.raises(AssertionError, match="does not exist"):
        check_python("kept | WriteEverything(out_dir)", write, "write.py")
    with pytest.raises(AssertionError, match="not a valid"):
        check_command("pileprep frobnicate out/", "cli.py")
