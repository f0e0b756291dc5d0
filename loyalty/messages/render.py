"""How a message reads: its subject, plain text and HTML in the customer's language.

Templates are files of this package (``templates/<locale>/<kind>.<channel>.<part>.j2``, see
templates/README.md), in English, Polish, Czech and Russian, loaded and compiled once per process
and rendered in a Jinja2 sandbox (:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`): HTML parts
autoescape what they show, the others are plain text. The locale is negotiated from the
customer's BCP 47 tag (``pl-PL`` -> ``pl``); a language we do not ship falls back to English.

Missing variables: the data must carry every variable of the kind's sample
(``KINDS[kind].sample``; :class:`RenderError` names those missing) but ``first_name`` and
``points_balance`` (:data:`OPTIONAL`: a customer without a name in the profile, a balance not
indexed yet), and templates use ``StrictUndefined``, so a typo fails loudly instead of sending a
blank. The optional ones, ``referral_code`` and ``voucher_code`` may be None: the templates leave
their sentence out.

A partner's :class:`Override` replaces the parts it gives (None: the built-in part). It is
checked on save by :func:`validate` (compiles in the sandbox, renders the kind's sample, carries
the links the law or the kind needs, within size limits), and is further restricted: no macros, no
recursive loops, loops nested at most twice over at most 100 items, no string padding. Should an
override still fail at send time, :func:`render` sends the built-in text (``override_error`` says
why): a partner's mistake never stops a customer's message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from loyalty.messages import locale_format as fmt
from loyalty.messages.kinds import KINDS

TEMPLATES = Path(__file__).with_name("templates")
PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "text", "html"),
    "sms": ("text",),
    "push": ("subject", "text"),
}
LOCALES = fmt.LOCALES
MAX_SOURCE_CHARS = 20_000  # one part of an override
MAX_OUTPUT_CHARS = 200_000  # one rendered part
MAX_LOOP_ITEMS = 100  # range() in an override
MAX_LOOP_DEPTH = 2
OPTIONAL = ("first_name", "points_balance")  # may be missing or None: the templates leave them out
SAMPLE_UNSUBSCRIBE_URL = "https://coalition.example/v1/unsubscribe/SAMPLE"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{3,})")
_PADDING = frozenset({"format", "format_map", "center", "ljust", "rjust", "zfill", "expandtabs"})


@dataclass(frozen=True)
class Brand:
    """Whose message it is, as the templates show it (a partner's name and colours, or the coalition's)."""

    name: str = "Coalition"
    colour: str = "#1f5fbf"
    accent: str = "#f2a900"

    def checked(self) -> Brand:
        """This brand with any colour that is not ``#rrggbb`` replaced by the default (it goes into CSS)."""
        default = Brand()
        return replace(
            self,
            colour=self.colour if _COLOUR.match(self.colour or "") else default.colour,
            accent=self.accent if _COLOUR.match(self.accent or "") else default.accent,
        )


@dataclass(frozen=True)
class Override:
    """A partner's own template of one kind, channel and locale (Jinja2 sources; None: the built-in part)."""

    subject: str | None
    text: str | None
    html: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A message ready for its channel: ``subject`` (email; push: the title), ``text``, ``html`` (email)."""

    subject: str | None
    text: str
    html: str | None
    locale: str  # the locale the text is in (after the fallback)
    source: str = "builtin"  # builtin | override
    override_error: str | None = None  # why an override was not used (the built-in text was)


class RenderError(ValueError):
    """A message cannot be rendered: unknown kind or channel, data missing, a template failing."""

    def __init__(self, message: str, *, part: str | None = None, line: int | None = None) -> None:
        where = f"{part}" + (f" line {line}" if line else "") if part else ""
        super().__init__(f"{where}: {message}" if where else message)
        self.part, self.line, self.reason = part, line, message


class TemplateInvalid(RenderError):
    """An override that may not be saved (it does not compile, render or carry what it must)."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with the operators and string methods that could blow up memory refused."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        sized = (str, list, tuple)
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, sized) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise SecurityError("repetition too large")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("format width too large")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in _PADDING:
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, str) and argument in _PADDING:
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)


@pass_context
def _points(ctx: Context, n: int) -> str:
    return fmt.plural(ctx["locale"], n, fmt.POINTS[ctx["locale"]])


@pass_context
def _plural(ctx: Context, n: int, *forms: str) -> str:
    return fmt.plural(ctx["locale"], n, forms)


