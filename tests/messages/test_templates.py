"""Templates are checked when the brand is loaded, and the sandbox holds at render time."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from regard.config import BrandConfig, Topic
from regard.errors import ConfigurationError
from regard.messages.options import MessageOptions
from regard.messages.templates import load_templates
from regard.touchpoints.options import TouchpointDefinition
from tests.messages.support import demo_brand, demo_config_path

EMAIL_OK = """\
{% block subject %}Hello{% endblock %}
{% block html %}<p>{{ greeting }}</p>{% endblock %}
{% block text %}{{ greeting }}{% endblock %}
"""


def brand_with(folder: Path, *channels: tuple[str, str]) -> tuple[BrandConfig, Path]:
    brand = BrandConfig.model_validate(
        {
            "name": "Test Outfitters",
            "channels": ["email", "sms", "push", "voice"],
            "topics": [Topic(key="orders", label="Orders", importance="transactional")],
            "messages": MessageOptions(templates=folder.name),
            "touchpoints": [
                TouchpointDefinition.model_validate(
                    {
                        "name": "order_ready",
                        "label": "Ready",
                        "topic": "orders",
                        "event": {"event": "order_ready"},
                        "channels": [{"channel": c, "content": n} for c, n in channels],
                    }
                )
            ],
        }
    )
    return brand, folder.parent / "regard.toml"


def write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_the_demo_templates_load() -> None:
    templates = load_templates(demo_brand(), demo_config_path())
    assert templates.get("order-ready-sms", "sms") is not None
    assert templates.get("digest-weekly", "email") is not None


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    write(folder, "ready.email.jinja", EMAIL_OK.replace("{{ greeting }}</p>", "{{ greeting </p>"))
    brand, path = brand_with(folder, ("email", "ready"))
    with pytest.raises(ConfigurationError) as raised:
        load_templates(brand, path)
    assert "ready.email.jinja" in raised.value.message
    assert "line 2" in raised.value.message


def test_missing_block_missing_template_and_stray_text(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    write(folder, "ready.sms.jinja", "{% block text %}hi{% endblock %}")
    brand, path = brand_with(folder, ("sms", "ready"))
    with pytest.raises(
        ConfigurationError, match=r"ready\.sms\.jinja, line 1: .*needs the block body"
    ):
        load_templates(brand, path)
    write(folder, "ready.sms.jinja", "{% block body %}hi{% endblock %}")
    brand, path = brand_with(folder, ("sms", "ready"), ("voice", "ready-call"))
    with pytest.raises(
        ConfigurationError, match=r"'ready-call' by voice.*ready-call\.voice\.jinja"
    ):
        load_templates(brand, path)
    write(folder, "ready.sms.jinja", "\n\n{% set x = 1 %}{% block body %}hi{% endblock %}")
    brand, path = brand_with(folder, ("sms", "ready"))
    with pytest.raises(ConfigurationError, match=r"ready\.sms\.jinja, line 3: only blocks"):
        load_templates(brand, path)


def test_private_attributes_are_refused_at_load(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    write(folder, "ready.sms.jinja", "{% block body %}\n{{ ''.__class__.__mro__ }}{% endblock %}")
    brand, path = brand_with(folder, ("sms", "ready"))
    with pytest.raises(ConfigurationError, match=r"line 2: .*private attributes \(__"):
        load_templates(brand, path)
    write(folder, "ready.sms.jinja", "{% block body %}{{ cycler['__init__'] }}{% endblock %}")
    with pytest.raises(ConfigurationError, match="private"):
        load_templates(brand, path)


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''|attr('__class__') }}",
        "{{ (''|attr('__cla' ~ 'ss__')).__name__ }}",
        "{{ customer.interests.append('x') }}",
        "{{ customer.traits.update({'a': 1}) }}",
        "{{ range.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_what_slips_past_the_load_check(tmp_path: Path, escape: str) -> None:
    folder = tmp_path / "templates"
    write(folder, "ready.sms.jinja", "{% block body %}" + escape + "{% endblock %}")
    brand, path = brand_with(folder, ("sms", "ready"))
    try:
        templates = load_templates(brand, path)
    except ConfigurationError:
        return  # refused before it could ever run
    template = templates.get("ready", "sms")
    assert template is not None
    try:
        text = template.render_block("body", {"customer": {"interests": ["camping"], "traits": {}}})
    except SecurityError:
        return
    # What the sandbox did not refuse outright it answered with nothing.
    assert text == ""


def test_missing_data_renders_empty_and_greets_sensibly(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    write(
        folder,
        "ready.sms.jinja",
        "{% block body %}{{ greeting }}{% if customer.first_name %} dear "
        "{{ customer.first_name }}{% endif %}, order {{ event.order_id }} at "
        "{{ event.store.name or 'your store' }}.{% endblock %}",
    )
    brand, path = brand_with(folder, ("sms", "ready"))
    template = load_templates(brand, path).get("ready", "sms")
    assert template is not None
    text = template.render_block("body", {"greeting": "Hello", "customer": {}})
    assert text == "Hello, order  at your store."


def test_html_is_escaped_and_text_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    write(folder, "ready.email.jinja", EMAIL_OK)
    brand, path = brand_with(folder, ("email", "ready"))
    template = load_templates(brand, path).get("ready", "email")
    assert template is not None
    context = {"greeting": "Hi <b>O'Neil</b>"}
    assert template.render_block("html", context) == "<p>Hi &lt;b&gt;O&#39;Neil&lt;/b&gt;</p>"
    assert template.render_block("text", context) == "Hi <b>O'Neil</b>"
