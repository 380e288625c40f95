"""The exception types pileprep raises for problems the user must fix; anything else is a bug.

Exceptions raised inside a DoFn reach the driver wrapped by the runner, and across processes only
as text. The message is therefore framed by markers so the CLI can find it inside any wrapping and
print it alone, without the runner's traceback.

    raise PileprepError("input file a.jsonl.zst is truncated at byte 1048576: re-download it ...")
"""
import re

_OPEN, _CLOSE = "<<pileprep>>", "<</pileprep>>"
# the innermost frame: a runner may re-raise our error with its text (markers included) as message
_FRAMED = re.compile(re.escape(_OPEN) + r"((?:(?!" + re.escape(_OPEN) + r").)*?)" + re.escape(_CLOSE), re.S)


class PileprepError(Exception):
    """A problem with input, options or output that the message tells the user how to fix."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(f"{_OPEN}{message}{_CLOSE}")

    def __reduce__(self):  # pickles across worker processes with its message intact
        return (PileprepError, (self.message,))


class ConfigError(PileprepError, ValueError):
    """An option or config value that cannot work, refused where it is validated (a stage config's
    __post_init__, RunConfig, a preset's name): the CLI prints it as a user error like any
    PileprepError, and a caller of the library can still catch it as the ValueError it always was.
    It reads as its bare message: it is raised in the driver, before any runner could wrap it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.args = (message,)  # unframed: str() and pytest.raises(match=...) see the message itself

    def __reduce__(self):
        return (ConfigError, (self.message,))


def find_message(error: BaseException) -> str | None:
    """The user-facing message of a PileprepError, even when a runner wrapped it in other errors."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        match = _FRAMED.search(str(error))
        if match:
            return match.group(1)
        if isinstance(error, PileprepError):
            return error.message
        error = error.__cause__ or error.__context__
    return None
