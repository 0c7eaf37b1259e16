"""The brand's message templates: found, checked and compiled once, when the brand is loaded.

One file per content and channel, ``<content>.<channel>.jinja``, in the brand's templates
folder (``[messages] templates``). Each file defines the blocks its channel needs:

- email: ``subject``, ``html`` and ``text``;
- sms: ``body``;
- push: ``title`` and ``body`` (and ``link``, the deep link, if it has one);
- voice: ``script``.

Everything a template says lives inside those blocks. Files whose name starts with ``_`` are
shared macros: ``_northwind.jinja`` is the variable ``northwind`` in every template
(``{{ northwind.signoff(brand) }}``); ``{% include %}`` works inside a block too.

Templates run in Jinja's immutable sandbox: they read the context they are given and can reach
nothing else. Every problem (a syntax error, a missing block, a touchpoint
whose content has no template, a reach for a private attribute) is a
:class:`~regard.errors.ConfigurationError` naming the file and line, raised here and never at
send time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateSyntaxError, nodes
from jinja2.environment import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from regard.config import BrandConfig
from regard.errors import ConfigurationError
from regard.messages.options import PACKAGE_PREFIX

SUFFIX = ".jinja"

# The blocks each channel's template must define, and those it may.
REQUIRED_BLOCKS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text"),
    "sms": ("body",),
    "push": ("title", "body"),
    "voice": ("script",),
}
OPTIONAL_BLOCKS: dict[str, tuple[str, ...]] = {"push": ("link",)}
# Digests bundle marketing messages (relationship and promotional topics) on these channels.
DIGEST_CHANNELS = ("email", "sms", "push")
DIGEST_PERIODS = ("daily", "weekly", "monthly")


class Blank(ChainableUndefined):
    """Missing data renders as nothing, however deep: ``{{ event.store.name }}`` with no event
    is empty, and ``{% if customer.first_name %}`` is simply false."""

    __slots__ = ()


def _environment(folder: Path | None, *, autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(folder)) if folder else None,
        autoescape=autoescape,
        undefined=Blank,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )


@dataclass(frozen=True)
class MessageTemplate:
    """One content on one channel, compiled. Email holds two compilations of the same file:
    HTML-escaped for the ``html`` block, plain for ``subject`` and ``text``."""

    content: str
    channel: str
    path: Path
    plain: Template
    escaped: Template | None = None

    def has_block(self, name: str) -> bool:
        return name in self.plain.blocks

    def render_block(self, name: str, context: Mapping[str, Any]) -> str:
        """One block rendered with ``context``; an absent optional block renders as ``""``."""
        template = self.escaped if name == "html" and self.escaped is not None else self.plain
        block = template.blocks.get(name)
        if block is None:
            return ""
        ctx = template.new_context(dict(context), shared=False)
        return "".join(block(ctx))


@dataclass(frozen=True)
class TemplateSet:
    """Every template of the brand, by (content, channel)."""

    folder: Path | None
    templates: dict[tuple[str, str], MessageTemplate] = field(default_factory=dict)

    def get(self, content: str, channel: str) -> MessageTemplate | None:
        return self.templates.get((content, channel))

    def __iter__(self) -> Iterator[MessageTemplate]:
        return iter(self.templates.values())

    def __len__(self) -> int:
        return len(self.templates)


def templates_folder(brand: BrandConfig, config_path: Path | None) -> Path:
    """Where the brand's templates are: beside ``regard.toml``, absolute, or in a package."""
    where = brand.messages.templates
    if where.startswith(PACKAGE_PREFIX):
        package, _, inside = where.removeprefix(PACKAGE_PREFIX).partition("/")
        try:
            root = resources.files(package)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(f"messages.templates: no package {package!r}") from exc
        return Path(str(root.joinpath(inside))) if inside else Path(str(root))
    path = Path(where)
    if not path.is_absolute():
        base = config_path.parent if config_path is not None else Path.cwd()
        path = base / path
    return path


def needed_templates(brand: BrandConfig) -> dict[tuple[str, str], str]:
    """(content, channel) the brand can send, each with who needs it (for error messages)."""
    needed: dict[tuple[str, str], str] = {}
    marketing_channels: set[str] = set()
    for touchpoint in brand.touchpoints:
        topic = brand.topic(touchpoint.topic)
        for choice in touchpoint.channels:
            if choice.channel in REQUIRED_BLOCKS:
                who = f"touchpoint {touchpoint.name!r}"
                needed.setdefault((choice.content, choice.channel), who)
            if topic is not None and topic.is_marketing:
                marketing_channels.add(choice.channel)
    for channel in DIGEST_CHANNELS:
        if channel in marketing_channels:
            for period in DIGEST_PERIODS:
                needed.setdefault((f"digest-{period}", channel), f"{period} digests by {channel}")
    return needed