@pass_context
def _number(ctx: Context, value: Any, places: int | None = None) -> str:
    return fmt.number(ctx["locale"], value, places)


@pass_context
def _money(ctx: Context, amount: Any, currency: str) -> str:
    return fmt.money(ctx["locale"], amount, currency)


@pass_context
def _date(ctx: Context, value: Any) -> str:
    return fmt.day(ctx["locale"], value)


_OURS = {"points": _points, "plural": _plural, "number": _number, "money": _money, "date": _date}
_OVERRIDE_FILTERS = (  # Jinja's filters an override may use (none that pads or multiplies text)
    *("abs", "capitalize", "d", "default", "e", "escape", "first", "float", "int", "join", "last", "length"),
    *("list", "lower", "max", "min", "round", "safe", "string", "striptags", "sum", "title", "trim", "truncate"),
    *("upper", "urlencode"),
)


def _capped_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_LOOP_ITEMS:
        raise SecurityError(f"range of {len(values)} items: at most {MAX_LOOP_ITEMS}")
    return values


@cache
def _environment(html: bool, override: bool) -> _Sandbox:
    env = _Sandbox(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once per process: no stat per render
        cache_size=-1,
    )
    if override:
        env.filters = {name: env.filters[name] for name in _OVERRIDE_FILTERS}
        env.globals = {"range": _capped_range}
    env.filters.update(_OURS)
    return env


@cache
def _builtin() -> dict[tuple[str, str, str, str], Template]:
    """Every built-in part, compiled: (locale, kind, channel, part) -> template."""
    found = {}
    for kind in KINDS.values():
        for channel in kind.channels:
            for part in PARTS[channel]:
                for locale in LOCALES:
                    name = f"{locale}/{kind.name}.{channel}.{part}.j2"
                    if (TEMPLATES / name).is_file():
                        env = _environment(part == "html", False)
                        found[(locale, kind.name, channel, part)] = env.get_template(name)
    return found


def _line(exc: BaseException) -> int | None:
    """The template line a runtime error happened on (Jinja rewrites the traceback to it)."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == "<template>" or name.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _check_tree(tree: nodes.Template, part: str) -> None:
    for node in tree.find_all((nodes.Macro, nodes.CallBlock)):
        raise TemplateInvalid("macros and call blocks are not allowed in an override", part=part, line=node.lineno)

    def depth(node: nodes.Node, level: int) -> None:
        for child in node.iter_child_nodes():
            inner = level
            if isinstance(child, nodes.For):
                if child.recursive:
                    raise TemplateInvalid("recursive loops are not allowed", part=part, line=child.lineno)
                inner = level + 1
                if inner > MAX_LOOP_DEPTH:
                    raise TemplateInvalid(f"loops nest at most {MAX_LOOP_DEPTH} deep", part=part, line=child.lineno)
            depth(child, inner)

    depth(tree, 0)


@lru_cache(maxsize=1024)
def _compile(part: str, source: str) -> Template:
    """An override's part, compiled in the restricted sandbox (cached by its source)."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateInvalid(f"{len(source)} characters, at most {MAX_SOURCE_CHARS}", part=part)
    env = _environment(part == "html", True)
    try:
        _check_tree(env.parse(source), part)
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(exc.message or str(exc), part=part, line=exc.lineno) from exc
    except TemplateInvalid:
        raise
    except Exception as exc:  # a source that breaks the compiler itself (nesting too deep...)
        raise TemplateInvalid(f"cannot be compiled: {type(exc).__name__}", part=part) from exc


def _run(template: Template, context: Mapping[str, Any], part: str, error: type[RenderError]) -> str:
    try:
        out = template.render(context)
    except Exception as exc:  # whatever the template or the data did: the message cannot be written
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if isinstance(exc, TemplateNotFound):
            reason = f"no template {exc.name!r} to extend or include"
        raise error(reason, part=part, line=_line(exc)) from exc
    if len(out) > MAX_OUTPUT_CHARS:
        raise error(f"renders {len(out)} characters, at most {MAX_OUTPUT_CHARS}", part=part)
    if part == "html":
        return out.strip() + "\n"
    if part == "text" and "\n" in out:
        return re.sub(r"\n{3,}", "\n\n", out).strip() + "\n"
    return " ".join(out.split())


