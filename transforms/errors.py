"""The one exception type pileprep raises for problems the user must fix.

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