def load_templates(brand: BrandConfig, config_path: Path | None) -> TemplateSet:
    """Find, compile and check every template the brand's touchpoints and digests need.

    ``config_path`` is the brand's ``regard.toml`` (relative folders are read from beside it).
    Raises :class:`ConfigurationError` naming the file and line of the first problem.
    """
    folder = templates_folder(brand, config_path)
    needed = needed_templates(brand)
    if not folder.is_dir():
        if not needed:
            return TemplateSet(folder=None)
        raise ConfigurationError(
            f"messages.templates: the folder {folder} does not exist "
            f"({len(needed)} templates are needed)"
        )
    plain_env = _environment(folder, autoescape=False)
    escaped_env = _environment(folder, autoescape=True)
    found: dict[tuple[str, str], MessageTemplate] = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        stem = path.name.removesuffix(SUFFIX)
        content, _, channel = stem.rpartition(".")
        shared = path.name.startswith("_")
        source = _read(path)
        _check_source(plain_env, source, path, shared=shared)
        if shared:
            _share(plain_env, escaped_env, path)
            continue
        if channel not in REQUIRED_BLOCKS or not content:
            raise ConfigurationError(
                f"{path}: a template is named <content>.<channel>{SUFFIX}, the channel one of "
                f"{', '.join(REQUIRED_BLOCKS)} (shared pieces start with '_')"
            )
        plain = _compile(plain_env, path)
        escaped = _compile(escaped_env, path) if channel == "email" else None
        template = MessageTemplate(content, channel, path, plain, escaped)
        _check_blocks(template)
        found[(content, channel)] = template
    for (content, channel), who in needed.items():
        if (content, channel) not in found:
            raise ConfigurationError(
                f"{who} sends {content!r} by {channel}, but there is no template "
                f"{folder / f'{content}.{channel}{SUFFIX}'}"
            )
    return TemplateSet(folder=folder, templates=found)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot be read ({type(exc).__name__})") from exc


def _compile(environment: ImmutableSandboxedEnvironment, path: Path) -> Template:
    try:
        return environment.get_template(path.name)
    except TemplateSyntaxError as exc:
        raise ConfigurationError(_where(exc, path)) from exc


def _where(exc: TemplateSyntaxError, path: Path) -> str:
    filename = exc.filename or str(path)
    return f"{filename}, line {exc.lineno}: {exc.message}"


def _share(
    plain_env: ImmutableSandboxedEnvironment, escaped_env: ImmutableSandboxedEnvironment, path: Path
) -> None:
    """A file of shared macros becomes a variable of every template, in both compilations."""
    name = path.name.removesuffix(SUFFIX).lstrip("_").replace("-", "_").replace(".", "_")
    if not name.isidentifier():
        raise ConfigurationError(f"{path}: a shared file's name must make a variable name")
    for environment in (plain_env, escaped_env):
        template = _compile(environment, path)
        try:
            environment.globals[name] = template.make_module()
        except Exception as exc:
            raise ConfigurationError(f"{path}: cannot be loaded ({type(exc).__name__})") from exc


def _check_source(
    environment: ImmutableSandboxedEnvironment, source: str, path: Path, *, shared: bool
) -> None:
    """Parsed on its own: syntax errors, anything outside a block (never rendered), and any
    reach for a private attribute (``__class__``, ``_secret``), which the sandbox would refuse
    at send time, are reported now."""
    try:
        tree = environment.parse(source, name=path.name, filename=str(path))
    except TemplateSyntaxError as exc:
        raise ConfigurationError(_where(exc, path)) from exc
    for top in tree.body if not shared else ():
        if isinstance(top, nodes.Block) or _blank(top):
            continue
        raise ConfigurationError(
            f"{path}, line {top.lineno}: only blocks are rendered; move this inside one "
            "(shared macros go in a file starting with '_')"
        )
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            name = node.arg.value
        else:
            continue
        if name.startswith("_"):
            raise ConfigurationError(
                f"{path}, line {node.lineno}: templates may not use private attributes ({name})"
            )


def _blank(node: nodes.Node) -> bool:
    if not isinstance(node, nodes.Output):
        return False
    return all(isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes)


def _check_blocks(template: MessageTemplate) -> None:
    required = REQUIRED_BLOCKS[template.channel]
    allowed = {*required, *OPTIONAL_BLOCKS.get(template.channel, ())}
    missing = [name for name in required if not template.has_block(name)]
    if missing:
        raise ConfigurationError(
            f"{template.path}, line 1: a {template.channel} template needs the block"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    extra = sorted(set(template.plain.blocks) - allowed)
    if extra:
        raise ConfigurationError(
            f"{template.path}, line 1: a {template.channel} template has no block "
            f"{extra[0]!r} (its blocks: {', '.join(sorted(allowed))})"
        )