def sample_data(kind: str) -> dict[str, Any]:
    """The kind's sample data, with the unsubscribe link a marketing message carries."""
    spec = KINDS[kind]
    return {**spec.sample, **({"unsubscribe_url": SAMPLE_UNSUBSCRIBE_URL} if spec.category == "marketing" else {})}


def locale_for(kind: str, channel: str, tag: str | None) -> str:
    """The locale a message of ``kind`` on ``channel`` is written in for the BCP 47 ``tag``."""
    chosen = fmt.negotiate(tag)
    return chosen if (chosen, kind, channel, PARTS[channel][0]) in _builtin() else fmt.DEFAULT_LOCALE


def _render(
    kind: str, channel: str, locale: str | None, data: Mapping[str, Any], brand: Brand, override: Override | None
) -> Rendered:
    spec = KINDS.get(kind)
    if spec is None:
        raise RenderError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    if channel not in spec.channels:
        raise RenderError(f"{kind} goes out on {', '.join(spec.channels)}, not {channel!r}")
    missing = sorted(set(spec.sample) - set(data) - set(OPTIONAL))
    if missing:
        raise RenderError(f"{kind} needs {', '.join(missing)} in its data")
    chosen = locale_for(kind, channel, locale)
    if (chosen, kind, channel, PARTS[channel][0]) not in _builtin():
        raise RenderError(f"no built-in template of {kind} on {channel} (templates/en/{kind}.{channel}.*.j2)")
    context = {**dict.fromkeys(OPTIONAL), **data, "brand": brand.checked(), "locale": chosen}
    context["marketing"] = spec.category == "marketing"
    builtin, out = _builtin(), {}
    for part in PARTS[channel]:
        source = getattr(override, part) if override is not None else None
        if source:
            out[part] = _run(_compile(part, source), context, part, TemplateInvalid)
        else:
            out[part] = _run(builtin[(chosen, kind, channel, part)], context, part, RenderError)
        if part == "subject":
            context["subject"] = out[part]
    return Rendered(
        subject=out.get("subject"),
        text=out["text"],
        html=out.get("html"),
        locale=chosen,
        source="override" if any(getattr(override, part, None) for part in PARTS[channel]) else "builtin",
    )


def render(
    kind: str,
    channel: str,
    locale: str | None,
    data: Mapping[str, Any],
    *,
    brand: Brand = Brand(),
    override: Override | None = None,
) -> Rendered:
    """The message of ``kind`` for ``channel`` in ``locale`` (or its fallback) with ``data``.
    Raises :class:`RenderError` for an unknown kind or channel, data missing a variable, or a
    built-in template failing; a failing ``override`` gives the built-in text instead."""
    try:
        return _render(kind, channel, locale, data, brand, override)
    except TemplateInvalid as exc:
        if override is None:
            raise
        return replace(_render(kind, channel, locale, data, brand, None), override_error=str(exc))


def validate(
    kind: str,
    channel: str,
    locale: str,
    override: Override,
    *,
    data: Mapping[str, Any] | None = None,
    brand: Brand = Brand(),
) -> Rendered:
    """The override rendered with ``data`` (default: the kind's sample), or :class:`TemplateInvalid`
    naming the part and line: it must compile in the sandbox, render, and keep the links the
    message needs (a marketing email's ``unsubscribe_url``, a confirmation's ``confirm_url``)."""
    spec = KINDS.get(kind)
    if spec is None or channel not in spec.channels or locale not in LOCALES:
        raise TemplateInvalid(f"no template {kind}/{channel}/{locale}")
    if not any(getattr(override, part) for part in PARTS[channel]):
        raise TemplateInvalid(f"an override of {channel} gives at least one of {', '.join(PARTS[channel])}")
    values = sample_data(kind) if data is None else data
    try:
        rendered = _render(kind, channel, locale, values, brand, override)
    except TemplateInvalid:
        raise
    except RenderError as exc:
        raise TemplateInvalid(exc.reason, part=exc.part, line=exc.line) from exc
    needs = {"unsubscribe_url"} if spec.category == "marketing" and channel == "email" else set()
    needs |= {"confirm_url"} if kind == "email_confirmation" else set()
    for name in sorted(needs):
        for part in ("text", "html"):
            if getattr(override, part) and str(values.get(name)) not in (getattr(rendered, part) or ""):
                raise TemplateInvalid(f"{kind} must show {{{{ {name} }}}}", part=part)
    return replace(rendered, locale=locale)
