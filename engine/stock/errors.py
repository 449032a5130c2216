"""The one error a correct stock core never raises."""


class InvariantError(AssertionError):
    """A stock invariant broke, live or in a replayed history: stop, do not limp on.

    Raised explicitly rather than with `assert` so it also fires under `python -O`.
    """
