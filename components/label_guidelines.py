"""The guidelines shown beside the trace: the project's own text, else a default per dataset."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

GUIDELINES_DIR = Path(__file__).resolve().parents[1] / "guidelines"
"""Default guidelines, one markdown file per dataset family (file stem = dataset name prefix)."""

DEFAULT_NAME = "default"


@lru_cache(maxsize=8)
def _default_files(folder: str) -> dict[str, str]:
    """Return file stem → markdown of every default guidelines file in ``folder``."""
    path = Path(folder)
    if not path.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(path.glob("*.md"))}


def default_guidelines(dataset: str, folder: Path = GUIDELINES_DIR) -> tuple[str, str]:
    """Return (markdown, file name) of the default guidelines for ``dataset``.

    The file whose stem is the longest prefix of the dataset name wins ('countdown' for
    'countdown-demo', 'bbm' for 'bbm-word_sorting'); else default.md; ('', '') if none.
    """
    files = _default_files(str(folder))
    name = dataset.lower()
    matches = [stem for stem in files if stem != DEFAULT_NAME and name.startswith(stem.lower())]
    if matches:
        stem = max(matches, key=len)
        return files[stem], f"{stem}.md"
    if DEFAULT_NAME in files:
        return files[DEFAULT_NAME], f"{DEFAULT_NAME}.md"
    return "", ""


def guidelines_for(
    dataset: str, project_text: str, folder: Path = GUIDELINES_DIR
) -> tuple[str, str]:
    """Return (markdown, where it comes from): the project's guidelines when set, else a default."""
    if project_text.strip():
        return project_text, "project settings"
    text, name = default_guidelines(dataset, folder)
    return text, (f"guidelines/{name}" if name else "")
