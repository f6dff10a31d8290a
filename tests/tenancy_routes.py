"""Every route of the API and of the staff UI that takes a path parameter, read from Django's URL
configuration (not from a list someone keeps), with the HTTP methods its view accepts.

`tests/test_tenancy.py` calls each of them with another organization's ids. A route added to any
urls.py shows up here by itself; the test then asks for its parameters to be mapped.
"""

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

# Not the tenant's pages: Django's admin (staff of every organization are not its users), the login
# and logout pages, static files, and the schema and docs, which name no organization's data.
EXCLUDED_PREFIXES = ("/admin/", "/login/", "/logout/", "/static/", "/api/schema", "/api/docs")
API_PREFIX = "/api/"
# Methods that read or write a resource; HEAD and OPTIONS answer the same lookup as GET or none.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CALLED_METHODS = ("GET", *WRITE_METHODS)

ROUTE_PARAMETER = re.compile(r"<(?:[^>:]+:)?(?P<name>[^>]+)>")
REGEX_GROUP_START = re.compile(r"\(\?P<(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern, its pieces from the root resolver down, and what the test needs to call it."""

    path: str  # readable, e.g. "/api/v1/invoices/<lago_id>/void"
    pieces: tuple  # the RoutePattern/RegexPattern objects, outermost first
    parameters: tuple[str, ...]
    methods: tuple[str, ...]
    callback: Callable

    @property
    def is_api(self) -> bool:
        return self.path.startswith(API_PREFIX)

    def url(self, values: dict[str, object]) -> str:
        """The path with `values` in place of the parameters, each percent-encoded whole."""
        return "/" + "".join(_fill(piece, values) for piece in self.pieces)

    def resolves_to_itself(self, url: str, values: dict[str, object]) -> bool:
        """Whether `url` reaches this route's view with exactly these parameters (no earlier route
        swallowing it, no value mangled on the way)."""
        match = resolve(unquote(url))  # as the server hands the path to the resolver
        # Compared as text: a <uuid:...> converter hands the view a UUID, a regex group a string.
        resolved = {name: str(value) for name, value in match.kwargs.items()}
        return match.func is self.callback and resolved == {name: str(value) for name, value in values.items()}


def routes_with_parameters(urlconf: object = None) -> list[Route]:
    """The tenant-facing routes with at least one path parameter, in URL configuration order (of
    the project's, or of `urlconf`: a module path, or a tuple of patterns)."""
    routes = []
    for pieces, pattern in _leaves(get_resolver(urlconf).url_patterns, ()):
        path = "/" + "".join(_readable(piece) for piece in pieces)
        if path.startswith(EXCLUDED_PREFIXES):
            continue
        parameters = tuple(name for piece in pieces for name in _parameters(piece))
        if not parameters:
            continue
        routes.append(Route(path, pieces, parameters, _methods(pattern.callback), pattern.callback))
    return routes


def _leaves(patterns: list, pieces: tuple) -> Iterator[tuple[tuple, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _leaves(entry.url_patterns, (*pieces, entry.pattern))
        else:
            yield (*pieces, entry.pattern), entry


def _parameters(piece) -> list[str]:
    if isinstance(piece, RoutePattern):
        return list(piece.converters)
    if piece.regex.groups != len(piece.regex.groupindex):
        raise ValueError(f"{piece} has an unnamed group: the tenancy test passes parameters by name only")
    return sorted(piece.regex.groupindex, key=piece.regex.groupindex.get)


def _readable(piece) -> str:
    if isinstance(piece, RoutePattern):
        return ROUTE_PARAMETER.sub(lambda match: f"<{match['name']}>", str(piece))
    return _replace_regex_groups(str(piece), lambda name: f"<{name}>")


def _fill(piece, values: dict[str, object]) -> str:
    if isinstance(piece, RoutePattern):

        def value_of(match: re.Match) -> str:
            name = match["name"]
            return quote(str(piece.converters[name].to_url(values[name])), safe="")

        return ROUTE_PARAMETER.sub(value_of, str(piece))
    return _replace_regex_groups(str(piece), lambda name: quote(str(values[name]), safe=""))


def _replace_regex_groups(regex: str, replacement: Callable[[str], str]) -> str:
    """The regex with each named group replaced and its anchors dropped. Only literal text may sit
    between groups: `resolves_to_itself` catches anything this reads wrong."""
    text = regex.removeprefix("^").removesuffix("$")
    while match := REGEX_GROUP_START.search(text):
        end = _closing_parenthesis(text, match.start())
        text = text[: match.start()] + replacement(match["name"]) + text[end + 1 :]
    return text


def _closing_parenthesis(text: str, start: int) -> int:
    depth = 0
    index = start
    in_class = False  # a parenthesis inside [...] is a character, not a group
    while index < len(text):
        character = text[index]
        if character == "\\":
            index += 2
            continue
        if in_class:
            in_class = character != "]"
        elif character == "[":
            in_class = True
            index += 2 if text[index + 1 : index + 2] == "]" else 1  # "[]...]": its first "]" is literal
            continue
        else:
            depth += {"(": 1, ")": -1}.get(character, 0)
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"unbalanced group in {text!r}")


def _methods(callback: Callable) -> tuple[str, ...]:
    """The methods the view answers: a class-based view's handlers (DRF's included), or the list of
    Django's `require_http_methods` found on the function's decorator chain, else GET and POST."""
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is not None:
        names = view_class.http_method_names
        return tuple(
            method for method in CALLED_METHODS if method.lower() in names and hasattr(view_class, method.lower())
        )
    allowed = _required_methods(callback)
    if allowed is None:
        return ("GET", "POST")
    return tuple(method for method in CALLED_METHODS if method in allowed)


def _required_methods(function: Callable) -> list[str] | None:
    while function is not None:
        if function.__closure__:
            found = inspect.getclosurevars(function).nonlocals.get("request_method_list")
            if found is not None:
                return list(found)
        function = getattr(function, "__wrapped__", None)
    return None
