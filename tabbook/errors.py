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
