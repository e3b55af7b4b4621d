"""Runs every test_* function of tests/integration/test_*.py, each with a
time limit, and prints 'integration: N passed, M failed' last."""
import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test took too long")


def main():
    only = sys.argv[1:]
    signal.signal(signal.SIGALRM, on_alarm)
    passed = failed = 0
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for fname in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s.%s" % (name[:-3], fname)
            if only and not any(o in full for o in only):
                continue
            fn = getattr(mod, fname)
            t0 = time.time()
            signal.alarm(getattr(fn, "timeout", 60))
            try:
                fn()
                signal.alarm(0)
                passed += 1
                print("ok   %s (%.1fs)" % (full, time.time() - t0), flush=True)
            except BaseException as e:  # noqa: B036 - a test's failure of any kind
                signal.alarm(0)
                if isinstance(e, KeyboardInterrupt):
                    raise
                failed += 1
                print("FAIL %s (%.1fs)" % (full, time.time() - t0), flush=True)
                traceback.print_exc()
    print("integration: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
