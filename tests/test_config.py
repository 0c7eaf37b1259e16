"""The brand's regard.toml and the process settings: every mistake is named where it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from regard.config import BrandConfig, Settings, load_brand_config
from regard.errors import ConfigurationError

VALID = """\
name = "Northwind Outfitters"
time_zone = "Europe/Amsterdam"
region = "nl"
locale = "nl-NL"
channels = ["email", "sms"]

[[topics]]
key = "news"
label = "News and offers"
importance = "promotional"

[[topics]]
key = "orders:shipping"
label = "Where my order is"
importance = "transactional"

[identity]
source_priority = ["crm", "shop", "pos"]
"""


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "regard.toml"
    path.write_text(content, encoding="utf-8")
    return path


def test_a_valid_brand_file_is_read(tmp_path: Path) -> None:
    brand = load_brand_config(write(tmp_path, VALID))

    assert brand.name == "Northwind Outfitters"
    assert brand.time_zone == "Europe/Amsterdam"
    assert brand.region == "NL"
    assert brand.channels == ("email", "sms")
    assert [(t.key, t.importance) for t in brand.topics] == [
        ("news", "promotional"),
        ("orders:shipping", "transactional"),
    ]
    assert brand.identity.source_priority == ("crm", "shop", "pos")
    assert "first_name" in brand.identity.personal_traits
    assert brand.source_rank("crm") < brand.source_rank("pos") < brand.source_rank("web")
    assert brand.source_rank("web") == brand.source_rank("partner")


def test_a_minimal_brand_file_takes_defaults(tmp_path: Path) -> None:
    brand = load_brand_config(write(tmp_path, 'name = "Shop"\n'))

    assert (brand.time_zone, brand.region, brand.locale) == ("UTC", "US", "en")
    assert brand.channels == ("email", "sms", "push")


def test_a_relative_message_folder_is_read_beside_the_brand_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    brand_dir = tmp_path / "brand"
    brand_dir.mkdir()
    relative = write(brand_dir, 'name = "Shop"\n[delivery]\nfile_dir = "out"\n')
    absolute = write(tmp_path, f'name = "Shop"\n[delivery]\nfile_dir = "{tmp_path / "abs"}"\n')
    monkeypatch.chdir(tmp_path)

    assert load_brand_config(relative).delivery.file_dir == str(brand_dir / "out")
    assert load_brand_config(absolute).delivery.file_dir == str(tmp_path / "abs")


def test_the_demo_brand_file_is_valid() -> None:
    import regard.demo

    (folder,) = regard.demo.__path__
    assert load_brand_config(Path(folder) / "regard.toml").name


@pytest.mark.parametrize(
    ("content", "place", "says"),
    [
        ('name = "Shop"\ntime_zone = "Europe/Atlantis"\n', "time_zone", "Europe/Atlantis"),
        ('name = "Shop"\nregion = "XX"\n', "region", "XX"),
        ('name = "Shop"\nregion = "NLD"\n', "region", "at most 2"),
        ('name = "Shop"\ncolour = "teal"\n', "colour", "Extra inputs"),
        ('name = "Shop"\n[identity]\npriority = ["crm"]\n', "identity.priority", "Extra inputs"),
        ('name = "Shop"\nchannels = ["email", "fax"]\n', "channels.1", "'email', 'sms'"),
        (
            'name = "Shop"\n[[topics]]\nkey = "News!"\nlabel = "N"\nimportance = "promotional"\n',
            "topics.0.key",
            "pattern",
        ),
        (
            'name = "Shop"\n[[topics]]\nkey = "news"\nlabel = "N"\nimportance = "urgent"\n',
            "topics.0.importance",
            "'critical', 'transactional'",
        ),
        ('time_zone = "UTC"\n', "name", "Field required"),
        ('name = ""\n', "name", "at least 1"),
    ],
)
def test_a_mistake_names_its_place(tmp_path: Path, content: str, place: str, says: str) -> None:
    path = write(tmp_path, content)

    with pytest.raises(ConfigurationError) as caught:
        load_brand_config(path)

    message = caught.value.message
    assert message.startswith(f"{path}: ")
    assert f"{place}: " in message
    assert says in message


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "Shop"\nregion = \n')

    with pytest.raises(ConfigurationError) as caught:
        load_brand_config(path)

    assert str(path) in caught.value.message
    assert "line 2" in caught.value.message


def test_a_missing_brand_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_brand_config(tmp_path / "absent.toml")


def test_brand_config_is_frozen() -> None:
    brand = BrandConfig(name="Shop")
    with pytest.raises(ValidationError):
        brand.name = "Other"  # type: ignore[misc]


@pytest.mark.parametrize("field", ["encryption_keys", "blind_index_key"])
@pytest.mark.parametrize("placeholder", ["changeme", "CHANGEME", " change-me ", "secret", "todo"])
def test_settings_refuse_a_placeholder_secret(field: str, placeholder: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(**{field: placeholder})  # type: ignore[arg-type]


def test_settings_refuse_a_placeholder_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGARD_BLIND_INDEX_KEY", "changeme")

    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_settings_come_from_regard_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REGARD_ENVIRONMENT", "test")
    monkeypatch.setenv("REGARD_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("REGARD_IMPORT_BATCH_SIZE", "1000")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ignored")

    settings = Settings()

    assert settings.environment == "test"
    assert settings.database_url == "sqlite:///elsewhere.db"
    assert settings.import_batch_size == 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [("REGARD_ENVIRONMENT", "staging"), ("REGARD_PORT", "0"), ("REGARD_IMPORT_BATCH_SIZE", "0")],
)
def test_settings_refuse_out_of_range_values(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings()


def test_real_keys_are_kept_secret() -> None:
    settings = Settings(encryption_keys='{"k": "c2VjcmV0"}')

    assert "c2VjcmV0" not in repr(settings)
    assert "c2VjcmV0" not in str(settings.model_dump())
