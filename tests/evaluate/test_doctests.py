import doctest
import importlib

import pytest

MODULES = ["bias", "harmfulness", "task", "toxicity"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    module = importlib.import_module(f"forgetfilter.evaluate.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
