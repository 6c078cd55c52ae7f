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
#
# A program's own sitecustomize (later on sys.path) is imported after this
# one, as if this directory were not there.
import sys

_HERE = __file__


def _name_bytes(name):
    b = name.encode("utf-8", "replace")[:15]
    while b:
        try:
            b.decode("utf-8")
            return b
        except UnicodeDecodeError:
            b = b[:-1]  # a character cut in two at byte 15
    return b


def _install():
    import threading

    try:
        import _thread

        if hasattr(_thread, "set_name"):
            return  # 3.14+: threading sets the OS name on start
    except ImportError:
        return
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, ImportError):
        return
    PR_SET_NAME = 15
    original = threading.Thread._bootstrap_inner

    def _bootstrap_inner(self):
        try:
            prctl(PR_SET_NAME, ctypes.c_char_p(_name_bytes(self.name)), 0, 0, 0)
        except Exception:
            pass
        return original(self)

    threading.Thread._bootstrap_inner = _bootstrap_inner

    # A running thread renamed later (`thread.name = ...`, from itself or
    # another thread) is renamed for the OS too; the main thread excepted.
    setname = getattr(ctypes.CDLL(None), "pthread_setname_np", None)
    prop = threading.Thread.__dict__.get("name")
    if setname is None or not isinstance(prop, property) or prop.fset is None:
        return
    setname.argtypes = [ctypes.c_ulong, ctypes.c_char_p]

    def _set_name(self, name):
        prop.fset(self, name)
        try:
            if self.ident is not None and self is not threading.main_thread() and self.is_alive():
                setname(self.ident, _name_bytes(self.name))
        except Exception:
            pass

    threading.Thread.name = property(prop.fget, _set_name, prop.fdel, prop.__doc__)


def _chain():
    # The program's own sitecustomize, if any: found on the path after ours.
    import importlib.machinery
    import importlib.util
    import os

    here = os.path.dirname(os.path.abspath(_HERE))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    _install()
except Exception:
    pass
_chain()
