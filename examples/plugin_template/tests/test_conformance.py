"""Run the mindinfer conformance suite on this plugin: the one test every backend plugin should have.

It checks the plugin contract (api tier), then every op and model case whose primitives, dtypes and
features this backend *declares*, against the outputs MindSpore itself computed. Cases needing what
it does not declare are "unsupported" -- neither failed nor passed -- and ``min_coverage`` (passed /
total) stops a plugin from passing by declaring nothing. Raise it as you add kernels.

Needs ``pip install mindinfer-conformance``. The same suite from the command line::

    mindinfer conformance --target cpu@template --min-coverage 8% --markdown report.md
    pytest --pyargs mindinfer_conformance --mindinfer-target cpu@template --mindinfer-min-coverage 8%
"""

from __future__ import annotations

import sys
from pathlib import Path

from mindinfer import PluginRegistry
from mindinfer_conformance import SuiteConfig, run_suite, to_text

try:
    from mindinfer_template import plugin
except ImportError:  # running from a source checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mindinfer_template import plugin

#: Eight primitives, float32 only, no control flow or dynamic shapes: about a tenth of the cases.
MIN_COVERAGE = 0.08


def test_template_backend_passes_the_conformance_suite() -> None:
    # Registering the plugin module by hand tests this checkout whether or not it is installed;
    # an installed plugin can simply be named: run_suite("cpu@template", ...).
    registry = PluginRegistry(autoload=False)
    registry.register(plugin, name="template")
    result = run_suite("cpu@template", SuiteConfig(min_coverage=MIN_COVERAGE), registry=registry)
    assert result.ok, to_text(result)
    assert result.tier_summary("api").passed == result.tier_summary("api").total, to_text(result)
