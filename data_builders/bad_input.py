"""Bad input during a build: stop with an error naming the file and record, or skip it, count it, report it.

Every builder routes each problem through one BadInputReport, so that nothing is dropped silently:
with on_bad_input="raise" the first problem stops the build; with "skip" each is logged as a warning
when found, counted by kind, summarised at the end and stored in the dataset's metadata.json.
Notes are things the source itself marks (e.g. MPII rectangles without keypoints): counted, never fatal.
"""

from __future__ import annotations

import collections
import dataclasses

from absl import logging

ON_BAD_INPUT = ("raise", "skip")


class BadInputError(ValueError):
    """A build stopped at bad input; the message names the file and the record."""


@dataclasses.dataclass
class BadInputReport:
    """Problems (skipped records) and notes of one build, by kind, in the order found."""

    on_bad_input: str = "raise"
    problems: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if self.on_bad_input not in ON_BAD_INPUT:
            raise ValueError(f"on_bad_input must be one of {ON_BAD_INPUT}, got {self.on_bad_input!r}")

    def problem(self, kind: str, message: str) -> None:
        """Raises BadInputError (mode "raise") or logs and counts the skipped record (mode "skip")."""
        if self.on_bad_input == "raise":
            raise BadInputError(f"{message} [{kind}; build with on_bad_input='skip' to skip and report such input]")
        logging.warning("bad input, skipped [%s]: %s", kind, message)
        self.problems.append((kind, message))

    def note(self, kind: str, message: str) -> None:
        """Counts something the source marks itself (not an error), logged at info level."""
        logging.info("note [%s]: %s", kind, message)
        self.notes.append((kind, message))

    @property
    def problem_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(kind for kind, _ in self.problems).items()))

    @property
    def note_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(kind for kind, _ in self.notes).items()))

    def summary(self) -> str:
        """One paragraph: counts by kind, then the first few messages of each kind."""
        if not self.problems and not self.notes:
            return "no bad input"
        lines = [f"skipped bad input: {sum(self.problem_counts.values())} {self.problem_counts}"]
        lines.append(f"notes: {self.note_counts}")
        for kind in self.problem_counts:
            examples = [m for k, m in self.problems if k == kind][:3]
            lines += [f"  {kind}: {m}" for m in examples]
        return "\n".join(lines)

    def log_summary(self) -> None:
        (logging.warning if self.problems else logging.info)("build report:\n%s", self.summary())

    def as_metadata(self) -> dict:
        """JSON-ready record of the report, stored under the dataset's metadata "build_report"."""
        return {
            "on_bad_input": self.on_bad_input,
            "problem_counts": self.problem_counts,
            "note_counts": self.note_counts,
            "problems": [list(p) for p in self.problems],
        }
