"""One registry for every pluggable kind: the names a config value may take, and their classes.

Core objects: :func:`register`, :func:`get`, :func:`names`, :func:`view`,
:data:`KINDS`, :data:`BUILTIN_MODULES`, :data:`ENTRY_POINT_GROUP`,
:class:`Registry`, :class:`UnknownName`, :class:`RegistrationError`,
:class:`PluginError`.

=====================  ====================  ============================================================
kind                   config key            a registered class is
=====================  ====================  ============================================================
``feed_policy``        recommender.feed      a :class:`sim.recommenders.base.FeedPolicy`
``account_suggester``  recommender.accounts  a :class:`sim.recommenders.accounts.AccountSuggester`
``group_suggester``    recommender.groups    a :class:`sim.recommenders.accounts.GroupSuggester`
``safeguard``          safeguards.<name>     a :class:`sim.safeguards.Safeguard` with a ``config_class``
``graph_source``       network.kind          a :class:`sim.network.sources.GraphSource`
=====================  ====================  ============================================================

A module registers its classes when it is imported::

    from sim import registry

    @registry.register("feed_policy", "newest_first")
    class NewestFirst(FeedPolicy): ...

``register`` sets the class's ``name`` to the registered name. A safeguard
class also names its config section's dataclass (``config_class``, with an
``enabled`` field): :func:`sim.config.schema` makes it the section
``safeguards.<name>``, so registering a safeguard is what gives it a section.

This module imports nothing from ``sim``: the config asks it for names without
importing any implementation. The first lookup (:func:`get`, :func:`names`)
imports the built-in modules (:data:`BUILTIN_MODULES`, by import path), then
the module named by every entry point of the group :data:`ENTRY_POINT_GROUP`
of the installed distributions; importing a module is what registers its
classes. A plug-in distribution declares, in its ``pyproject.toml``::

    [project.entry-points."exposim.plugins"]
    my_plugin = "my_package.exposim_plugin"

Modules imported by the load must not look names up while they are imported
(the registry is not complete yet); that is refused with an error naming it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

#: The pluggable kinds; each is a namespace of its own (one name may be a feed policy and a safeguard).
KINDS = ("feed_policy", "account_suggester", "group_suggester", "safeguard", "graph_source")
#: The modules that register the built-in implementations, imported in this order by the first lookup
#: (the order names are listed in; built-in safeguards act in catalogue order, ``sim.config.SAFEGUARD_NAMES``).
BUILTIN_MODULES = (
    "sim.recommenders.baseline",
    "sim.recommenders.content_based",
    "sim.recommenders.engagement",
    "sim.recommenders.accounts",
    "sim.safeguards",
    "sim.age_assurance",
    "sim.network.sources",
)
#: Entry-point group of plug-in distributions; each entry point names a module to import.
ENTRY_POINT_GROUP = "exposim.plugins"

T = TypeVar("T", bound=type)


class UnknownName(KeyError):
    """A name that nothing registered under that kind (the message lists the registered names)."""

    def __str__(self) -> str:           # KeyError would quote the message
        return str(self.args[0])


class RegistrationError(ValueError):
    """A registration that is refused: unknown kind, a name taken, a safeguard without a config section."""


class PluginError(ImportError):
    """A plug-in's module (an entry point of :data:`ENTRY_POINT_GROUP`) failed to import."""


