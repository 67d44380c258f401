"""README.md's examples, run as doctests: its printed numbers are checked, not quoted.

Every ```pycon block of the README (lines starting ``>>>``) is one doctest; a
README without any fails, so the headline example cannot silently stop being run.
"""

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```pycon\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_readme_has_doctests():
    assert BLOCKS, "README.md has no ```pycon block to run"


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_readme_block(number):
    parser = doctest.DocTestParser()
    test = parser.get_doctest(BLOCKS[number], {}, f"README.md block {number}", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"README.md block {number}: {result.failed} example(s) failed"
