"""The API reference, generated from ``__all__``: the Sphinx side of "``__all__`` is the API".

``docs/api.md`` writes, under one heading per public module::

    ```{api-module} journeyfsm.analytics
    ```

and this extension expands that into the module's docstring and one autodoc entry per name
of the module's ``__all__``, in its order, so a new public name appears by itself.  A name
exported by several modules (``journeyfsm.ManualClock`` is also ``journeyfsm.testing``'s)
is documented once, where it is first exported (the modules in :func:`public_modules`
order, ``journeyfsm`` first), and listed as an alias elsewhere.

The build fails (a warning, and ``make docs`` runs Sphinx with ``-W``) when

- a public name, or a public method or property of a public class, has no docstring;
- a public module has no ``{api-module}`` section (checked when the build ends);
- a reference does not resolve.  Type hints name their classes where they are defined
  (``journeyfsm._records.Journey``): :func:`resolve_private` sends those to the public
  name.  Only the standard library's and third-party types stay unresolved on purpose
  (no intersphinx inventories are fetched here): ``nitpick_ignore_regex`` lists them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

from docutils import nodes
from docutils.statemachine import StringList
from pygments.lexers.special import TextLexer
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import journeyfsm

logger = logging.getLogger(__name__)

# journeyfsm.contrib.django's app modules import only inside a configured Django project
DJANGO_APP = tuple(
    f"journeyfsm.contrib.django.{m}"
    for m in ("admin", "apps", "models", "migrations", "management")
)

# references the build may leave unresolved: anything outside journeyfsm (the standard
# library, attrs, structlog, psycopg, SQLAlchemy, Django: no inventories offline)
NITPICK_IGNORE = [(r"py:.*", r"(?!journeyfsm\b).*")]

# private types that public signatures name: the store seam's rows (a store author reads
# them in journeyfsm/service/_records.py), the guard predicate alias and the injectable
# logger's type.  Listed one by one so that a new one fails the build until it is public
# or added here.
PRIVATE_IN_SIGNATURES = {
    "journeyfsm.service._records.JourneyRow",
    "journeyfsm.service._records.Decision",
    "journeyfsm.service._records.JourneyImport",
    "journeyfsm._guards.Predicate",
    "journeyfsm._logging.JourneyLog",
    # what col() returns: a column of a guard expression, used only through its operators
    "journeyfsm._columns.Column",
    # Migration.step(): one journey's new stage and data (to test a migration by hand)
    "journeyfsm._versions.MigrationStep",
    # Journey.event_ids: a read-only window of recent ids
    "journeyfsm._records.IdWindow",
    # the stores' transaction() results: the public protocol is StoreTransaction
    "journeyfsm.stores._memory._MemoryTransaction",
    "journeyfsm.stores._sqlite_rows.SQLiteTransaction",
}


def public_modules() -> list[str]:
    """Every public module with an ``__all__``: ``journeyfsm`` first, then by name."""
    found = ["journeyfsm"]
    for info in pkgutil.walk_packages(journeyfsm.__path__, "journeyfsm."):
        name = info.name
        if name.startswith(DJANGO_APP) or any(p.startswith("_") for p in name.split(".")):
            continue
        if hasattr(importlib.import_module(name), "__all__"):
            found.append(name)
    return [found[0], *sorted(found[1:])]


def _documentable(value: object) -> bool:
    return inspect.isclass(value) or inspect.isfunction(value) or inspect.ismodule(value)


@functools.cache
def canonical_names() -> dict[str, str]:
    """``dotted name -> the public name it is documented under``.

    Holds the definition site of every exported class and function
    (``journeyfsm._records.Journey``) and every alias (``journeyfsm.testing.ManualClock``).
    """
    documented: dict[int, str] = {}
    names: dict[str, str] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if not _documentable(value):
                continue
            public = documented.setdefault(id(value), f"{module_name}.{name}")
            names[f"{module_name}.{name}"] = public
            if inspect.ismodule(value):
                names[value.__name__] = public
            else:
                names[f"{value.__module__}.{value.__qualname__}"] = public
    return names


def _attribute_doc(module: ModuleType, name: str) -> list[str]:
    """The ``#:`` comment or docstring of a module-level constant, wherever it is assigned
    inside the module's package (``ALL_GROUP`` is assigned in ``analytics/_tables.py``)."""
    candidates = [module.__name__]
    if hasattr(module, "__path__"):
        candidates += [m.name for m in pkgutil.iter_modules(module.__path__, module.__name__ + ".")]
    else:
        candidates.append(module.__name__.rpartition(".")[0])
    # then wherever in journeyfsm (journeyfsm.stores re-exports the service's OutboxStatus)
    candidates += [m.name for m in pkgutil.walk_packages(journeyfsm.__path__, "journeyfsm.")]
    for candidate in candidates:
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # a module the analyzer cannot read documents nothing here
            continue
        lines = docs.get(("", name))
        if lines and any(line.strip() for line in lines):
            return list(lines)
    return []