class Registry:
    """Kinds -> names -> classes, filled by modules as they are imported.

    Args:
        builtin_modules: modules the first lookup imports (by import path).
        entry_point_group: entry-point group whose modules the first lookup
            imports after them (None: no plug-ins).
    """

    def __init__(self, builtin_modules: tuple[str, ...] = (), entry_point_group: str | None = None) -> None:
        self.builtin_modules = tuple(builtin_modules)
        self.entry_point_group = entry_point_group
        self._entries: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
        self._state = "unloaded"        # -> "loading" -> "loaded"
        self._loading_module = ""

    # ------------------------------------------------------------ registering

    def register(self, kind: str, name: str) -> Callable[[T], T]:
        """Class decorator: make the class available as ``name`` of ``kind``.

        Raises:
            RegistrationError: unknown kind; a name that is not an identifier;
                the name already taken by another class; a class whose own
                ``name`` says otherwise; a safeguard without a ``config_class``
                dataclass that has an ``enabled`` field.
        """
        entries = self._kind(kind)
        if not isinstance(name, str) or not name.isidentifier():
            raise RegistrationError(f"{kind} name {name!r} must be an identifier (it is a config value or key)")

        def decorate(cls: T) -> T:
            own = cls.__dict__.get("name")
            if own not in (None, "", name):
                raise RegistrationError(f"{_qualified(cls)} is registered as {kind} {name!r} but its name is {own!r}")
            taken = entries.get(name)
            # The same class again (a module imported twice, or reloaded) replaces itself.
            if taken is not None and _qualified(taken) != _qualified(cls):
                raise RegistrationError(f"{kind} {name!r} is already registered by {_qualified(taken)}; "
                                        f"{_qualified(cls)} cannot take the name")
            if kind == "safeguard":
                _check_safeguard(cls, name)
            cls.name = name
            entries[name] = cls
            return cls

        return decorate

    # ---------------------------------------------------------------- lookups

    def get(self, kind: str, name: str) -> type:
        """The class registered as ``name`` of ``kind``.

        Raises:
            UnknownName: no such name; the message lists the registered ones.
        """
        entries = self._loaded(kind)
        try:
            return entries[name]
        except (KeyError, TypeError):
            listed = ", ".join(entries) or "none"
            raise UnknownName(f"there is no {kind} named {name!r}; registered: {listed}") from None

    def names(self, kind: str, *, plugins: bool = True) -> tuple[str, ...]:
        """The names registered for ``kind``, in the order they were registered.

        Args:
            plugins: False for the built-in names only (those registered by
                :attr:`builtin_modules`), e.g. for the reference documentation.
        """
        entries = self._loaded(kind)
        return tuple(name for name, cls in entries.items()
                     if plugins or cls.__module__ in self.builtin_modules)

    def view(self, kind: str) -> Mapping[str, type]:
        """A read-only mapping name -> class of ``kind`` that follows the registry."""
        self._kind(kind)
        return _View(self, kind)

    # ---------------------------------------------------------------- loading

    def load(self) -> None:
        """Import the built-in modules, then the plug-ins' (once; lookups call it)."""
        if self._state == "loaded":
            return
        if self._state == "loading":
            raise RuntimeError(f"the registry was asked for names while {self._loading_module} was being imported "
                               "by its first lookup; look names up when they are used, not at import time")
        self._state = "loading"
        try:
            for module in self.builtin_modules:
                self._loading_module = module
                importlib.import_module(module)
            for entry_point in self._entry_points():
                self._loading_module = f"plug-in {entry_point.value}"
                try:
                    entry_point.load()
                except Exception as exc:
                    dist = getattr(entry_point, "dist", None)
                    origin = f" (distribution {dist.name})" if dist is not None else ""
                    raise PluginError(f"exposim plug-in {entry_point.name} = {entry_point.value}{origin} "
                                      f"failed to import: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            self._state = "unloaded"
            raise
        self._state = "loaded"

    def _entry_points(self) -> list[importlib.metadata.EntryPoint]:
        if self.entry_point_group is None:
            return []
        seen, out = set(), []
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            if entry_point.value not in seen:       # one distribution found twice on the path
                seen.add(entry_point.value)
                out.append(entry_point)
        return out

    def _kind(self, kind: str) -> dict[str, type]:
        try:
            return self._entries[kind]
        except KeyError:
            raise RegistrationError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}") from None

    def _loaded(self, kind: str) -> dict[str, type]:
        entries = self._kind(kind)
        self.load()
        return entries


class _View(Mapping):
    """name -> class of one kind, read through to the registry at every access."""

    def __init__(self, owner: Registry, kind: str) -> None:
        self._owner, self._kind = owner, kind

    def __getitem__(self, name: str) -> type:
        return self._owner.get(self._kind, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._owner.names(self._kind))

    def __len__(self) -> int:
        return len(self._owner.names(self._kind))

    def __repr__(self) -> str:
        return f"<registry view of {self._kind}: {', '.join(self._owner.names(self._kind))}>"


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_safeguard(cls: type, name: str) -> None:
    section: Any = getattr(cls, "config_class", None)
    fields = getattr(section, "__dataclass_fields__", None)
    if not isinstance(section, type) or fields is None or "enabled" not in fields:
        raise RegistrationError(f"safeguard {name!r} ({_qualified(cls)}) needs a config_class: the dataclass of its "
                                f"config section safeguards.{name}, with an 'enabled' field")
    if name == "preset":
        raise RegistrationError("safeguard name 'preset' is taken by the key safeguards.preset")


#: The registry of the package (built-in modules and installed plug-ins).
REGISTRY = Registry(BUILTIN_MODULES, ENTRY_POINT_GROUP)

register = REGISTRY.register
get = REGISTRY.get
names = REGISTRY.names
view = REGISTRY.view
load = REGISTRY.load
