"""Plugin discovery: entry points of ``mindinfer.backends``, loaded one by one and isolated.

A plugin that fails to import, raises in a hook, or breaks the contract is recorded with its error
and left out; the others keep working. Only a user who asks for it by name gets the error, as a
:class:`PluginError` whose ``__cause__`` is the original exception.

Environment: ``MINDINFER_PLUGINS=a,b`` loads only those entry points (the others are "blocked"; a
name that matches no installed plugin is an error); ``MINDINFER_DISABLE_PLUGIN_AUTOLOAD=1`` loads
none (tests register plugins programmatically). Messages that would otherwise say "no plugins
installed" say which of the two is in effect (:meth:`PluginRegistry.env_note`).

Only ``KeyboardInterrupt`` escapes a plugin: anything else it raises while importing or in a hook
(``SystemExit``, ``GeneratorExit``, a ``BaseException`` subclass of its own) marks it failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Literal

import pluggy

from . import hookspecs
from .backend import SUPPORTED_CONTRACT_VERSIONS, Backend
from .errors import InvalidTargetError, MindInferError, PluginError
from .ir import ForeignModel

__all__ = ["ENTRY_POINT_GROUP", "PluginInfo", "PluginRegistry", "get_registry", "set_registry"]

ENTRY_POINT_GROUP = "mindinfer.backends"
log = logging.getLogger("mindinfer.plugins")
Status = Literal["loaded", "failed", "blocked"]
_REQUIRED = ("name", "contract_version", "device_kinds", "priority", "capabilities", "options", "devices", "compile")


@dataclass
class PluginInfo:
    """One plugin as ``mindinfer plugins`` shows it."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    status: Status = "loaded"
    error: BaseException | None = None
    backends: list[Backend] = field(default_factory=list)

    @property
    def error_text(self) -> str:
        if self.error is None:
            return ""
        return f"{type(self.error).__name__}: {self.error}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error_text or None,
            "contract_versions": sorted({int(b.contract_version) for b in self.backends}),
            "backends": [
                {
                    "name": b.name,
                    "device_kinds": list(b.device_kinds),
                    "priority": b.priority,
                    "options": [o.to_json() for o in b.options],
                }
                for b in self.backends
            ],
        }


