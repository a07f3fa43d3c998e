"""The spec's auth alternatives, read from the spec as a table: which one a request matched, and why not.

connexion enforces them on its path (`server.auth`); this table names the one a request matched,
once, at the door (`Call.requirement`), for routing and the journal, and says what a refused
request lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portkey_completions.core import alternatives, spec
from portkey_completions.core import headers as portkey

from .errors import ServerAPIError


# eq=False: schemes and alternatives are made once, from the spec, and compared and hashed by
# identity; value hashing would rehash their fields at every look-up on the request path.
@dataclass(frozen=True, eq=False)
class Scheme:
    """One security scheme: a header that must be present (and for bearer, a token)."""

    name: str
    header: str
    bearer: bool = False

    @property
    def label(self) -> str:
        return "Authorization: Bearer" if self.bearer else self.header

    def present(self, headers: Mapping[str, str]) -> bool:
        if self.bearer:
            return portkey.bearer(headers.get(self.header)) is not None
        return bool(headers.get(self.header, "").strip())


@dataclass(frozen=True, eq=False)
class Requirement:
    """One entry of the operation's `security` list (an OpenAPI security requirement): every scheme in it is required.

    `added` is the headers it adds to those every alternative needs. `name` names it in the journal,
    the metrics and the logs, stably (`core.alternatives.name`).
    """

    schemes: tuple[Scheme, ...]
    added: frozenset[str]
    name: str

    @property
    def names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.schemes)

    def label(self, omit: tuple[Scheme, ...] = ()) -> str:
        return " + ".join(s.label for s in self.schemes if s not in omit)

    def missing(self, headers: Mapping[str, str]) -> list[Scheme]:
        return [s for s in self.schemes if not s.present(headers)]


class Alternatives:
    """The security alternatives of one operation, in spec order."""

    def __init__(self, schemes: tuple[tuple[Scheme, ...], ...]) -> None:
        # Schemes every alternative needs (the Portkey key) are checked first and
        # named on their own in a refusal.
        self.common = tuple(s for s in schemes[0] if all(s in a for a in schemes))
        self.common_label = " + ".join(s.label for s in self.common)
        self.alternatives = tuple(_requirement(a, self.common) for a in schemes)
        self.schemes = tuple(dict.fromkeys(s for a in schemes for s in a))
        # The first one satisfied in this order is the most specific (ties: spec order).
        self._largest_first = sorted(self.alternatives, key=lambda a: -len(a.schemes))
        # The scheme whose credential a store admits: Portkey's key where every alternative needs it,
        # else the first every alternative needs (a bearer-only spec's token); None if there is none.
        self.key_scheme = min(self.common, key=lambda s: s.header != portkey.API_KEY, default=None)

    @classmethod
    def from_spec(cls, path: str, method: str) -> Alternatives:
        """The operation's alternatives as `core.spec.security` reads them from the effective spec."""
        made: dict[str, Scheme] = {}  # one Scheme per name: schemes compare by identity
        requirements = []
        for requirement in spec.security(path, method):
            for name, header, bearer in requirement:
                made.setdefault(name, Scheme(name, header, bearer=bearer))
            requirements.append(tuple(made[name] for name, _, _ in requirement))
        return cls(tuple(requirements))

    def match(self, headers: Mapping[str, str]) -> Requirement | None:
        """The most specific alternative the headers satisfy, or None.

        Bearer + provider + custom host also satisfies bearer + provider; the larger
        one is what the caller meant.
        """
        present = {s for s in self.schemes if s.present(headers)}  # each scheme checked once
        return next((a for a in self._largest_first if present.issuperset(a.schemes)), None)

    def explain(self, headers: Mapping[str, str]) -> str:
        """Why the headers satisfy no alternative, in words a caller can act on: the spec's requirement,
        named as the spec has it (Portkey's words only for Portkey's key), never an empty list."""
        options = "; ".join(label for a in self.alternatives if (label := a.label(omit=self.common)))
        missing_common = [s for s in self.common if not s.present(headers)]
        if missing_common:
            names = ", ".join(s.label for s in missing_common)
            needed = "your Portkey API key" if any(s.header == portkey.API_KEY for s in self.common) else "it"
            if not options:
                return f"Missing {names} header: every request needs {needed}."
            return f"Missing {names} header: every request needs {needed}, plus one of: {options}."
        # Closest: fewest headers missing, then most headers already given.
        closest = min(self.alternatives, key=lambda a: (len(a.missing(headers)), -len(a.schemes)))
        specific = [s for s in closest.schemes if s not in self.common]
        with_common = f"with {self.common_label}, send" if self.common else "send"
        if all(s in closest.missing(headers) for s in specific):
            what = "No provider credentials" if self.common else "Missing credentials"
            return f"{what}: {with_common} one of: {options}."
        names = ", ".join(s.label for s in closest.missing(headers))
        return (
            f"Incomplete credentials for {closest.label(omit=self.common)}: missing {names}. "
            f"{with_common.capitalize()} one of: {options}."
        )

    def refusal(self, headers: Mapping[str, str]) -> ServerAPIError:
        return ServerAPIError(
            401, self.explain(headers), code="missing_credentials", headers={"WWW-Authenticate": self.challenge}
        )

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate of a refusal: the scheme every request needs, as the spec declares it."""
        first = self.common[0] if self.common else next((s for a in self.alternatives for s in a.schemes), None)
        if first is None or first.bearer:
            return "Bearer"
        realm = ' realm="portkey",' if first.header == portkey.API_KEY else ""
        return f'ApiKey{realm} header="{first.header}"'

    def key(self, headers: Mapping[str, str]) -> str | None:
        """The credential a store admits (`key_scheme`'s value, a bearer's token); None if the spec has none."""
        scheme = self.key_scheme
        if scheme is None:
            return None
        if scheme.bearer:
            return portkey.bearer(headers.get(scheme.header)) or ""
        return headers.get(scheme.header, "")


def _requirement(schemes: tuple[Scheme, ...], common: tuple[Scheme, ...]) -> Requirement:
    added = frozenset(s.header for s in schemes if s not in common)
    required, shared = frozenset(s.header for s in schemes), frozenset(s.header for s in common)
    return Requirement(schemes, added, alternatives.name(required, shared))
