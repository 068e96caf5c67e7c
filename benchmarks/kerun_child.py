"""One kerun run, exactly as ``kerun train SPEC --quiet --set ...`` runs it, plus a timing callback.

Usage: python benchmarks/kerun_child.py SAMPLES_PER_EPOCH -- train SPEC [kerun train options]

The CLI's ``main()`` is called in this fresh process (the ``kerun`` console script does nothing
more); ``TrainingSession.user_callbacks`` is wrapped to append the epoch timer last.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import epoch_timer, write_result  # noqa: E402  (also sets T0 before kerun loads)


def main() -> None:
    samples = int(sys.argv[1])
    args = sys.argv[sys.argv.index("--") + 1:]
    timer = None

    import kerun.cli

    def patch() -> None:
        # Imported only once kerun itself has imported the training path: no extra work before.
        from kerun.run import session

        original = session.TrainingSession.user_callbacks

        def user_callbacks(self):  # type: ignore[no-untyped-def]
            nonlocal timer
            timer = epoch_timer(samples)
            return [*original(self), timer]

        session.TrainingSession.user_callbacks = user_callbacks

    import kerun.run.train as train_module

    original_train = train_module.train

    def train(loaded, options=None):  # type: ignore[no-untyped-def]
        patch()
        return original_train(loaded, options)

    train_module.train = train
    sys.argv = ["kerun", *args]
    code = 0
    try:
        kerun.cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    result = timer.result() if timer is not None else {}
    result["exit_code"] = code
    write_result(result)
    sys.exit(code)


if __name__ == "__main__":
    main()
