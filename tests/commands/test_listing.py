"""``fwp list``: every registry, one name per line, in registry order."""

from __future__ import annotations

import pytest

from fastweights.cli import main
from fastweights.models import PRESETS
from fastweights.nn import MIXERS
from fastweights.ops import CELLS, RULES
from fastweights.tasks import TASKS
from fastweights.train.presets import RUN_PRESETS


@pytest.mark.parametrize(
    ("registry", "names"),
    [
        ("rules", RULES),
        ("cells", CELLS),
        ("mixers", MIXERS),
        ("tasks", TASKS),
        ("presets", PRESETS),
        ("runs", RUN_PRESETS),
    ],
)
def test_lists_every_name(registry, names, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", registry]) == 0
    assert capsys.readouterr().out.splitlines() == list(names)


def test_unknown_registry_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "nonesuch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown registry 'nonesuch'" in err[0]
