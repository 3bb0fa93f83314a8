# Written by stator for --python. It tells stator which files this program loads, so that editing any of them
# restarts it: the file of every module as it is found (before it runs, so a module that fails to import is
# reported too), every module in sys.modules once a second (modules loaded around the import system, __main__),
# and the files of an uncaught exception's traceback (a SyntaxError's file included).
#
# Protocol: append absolute paths, one per line, to the file named by $STATOR_WATCH_FILE.
# Nothing here may break the program: every step is guarded. The next sitecustomize on the path (the user's own,
# or the system's) runs afterwards, as if this one were not there.


def _stator_install():
    import os
    import sys

    target = os.environ.get("STATOR_WATCH_FILE")
    if not target or getattr(sys, "_stator_shim", False):
        return
    sys._stator_shim = True
    import _thread

    # Every path already in the file, from this run or an earlier one: written once, ever.
    seen = set()
    try:
        with open(target, "rb") as f:
            seen.update(f.read().split(b"\n"))
    except Exception:
        pass

    def report(paths):
        lines = []
        for p in paths:
            try:
                if not isinstance(p, str) or not p or p.startswith("<"):
                    continue
                b = os.fsencode(os.path.abspath(p))
            except Exception:
                continue
            if b in seen or b"\n" in b:
                continue
            seen.add(b)
            lines.append(b + b"\n")
        if lines:
            try:
                # One open and one write(2) per batch: appends from several processes never interleave, and no
                # descriptor is held that the program could close or reuse.
                with open(target, "ab", buffering=0) as f:
                    f.write(b"".join(lines))
            except Exception:
                pass

    def module_files():
        files = []
        for m in list(sys.modules.values()):
            try:
                # Not getattr(m, "__file__"): that would load a lazy module.
                f = object.__getattribute__(m, "__dict__").get("__file__")
            except Exception:
                continue
            files.append(f)
        return files

    def walk():
        try:
            report(module_files())
        except Exception:
            pass

    busy = set()

    class StatorFinder(object):
        """Asks the finders after it, and reports the file of the spec one of them returns."""

        @staticmethod
        def find_spec(name, path=None, module=None):
            me = _thread.get_ident()
            if me in busy:
                return None
            busy.add(me)
            try:
                finders = sys.meta_path
                after = finders[finders.index(StatorFinder) + 1:]
                for finder in after:
                    find = getattr(finder, "find_spec", None)
                    if find is None:
                        return None  # A legacy finder: let the import system go on in its own order.
                    spec = find(name, path, module)
                    if spec is not None:
                        if getattr(spec, "has_location", False):
                            report([spec.origin])
                        return spec
                return None
            except Exception:
                return None
            finally:
                busy.discard(me)

        @staticmethod
        def invalidate_caches():
            pass

    def exception_files(exc):
        files = []
        depth = 0
        while exc is not None and depth < 10:
            if isinstance(exc, SyntaxError):
                files.append(exc.filename)
            tb = exc.__traceback__
            while tb is not None:
                files.append(tb.tb_frame.f_code.co_filename)
                tb = tb.tb_next
            exc = exc.__cause__ or exc.__context__
            depth += 1
        return files

    previous_hook = sys.excepthook

    def excepthook(kind, value, tb):
        try:
            report(exception_files(value))
        except Exception:
            pass
        return previous_hook(kind, value, tb)

    def every_second():
        import time

        while True:
            time.sleep(1.0)
            walk()

    def start_thread():
        try:
            _thread.start_new_thread(every_second, ())
        except Exception:
            pass

    sys.meta_path.insert(0, StatorFinder)
    sys.excepthook = excepthook
    walk()
    start_thread()
    try:
        os.register_at_fork(after_in_child=start_thread)
    except Exception:
        pass
    try:
        import atexit

        atexit.register(walk)
    except Exception:
        pass


def _stator_chain():
    """Runs the next sitecustomize on sys.path (skipping every directory holding a stator shim)."""
    import os
    import sys

    def ours(entry):
        try:
            return os.path.exists(os.path.join(entry or os.curdir, "stator-shim"))
        except Exception:
            return False

    try:
        import importlib.machinery

        path = [p for p in sys.path if isinstance(p, str) and not ours(p)]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        import importlib.util

        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as err:
        # What site.py itself says when a sitecustomize fails.
        try:
            sys.stderr.write(
                "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n%s: %s\n" % (type(err).__name__, err)
            )
        except Exception:
            pass


try:
    _stator_install()
except Exception:
    pass
_stator_chain()
