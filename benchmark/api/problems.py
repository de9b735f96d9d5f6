"""Bad data found while loading a dataset, gathered so that one error names all of it.

Cleaning a folder one error per run (a text file named ``.jpg``, then an empty
file, then a truncated JPEG, then an empty class folder) costs a run each.
Adapters therefore note every problem they find (:class:`DataProblem`) and
fail once, with :func:`problems_message`: the counts per kind, the first
:data:`SHOWN` problems sorted by path, and how to go on. With the dataset
option ``on_corrupt: skip`` the unreadable files and empty class folders are
left out instead; they stay listed (``LoadedDataset.dropped``) and so enter the
fingerprint and the records. Unknown labels are a labelling mistake, not damage,
and stay errors under ``skip``.

The decoding that finds unreadable files is :class:`asebench.api.imaging.DataCheck`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

OnCorrupt = Literal["error", "skip"]

# the kinds, in the order the error's header counts them: (singular, plural)
NOT_AN_IMAGE = "non-image file"
EMPTY_FILE = "empty file"
CORRUPT = "truncated or corrupt image"
MISSING = "missing file"
EMPTY_CLASS = "empty class"
UNKNOWN_LABEL = "unknown label"
KINDS: dict[str, str] = {
    NOT_AN_IMAGE: "non-image files",
    EMPTY_FILE: "empty files",
    CORRUPT: "truncated or corrupt images",
    MISSING: "missing files",
    EMPTY_CLASS: "empty classes",
    UNKNOWN_LABEL: "unknown labels",
}
UNREADABLE = frozenset({NOT_AN_IMAGE, EMPTY_FILE, CORRUPT, MISSING})
SKIPPABLE = UNREADABLE | {EMPTY_CLASS}  # what ``on_corrupt: skip`` leaves out
SHOWN = 10  # problems listed one per line; the rest are counted


@dataclass(frozen=True, order=True)
class DataProblem:
    """One bad file, folder or label: where (relative to the dataset root, ``/``-separated), what, why.

    A folder's path ends in ``/``. Ordered by path first, so every listing is
    the same on every machine.
    """

    path: str
    kind: str
    detail: str = ""

    @property
    def cause(self) -> str:
        """The kind with its detail: ``truncated or corrupt image (image file is truncated)``."""
        return f"{self.kind} ({self.detail})" if self.detail else self.kind

    @property
    def skippable(self) -> bool:
        """Whether ``on_corrupt: skip`` leaves it out (unknown labels are never skipped)."""
        return self.kind in SKIPPABLE

    def line(self) -> str:
        """``path: cause``, one line of the error's list."""
        return f"{self.path}: {self.cause}"

    def as_record(self) -> dict[str, str]:
        """The JSON form of a dropped file in a record's ``dataset.dropped``."""
        return {"path": self.path, "cause": self.cause}

    def fingerprint_line(self) -> str:
        """Path and kind only: the detail holds decoder messages, which differ between Pillow versions."""
        return f"{self.path}\t{self.kind}\n"


def count_kinds(problems: Iterable[DataProblem]) -> str:
    """``1 non-image file, 2 empty files``, kinds in :data:`KINDS` order (unknown kinds last)."""
    counts = Counter(p.kind for p in problems)
    order = [*KINDS, *sorted(set(counts) - set(KINDS))]
    return ", ".join(f"{counts[k]} {k if counts[k] == 1 else KINDS.get(k, k)}" for k in order if counts[k])


def problems_message(
    source: str,
    problems: Iterable[DataProblem],
    on_corrupt: OnCorrupt | None,
    notes: Iterable[str] = (),
    dataset: str = "",
) -> str:
    """One error for all of them: a header with the counts per kind, then the first :data:`SHOWN`, then a hint.

    Continuation lines are indented (the CLI prints them under its ``error:``
    line). ``on_corrupt`` is the adapter's setting, or None when it has no
    such option (then no hint names it); ``dataset`` is its registered name,
    for the run-config line of the hint.
    """
    problems = sorted(set(problems))
    total = len(problems)
    lines = [f"{source} has {total} problem{'' if total == 1 else 's'}: {count_kinds(problems)}"]
    lines += [f"  {problem.line()}" for problem in problems[:SHOWN]]
    if total > SHOWN:
        lines.append(f"  ... and {total - SHOWN} more")
    lines += [f"  {note}" for note in dict.fromkeys(notes)]
    if on_corrupt == "error" and any(p.skippable for p in problems):
        config = f" (run config: dataset_options: {{{dataset}: {{on_corrupt: skip}}}})" if dataset else ""
        lines.append(
            "  hint: fix or remove them, or set the dataset option on_corrupt: skip to leave the unreadable files "
            f"and empty classes out{config}; what is left out is listed in the records"
        )
    elif on_corrupt == "skip":
        lines.append("  (on_corrupt: skip leaves out unreadable files and empty classes only; fix these)")
    return "\n".join(lines)


def dropped_summary(dropped: Iterable[DataProblem]) -> str:
    """``3 unreadable files and 1 empty class`` for the console's one-line warning."""
    dropped = list(dropped)
    files = sum(1 for p in dropped if p.kind in UNREADABLE)
    folders = sum(1 for p in dropped if p.kind == EMPTY_CLASS)
    parts = [f"{files} unreadable file{'' if files == 1 else 's'}"] if files else []
    if folders:
        parts.append(f"{folders} empty class{'' if folders == 1 else 'es'}")
    return " and ".join(parts) or "nothing"