class ApiModule(SphinxDirective):
    """``{api-module} journeyfsm.x``: the module docstring and every name of its ``__all__``."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        documented = getattr(self.env, "apiref_modules", {})
        documented[module_name] = self.env.docname
        self.env.apiref_modules = documented  # type: ignore[attr-defined]
        canonical = canonical_names()
        lines: list[str] = [f".. automodule:: {module_name}", "   :no-members:", ""]
        aliases: list[str] = []
        for name in module.__all__:
            value = getattr(module, name)
            full = f"{module_name}.{name}"
            if inspect.ismodule(value):
                aliases.append(f"``{name}``: the module :py:mod:`{value.__name__}`")
                continue
            if _documentable(value) and canonical.get(full, full) != full:
                aliases.append(f"``{name}``: the same as :py:obj:`{canonical[full]}`")
                continue
            if _documentable(value):
                if not (value.__doc__ or "").strip():
                    logger.warning(
                        "%s has no docstring: every public name documents itself",
                        full,
                        location=(self.env.docname, self.lineno),
                    )
                if inspect.isclass(value) and issubclass(value, BaseException):
                    lines += [f".. autoexception:: {full}", *_inherited(value), ""]
                elif inspect.isclass(value):
                    lines += [f".. autoclass:: {full}", *_inherited(value), ""]
                else:
                    lines += [f".. autofunction:: {full}", ""]
                continue
            doc = _attribute_doc(module, name)
            if not doc:
                logger.warning(
                    "%s has no documentation: give it a '#:' comment where it is assigned",
                    full,
                    location=(self.env.docname, self.lineno),
                )
            lines += [f".. py:data:: {name}", f"   :module: {module_name}"]
            lines += [f"   :value: {_short_repr(value)}", ""]
            lines += [f"   {line}" if line else "" for line in doc] + [""]
        if aliases:
            lines += [".. rubric:: Also exported here", ""]
            lines += [f"- {alias}" for alias in aliases] + [""]
        # the page is MyST: its nested parse reads markdown, so the rST goes in an eval-rst
        # block (autodoc's own output is rST as well)
        lines = ["```{eval-rst}", *lines, "```"]
        container = nodes.container()
        self.state.nested_parse(
            StringList(lines, source=f"<api-module {module_name}>"), 0, container
        )
        return list(container.children)


def _private(cls: type) -> bool:
    return cls.__module__.startswith("journeyfsm") and any(
        part.startswith("_") for part in f"{cls.__module__}.{cls.__qualname__}".split(".")
    )


def _inherited(cls: type) -> list[str]:
    """The ``:inherited-members:`` option that shows what a class gets from its private
    mixins (``JourneyMachine.tick`` is written in ``journeyfsm._timeouts``) and nothing it
    gets from a public or outside base (documented there, or not ours to document).

    autodoc walks the MRO and drops a member found first in a class the option names."""
    stop = [base.__name__ for base in cls.__mro__[1:] if not _private(base)]
    return [f"   :inherited-members: {', '.join(dict.fromkeys(stop))}"]


def _short_repr(value: object) -> str:
    text = repr(value)
    if isinstance(value, dict):
        return f"{{...}} ({len(value)} entries)"
    return text if len(text) <= 80 else text[:77] + "..."


def check_docstring(
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    """A public method, property or class documented without a docstring fails the build."""
    last = name.rpartition(".")[2]
    if last.startswith("_") or what not in {"class", "exception", "function", "method", "property"}:
        return
    if not any(line.strip() for line in lines):
        logger.warning("%s has no docstring: every public name documents itself", name)


def resolve_private(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    """Send a reference to a private module's name to its public documentation."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("journeyfsm"):
        return None
    if target in PRIVATE_IN_SIGNATURES or _is_type_variable(target):
        return contnode
    public = canonical_names().get(target)
    if public is None or public == target:
        return None
    node["reftarget"] = public
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
    ) or domain.resolve_xref(env, node["refdoc"], app.builder, "obj", public, node, contnode)


