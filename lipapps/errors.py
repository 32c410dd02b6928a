"""Errors the suite raises for bad user input.

The ``lipapps`` command turns an :class:`InputError` (and a missing file) into one line on
stderr and exit code 2; anything else is a bug and keeps its traceback.
"""


class InputError(ValueError):
    """Bad user input: a wrong shape, NaN values, an empty set, an unreadable or foreign file."""


class CheckpointError(InputError):
    """A file that is not a lipapps checkpoint, is corrupt, or breaks the Lipschitz constraint."""


class CertificationError(InputError, TypeError):
    """A module that :func:`lipapps.certify` cannot bound (it declares no bound and is no known map).

    A ``TypeError`` (the module's type is the problem) and an :class:`InputError` (the command
    reports a user's foreign model in one line).
    """