class PluginRegistry:
    """The loaded plugins and their backends. Most code uses the shared :func:`get_registry`."""

    def __init__(self, autoload: bool | None = None) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._env_disabled = False
        self._env_allowed = ""
        if autoload is None:
            autoload = os.environ.get("MINDINFER_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() not in (
                "1",
                "true",
                "yes",
            )
            self._env_disabled = not autoload
        if autoload:
            self._load_entry_points()

    def env_note(self) -> str:
        """Which plugin-selecting environment variable is in effect, in words ("" when none)."""
        if self._env_disabled:
            return "MINDINFER_DISABLE_PLUGIN_AUTOLOAD is set, so no installed plugin was loaded; unset it to load them"
        if self._env_allowed:
            return f"MINDINFER_PLUGINS={self._env_allowed!r} is set, so only those plugins were loaded"
        return ""

    # -- loading -------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        allowed_env = os.environ.get("MINDINFER_PLUGINS", "").strip()
        allowed = {p.strip() for p in allowed_env.split(",") if p.strip()} if allowed_env else None
        self._env_allowed = allowed_env if allowed is not None else ""
        entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        unknown = sorted((allowed or set()) - {ep.name for ep in entry_points})
        if unknown:
            installed = ", ".join(sorted({ep.name for ep in entry_points})) or "none"
            raise PluginError(
                f"MINDINFER_PLUGINS={allowed_env!r} names {', '.join(repr(u) for u in unknown)}, which match(es) "
                f"no installed plugin (installed: {installed}); fix the variable or unset it"
            )
        seen: set[str] = set()
        for ep in entry_points:
            if ep.name in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else "",
                version=dist.version if dist is not None else "",
            )
            self._plugins[ep.name] = info
            if allowed is not None and ep.name not in allowed:
                info.status = "blocked"
                info.error = PluginError(f"not in MINDINFER_PLUGINS={allowed_env!r}")
                continue
            try:
                obj = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 -- any import failure is recorded, not raised
                self._fail(info, exc, "failed to import")
                continue
            self._add(info, obj)

    def register(self, plugin: ModuleType | object, name: str | None = None, distribution: str = "") -> PluginInfo:
        """Register a plugin object or module programmatically (tests, embedding applications)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._plugins:
            raise PluginError(f"a plugin named {name!r} is already registered")
        info = PluginInfo(
            name=name, module=getattr(plugin, "__name__", type(plugin).__name__), distribution=distribution
        )
        return self._add(info, plugin)

    def _add(self, info: PluginInfo, obj: object) -> PluginInfo:
        self._plugins[info.name] = info
        try:
            self._pm.register(obj, name=info.name)
            self._pm.check_pending()  # a marked hook with a misspelled name would do nothing silently
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 -- pluggy validation: a hook with a wrong signature, say
            self._unregister(info.name)
            self._fail(info, exc, "broke the plugin contract")
            return info
        backends: list[Backend] = []
        for impl in self._impls("register_backends", info.name):
            try:
                _call(impl, register=backends.append)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 -- plugin isolation
                self._unregister(info.name)
                self._fail(info, exc, "raised in register_backends")
                return info
        try:
            for backend in backends:
                _check_contract(backend, info.name)
            _check_unique(backends, self.backends(), info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 -- a property raising while checked, say
            self._unregister(info.name)
            self._fail(info, exc, "broke the plugin contract")
            return info
        info.backends = backends
        return info

    def _fail(self, info: PluginInfo, exc: BaseException, what: str) -> None:
        info.status, info.error = "failed", exc
        info.backends = []
        log.warning("mindinfer plugin %r %s: %s: %s", info.name, what, type(exc).__name__, exc)
        log.debug("".join(traceback.format_exception(exc)))

    def _unregister(self, name: str) -> None:
        if self._pm.get_plugin(name) is not None:
            self._pm.unregister(name=name)

    def _impls(self, hook: str, plugin_name: str | None = None) -> list[pluggy.HookImpl]:
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        return [i for i in impls if plugin_name is None or i.plugin_name == plugin_name]

    # -- queries -------------------------------------------------------------------------------
    @property
    def plugins(self) -> list[PluginInfo]:
        return list(self._plugins.values())

    def backends(self) -> list[Backend]:
        """Backends of every loaded plugin."""
        return [b for p in self._plugins.values() if p.status == "loaded" for b in p.backends]

    def plugin_of(self, backend: Backend) -> PluginInfo:
        return next(p for p in self._plugins.values() if any(b is backend for b in p.backends))

    def device_kinds(self) -> set[str]:
        return {k for b in self.backends() for k in b.device_kinds}

    def find(self, name: str) -> list[Backend]:
        """Backends answering to ``name``: a backend name, else a plugin name.

        A plugin that failed or is blocked raises :class:`PluginError` carrying its error; an
        unknown name raises :class:`InvalidTargetError` listing what is installed.
        """
        by_backend = [b for b in self.backends() if b.name == name]
        if by_backend:
            return by_backend
        info = self._plugins.get(name)
        if info is None:
            installed = ", ".join(sorted({b.name for b in self.backends()} | set(self._plugins))) or "none"
            raise InvalidTargetError(
                f"no plugin or backend named {name!r} is installed (installed: {installed}); "
                "see `mindinfer plugins`, or pip-install the plugin"
            )
        if info.status == "blocked":
            raise PluginError(
                f"plugin {name!r} is blocked: {info.error}; add it to MINDINFER_PLUGINS to use it"
            ) from info.error
        if info.status == "failed":
            raise PluginError(
                f"plugin {name!r} ({info.module}) failed to load: {info.error_text}; "
                "fix or reinstall it (details: `mindinfer plugins`)"
            ) from info.error
        return list(info.backends)

    # -- other hooks ---------------------------------------------------------------------------
    def open_foreign(self, path: str) -> ForeignModel | None:
        """Ask each plugin's ``open_foreign_model`` hook in turn; the first non-None result wins."""
        # pluggy's call order: last registered first; plugins still implementing the hook's old
        # name (open_model) are asked after the others.
        impls = [*reversed(self._impls("open_foreign_model")), *reversed(self._impls("open_model"))]
        for impl in impls:
            try:
                result = _call(impl, path=path)
            except (MindInferError, KeyboardInterrupt):
                raise
            except BaseException as exc:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} raised in open_foreign_model({path!r}): {type(exc).__name__}: {exc}"
                ) from exc
            if result is not None:
                if not isinstance(result, ForeignModel):
                    raise PluginError(
                        f"plugin {impl.plugin_name!r}: open_foreign_model must return a mindinfer.ir.ForeignModel "
                        f"or None, got {type(result).__name__}"
                    )
                return result
        return None

    def register_commands(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        """Let each plugin add CLI subcommands; a plugin raising here is skipped with a warning."""
        for impl in reversed(self._impls("register_commands")):
            try:
                _call(impl, subparsers=subparsers)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 -- plugin isolation
                log.warning("mindinfer plugin %r raised in register_commands: %s", impl.plugin_name, exc)


def _call(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    # pluggy lets an implementation take a subset of the hook's arguments.
    return impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})


def _check_contract(backend: Any, plugin: str) -> None:
    missing = [attr for attr in _REQUIRED if not hasattr(backend, attr)]
    if missing:
        raise PluginError(
            f"plugin {plugin!r}: backend {backend!r} lacks {', '.join(missing)}; subclass mindinfer.BackendBase"
        )
    version = backend.contract_version
    if version not in SUPPORTED_CONTRACT_VERSIONS:
        supported = ", ".join(str(v) for v in sorted(SUPPORTED_CONTRACT_VERSIONS))
        raise PluginError(
            f"plugin {plugin!r}: backend {getattr(backend, 'name', '?')!r} implements plugin contract "
            f"version {version!r}, but this mindinfer supports {supported}; upgrade mindinfer or the plugin"
        )
    kinds = backend.device_kinds
    if not isinstance(kinds, (tuple, list)) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise PluginError(f"plugin {plugin!r}: device_kinds must be a non-empty tuple of strings, got {kinds!r}")


def _check_unique(new: list[Backend], existing: list[Backend], plugin: str) -> None:
    names = [b.name for b in new] + [b.name for b in existing]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise PluginError(f"plugin {plugin!r}: a backend named {dup!r} is already registered")


_registry: PluginRegistry | None = None
_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, loaded from entry points on first use."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = PluginRegistry()
        return _registry


def set_registry(registry: PluginRegistry | None) -> PluginRegistry | None:
    """Replace the process-wide registry (``None``: rediscover on next use); returns the old one."""
    global _registry
    with _lock:
        old, _registry = _registry, registry
        return old
