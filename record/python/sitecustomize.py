# gil-record's start-up hook: each Python thread's OS name (what perf, top and
# gilpipe's tables show) becomes its threading name, so a recording shows
# `hog` and `ThreadPoolExecu` instead of `python3` for every thread.
#
# gil-record puts this directory first on PYTHONPATH for the program it runs
# (only in launch mode: a running process keeps the names it has). Linux keeps
# 15 bytes of a thread name; the name is cut there without splitting a UTF-8
# character. The main thread keeps the program's name (renaming it would rename
# the process in ps and perf). Python 3.14 names threads itself: nothing is
# done there. Any failure leaves the program exactly as it would have run.
# Nothing is imported at start-up: threading is patched when the program
# imports it, and ctypes is loaded then too, in the thread that imports
# threading, so no thread of the program does an import (its file reads would
# release and retake the GIL: GIL events of ours in the recording). libc is
# called through PyDLL, which keeps the GIL: naming a thread is one prctl
# call, with no GIL release of its own.
#
# A program's own sitecustomize (later on sys.path) is imported after this
# one, as if this directory were not there.
import sys

_HERE = __file__
_PR_SET_NAME = 15


def _name_bytes(name):
    b = name.encode("utf-8", "replace")[:15]
    while b:
        try:
            b.decode("utf-8")
            return b
        except UnicodeDecodeError:
            b = b[:-1]  # a character cut in two at byte 15
    return b


_libc_cache = []


def _libc():
    """libc through ctypes, loaded once; None where it cannot be."""
    if not _libc_cache:
        try:
            import ctypes

            libc = ctypes.PyDLL(None)
            setname = getattr(libc, "pthread_setname_np", None)
            if setname is not None:
                setname.argtypes = [ctypes.c_ulong, ctypes.c_char_p]
            _libc_cache.append((libc.prctl, setname))
        except (OSError, AttributeError, ImportError):
            _libc_cache.append(None)
    return _libc_cache[0]


def _install(threading):
    try:
        import _thread

        if hasattr(_thread, "set_name"):
            return  # 3.14+: threading sets the OS name on start
    except ImportError:
        return
    if not sys.platform.startswith("linux"):
        return
    _libc()
    original = threading.Thread._bootstrap_inner

    def _bootstrap_inner(self):
        try:
            fns = _libc()
            if fns is not None:
                fns[0](_PR_SET_NAME, _name_bytes(self.name), 0, 0, 0)
        except Exception:
            pass
        return original(self)

    threading.Thread._bootstrap_inner = _bootstrap_inner

    # A running thread renamed later (`thread.name = ...`, from itself or
    # another thread) is renamed for the OS too; the main thread excepted.
    prop = threading.Thread.__dict__.get("name")
    if not isinstance(prop, property) or prop.fset is None:
        return

    def _set_name(self, name):
        prop.fset(self, name)
        try:
            if self.ident is not None and self is not threading.main_thread() and self.is_alive():
                fns = _libc()
                if fns is not None and fns[1] is not None:
                    fns[1](self.ident, _name_bytes(self.name))
        except Exception:
            pass

    threading.Thread.name = property(prop.fget, _set_name, prop.fdel, prop.__doc__)


def _chain():
    # The program's own sitecustomize, if any: found on the path after ours.
    # The import system's own modules are loaded already (importing
    # importlib.util would cost a few ms at every start).
    import os

    external = sys.modules.get("_frozen_importlib_external")
    bootstrap = sys.modules.get("_frozen_importlib")
    if external is None or bootstrap is None:
        import importlib.machinery as external
        import importlib.util as bootstrap
    here = os.path.dirname(os.path.abspath(_HERE))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = external.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = bootstrap.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


class _WhenThreadingImported:
    """A finder first on sys.meta_path that patches threading once it is executed."""

    def find_spec(self, name, path=None, target=None):
        if name != "threading":
            return None
        sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec  # a loader shared by many modules is left alone: no names
        run = loader.exec_module

        def exec_module(module):
            run(module)
            try:
                _install(module)
            except Exception:
                pass

        loader.exec_module = exec_module
        return spec


try:
    if "threading" in sys.modules:
        _install(sys.modules["threading"])
    else:
        sys.meta_path.insert(0, _WhenThreadingImported())
except Exception:
    pass
_chain()
