"""Run the mindinfer conformance suite on this plugin: the one test every backend plugin should have.

It checks the plugin contract (api tier), then every op and model case whose primitives, dtypes and
features this backend *declares*, against the outputs MindSpore itself computed. Cases needing what
it does not declare are "unsupported" -- neither failed nor passed -- and ``min_coverage`` (passed /
total) stops a plugin from passing by declaring nothing. Raise it as you add kernels.

Needs ``pip install mindinfer-conformance``. The same suite from the command line::

    mindinfer conformance --target cpu@template --min-coverage 12% --markdown report.md
    pytest --pyargs mindinfer_conformance --mindinfer-target cpu@template --mindinfer-min-coverage 12%
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

#: Eleven primitives, float32 only, no control flow or dynamic shapes: about a seventh of the cases.
MIN_COVERAGE = 0.12


def _registry() -> PluginRegistry:
    # Registering the plugin module by hand tests this checkout whether or not it is installed;
    # an installed plugin can simply be named: run_suite("cpu@template", ...).
    registry = PluginRegistry(autoload=False)
    registry.register(plugin, name="template")
    return registry


def test_template_backend_passes_the_conformance_suite() -> None:
    result = run_suite("cpu@template", SuiteConfig(min_coverage=MIN_COVERAGE), registry=_registry())
    assert result.ok, to_text(result)
    assert result.tier_summary("api").passed == result.tier_summary("api").total, to_text(result)


def test_every_conv2d_case_of_the_suite_passes() -> None:
    """Conv2D is the example of a primitive with attributes: strides, dilation, groups, each padding rule.

    Every Conv2D case the template declares what it needs for must give MindSpore's answer; the
    only ones left are those needing another primitive (Conv2DTranspose) or dtype (float16).
    """
    result = run_suite("cpu@template", SuiteConfig(select="conv2d", tiers=("op",)), registry=_registry())
    passed = {r.id for r in result.results if r.status == "passed"}
    others = {r.id: r.message for r in result.results if r.status != "passed"}
    assert all(r.status != "failed" for r in result.results), to_text(result)
    assert all("Conv2DTranspose" in m or "float16" in m for m in others.values()), others
    assert len(passed) >= 18, sorted(passed)
