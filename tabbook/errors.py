"""The one error type every stage raises for bad input."""


class SourceError(Exception):
    """Bad input at a known place: printed as ``FILE:LINE: message``.

    ``line`` may be None when the whole file is at fault (not UTF-8, missing).
    """

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self):
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class SourceErrors(SourceError):
    """Several problems found in one pass, reported together (one per line)."""

    def __init__(self, errors):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.path, first.line, first.message)

    def __str__(self):
        return "\n".join(SourceError.__str__(error) for error in self.errors) + f"\n{len(self.errors)} errors"
