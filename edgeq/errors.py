"""The few error kinds edgeq raises on purpose.

Every EdgeqError carries a one-line message meant for a person and an exit code.
The CLI is the only place that turns them into output and exit status.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_BOARD_FAILURE = 3
EXIT_INTERNAL = 4  # a bug in edgeq; --debug shows the traceback
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a command killed by SIGINT (128 + 2)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


class EdgeqError(Exception):
    """Base class: a failure whose message is fit to show a user as is."""

    exit_code = EXIT_BAD_INPUT

    def __str__(self) -> str:
        # Keep it to one line whatever a caller passed in.
        return " ".join(super().__str__().split())


class ConfigError(EdgeqError):
    """A YAML file, a recipe, a board record or a CLI option is wrong."""


class ModelError(EdgeqError):
    """A model file is missing, not a TFLite flatbuffer, or damaged."""


class InputDataError(EdgeqError):
    """User-provided input data does not fit the model."""


class BackendError(EdgeqError):
    """A backend is unknown or cannot run where it was asked to."""


class TransportError(EdgeqError):
    """The board could not be reached, or the connection broke."""

    exit_code = EXIT_BOARD_FAILURE


class BoardError(EdgeqError):
    """The board was reached but could not do the job (agent failure, no backend ran)."""

    exit_code = EXIT_BOARD_FAILURE


class DeployError(EdgeqError):
    """A deploy could not complete; the board's previous deployment is untouched."""

    exit_code = EXIT_BOARD_FAILURE


class CheckFailed(EdgeqError):
    """A check the user asked for did not pass (regression, mismatch under --strict)."""

    exit_code = EXIT_CHECK_FAILED
