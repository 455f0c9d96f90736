"""What a batch command did with its photos: ``BatchReport``.

predict, masks and generate go through many photos, and one photo that cannot be read, has no
face or fails must not stop the others. Each photo ends in one of three places: ``written`` (its
result), ``skipped`` for a reason that is no failure (its result is there already; for generate,
a photo without a usable face), or ``failed`` with a one-line reason. The command prints each
failure once, at the end, then a JSON summary (``counts``), and exits 1 if any photo failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BatchReport:
    written: list[str] = field(default_factory=list)             # result files
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> photos
    failed: dict[str, str] = field(default_factory=dict)         # photo -> "photo: reason"

    def skip(self, photo: object, reason: str) -> None:
        self.skipped.setdefault(reason, []).append(str(photo))

    def fail(self, photo: object, message: str) -> None:
        """``message`` names the photo and says what went wrong, on one line."""
        self.failed[str(photo)] = message.splitlines()[0] if message else str(photo)

    @property
    def skipped_count(self) -> int:
        return sum(map(len, self.skipped.values()))

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def counts(self) -> dict:
        """The summary's figures: written, failed and skipped photos."""
        return {"written": len(self.written), "failed": len(self.failed),
                "skipped": self.skipped_count}

    def print_failures(self) -> None:
        for message in self.failed.values():
            print(f"failed: {message}")


def error_line(photo: object, error: BaseException) -> str:
    """One line for an unexpected error on a photo: its kind and the first line it said."""
    said = str(error).splitlines()[0] if str(error) else ""
    return f"{photo}: {type(error).__name__}: {said}"
