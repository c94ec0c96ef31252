"""The ```python examples in README.md and docs/ run as written.

The blocks of one page run in order in one namespace (a later block may use an earlier one). A
page whose example needs an optional extra that is not installed is skipped with the library's
message naming the extra. They run in a fresh folder, so files they write land there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_doc_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(page.read_text(encoding="utf-8"))
    assert blocks, f"{page.name} has no runnable python example"
    namespace: dict[str, object] = {}
    for block in blocks:  # a failing example raises here
        try:
            exec(compile(block, str(page), "exec"), namespace)
        except ImportError as error:  # the library names the extra an example needs
            if not re.search(r"pip install '?fastweights\[", str(error)):
                raise
            pytest.skip(f"{page.name}: {error}")