def public_bases(app: Sphinx, name: str, obj: object, options: Any, bases: list[type]) -> None:
    """ "Bases:" names public classes only: a private mixin (``journeyfsm._explain.Explaining``)
    is an implementation detail, replaced by its own public bases."""
    names = canonical_names()

    def shown(base: type) -> list[type]:
        full = f"{base.__module__}.{base.__qualname__}"
        if not _private(base) or full in names:
            return [base]
        return [b for parent in base.__bases__ if parent is not object for b in shown(parent)]

    replaced = [b for base in bases for b in shown(base)]
    bases[:] = list(dict.fromkeys(replaced)) or [object]


def _is_type_variable(target: str) -> bool:
    """A signature's ``F`` (``journeyfsm._hooks.F``, a TypeVar): shown, not linked."""
    module_name, _, attr = target.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(value, TypeVar | ParamSpec)


def check_every_module_documented(app: Sphinx, env: Any) -> None:
    """A public module without an ``{api-module}`` section fails the build."""
    seen = getattr(env, "apiref_modules", {})
    for module_name in public_modules():
        if module_name not in seen:
            logger.warning(
                "public module %s has no section in api.md: add a heading and "
                "```{api-module} %s```",
                module_name,
                module_name,
            )


# short names the guides use for something else (pathlib's Path, asyncio's Event)
NOT_LINKED = {"Path", "Event", "Step"}


@functools.cache
def code_names() -> dict[str, str]:
    """``text -> public name`` for the inline code the guides write: a public class
    (``JourneyService``), a member of one (``JourneyService.handle``), a dotted public
    name (``journeyfsm.analytics.fit_chain``, ``analytics.replay``), or a call of any of
    these or of a public function (``fit_chain(journeys, definition)``)."""
    out: dict[str, str] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            full = canonical_names().get(f"{module_name}.{name}", f"{module_name}.{name}")
            out[f"{module_name}.{name}"] = full
            # `analytics.replay`, `templates.aida`, `stores.SQLiteStore`
            out.setdefault(f"{module_name.rpartition('.')[2]}.{name}", full)
            if inspect.isfunction(value):
                out.setdefault(f"{name}(", full)  # a call: `fit_chain(journeys, ...)`
            if not inspect.isclass(value) or name in NOT_LINKED:
                continue
            out.setdefault(name, full)
            for attr in dir(value):
                if attr.startswith("_"):
                    continue
                owner = next((c for c in value.__mro__ if attr in vars(c)), None)
                if owner is not None and owner.__module__.startswith("journeyfsm"):
                    out.setdefault(f"{name}.{attr}", f"{full}.{attr}")
    return out


class LinkCodeNames(SphinxTransform):
    """Inline code that names a public API object links to its entry in the reference:
    the guides stay plain markdown (`JourneyService.handle` on GitHub), the site links it."""

    default_priority = 5  # before the references are resolved, after parsing

    def apply(self, **kwargs: Any) -> None:
        names = code_names()
        for node in list(self.document.findall(nodes.literal)):
            if isinstance(
                node.parent, (nodes.reference, addnodes.pending_xref, nodes.literal_block)
            ):
                continue
            if "xref" in node.get("classes", []):
                continue
            text = node.astext().strip()
            if "(" in text:  # a call: its callable
                head = text.split("(", 1)[0]
                target = names.get(head) or names.get(head + "(")
            else:
                target = names.get(text)
            if target is None:
                continue
            ref = addnodes.pending_xref(
                "",
                refdomain="py",
                reftype="obj",
                reftarget=target,
                refexplicit=True,
                refwarn=True,
                refdoc=self.env.docname,
            )
            node.replace_self(ref)
            ref += node


def setup(app: Sphinx) -> dict[str, object]:
    app.add_transform(LinkCodeNames)
    app.add_directive("api-module", ApiModule)
    # ```mermaid blocks are shown as text (the diagrams' source, as the pages explain)
    app.add_lexer("mermaid", TextLexer)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("missing-reference", resolve_private)
    app.connect("env-check-consistency", check_every_module_documented)
    app.config.nitpick_ignore_regex = [*app.config.nitpick_ignore_regex, *NITPICK_IGNORE]
    return {"parallel_read_safe": False, "parallel_write_safe": True}
