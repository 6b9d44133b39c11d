"""Every asset a template loads is one of our static files: nothing from a CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
STATIC_TAG = re.compile(r"""{%\s*static\s+['"]([^'"]+)['"]\s*%}""")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_static_file_a_template_names_exists(template: Path) -> None:
    names = STATIC_TAG.findall(template.read_text())
    missing = [name for name in names if finders.find(name) is None]
    assert not missing, f"{template.name} loads static files that do not exist: {missing}"


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_loads_anything_from_another_host(template: Path) -> None:
    text = template.read_text()
    assert not re.search(r"""(src|href)=["']https?://""", text)
