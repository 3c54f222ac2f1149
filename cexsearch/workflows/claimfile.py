"""Claim files: TOML in, validated :class:`~.claim.Claim` objects out, errors naming file, line and claim.

Numbers are exact: TOML decimals are read as :class:`decimal.Decimal`, never through a binary float.
"""

from __future__ import annotations

import decimal
import re
import tomllib
from pathlib import Path

from .. import lang as C
from ..errors import ClaimFileError, TooLarge
from ..model.network import nearest
from .claim import CLAIM_KEYS, DEFAULT_KEYS, TORCH_DECIDES, Claim


def _lines_of_claims(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"^\s*\[\[\s*claim\s*\]\]", line)]


def _key_line(text: str, header_line: int, key: str) -> int:
    """The line of ``key = ...`` in the table whose header is on ``header_line`` (1-based)."""
    lines = text.splitlines()
    for i in range(header_line, len(lines)):
        if re.match(r"^\s*\[", lines[i]):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return header_line


def load_claims(path: str | Path) -> list[Claim]:
    """Read and validate a claim file; raise :class:`ClaimFileError` naming file, line and claim."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClaimFileError(f"no such claim file: {str(p)!r}", hint="check the path") from None
    except UnicodeDecodeError as e:
        raise ClaimFileError(f"cannot read claim file {str(p)!r}: byte {e.object[e.start]:#04x} at offset {e.start} "
                             "is not UTF-8", hint="save the file as UTF-8") from None
    except OSError as e:
        raise ClaimFileError(f"cannot read claim file {str(p)!r}: {e.strerror or e}") from None
    return parse_claims(text, str(p))


def parse_claims(text: str, file: str = "<claims>") -> list[Claim]:
    try:
        data = tomllib.loads(text, parse_float=decimal.Decimal)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{file}:{m.group(1)}:{m.group(2)}" if m else file
        raise ClaimFileError(f"TOML syntax error: {msg}", where=where) from None
    except RecursionError:
        raise ClaimFileError("TOML nested too deeply to read", where=file,
                             hint="a claim file nests a few levels at most: check the brackets") from None
    except ValueError:  # an integer of thousands of digits
        raise TooLarge("a TOML integer has more digits than can be read", where=file,
                       hint="write numbers of at most 1000 digits") from None
    unknown_top = [k for k in data if k not in ("defaults", "claim")]
    if unknown_top:
        k = unknown_top[0]
        guess = nearest(k, ["defaults", "claim"])
        raise ClaimFileError(f"unknown top-level key {k!r}", where=file,
                             hint=f"did you mean {guess!r}? (claims are [[claim]] tables)" if guess else
                             "a claim file has [defaults] and [[claim]] tables")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ClaimFileError("[defaults] must be a table", where=file)
    for k in defaults:
        if k not in DEFAULT_KEYS:
            guess = nearest(k, DEFAULT_KEYS)
            header = next((i + 1 for i, t in enumerate(text.splitlines()) if re.match(r"^\s*\[\s*defaults\s*\]", t)), 1)
            line = _key_line(text, header, k)
            raise ClaimFileError(f"unknown key {k!r} in [defaults]", where=f"{file}:{line}",
                                 hint=f"did you mean {guess!r}?" if guess else f"keys: {', '.join(DEFAULT_KEYS)}")
    raw_claims = data.get("claim", [])
    if not isinstance(raw_claims, list) or not raw_claims:
        raise ClaimFileError("no [[claim]] tables in the file", where=file, hint="add one: [[claim]] name = ...")
    if not all(isinstance(raw, dict) for raw in raw_claims):
        raise ClaimFileError(f"'claim' must hold tables, got {C.brief(raw_claims)}", where=file,
                             hint="write each claim as a [[claim]] table with name = ..., net = ..., ...")
    headers = _lines_of_claims(text)
    claims: list[Claim] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_claims):
        line = headers[i] if i < len(headers) else None  # type: ignore[assignment]
        name = raw.get("name") if isinstance(raw.get("name"), str) else f"#{i + 1}"
        where = f"{file}:{line}: claim {name!r}" if line else f"{file}: claim {name!r}"
        for k in raw:
            if k not in CLAIM_KEYS:
                guess = nearest(k, CLAIM_KEYS)
                kline = _key_line(text, line or 1, k)
                raise ClaimFileError(f"unknown key {k!r}", where=f"{file}:{kline}: claim {name!r}",
                                     hint=f"did you mean {guess!r}?" if guess else f"keys: {', '.join(CLAIM_KEYS)}")
        merged = dict(defaults)
        merged.update(raw)
        if "torch" in merged:
            for k in TORCH_DECIDES:
                if k in raw or (k == "net" and k in merged and "torch" in raw):
                    kline = _key_line(text, line or 1, k)
                    raise ClaimFileError(f"{k} conflicts with torch: the module's layers decide it",
                                         where=f"{file}:{kline}: claim {name!r}", hint=f"drop {k}")
            merged.pop("net", None)  # a [defaults] net is for the claims without a module
        for required in ("name", "net", "samples", "then", "expect"):
            if required == "net" and "torch" in merged:
                continue
            if required == "then" and "invariant" in merged:
                continue
            if required not in merged:
                raise ClaimFileError(f"missing key {required!r}", where=where,
                                     hint={"expect": 'add expect = "holds" or "refuted"', "then": 'add then = ["..."]',
                                           "net": 'add net = "1-1-1"', "samples": "add samples = 1 or \"1..4\"",
                                           "name": "add name = \"...\""}[required])
        try:
            claim = Claim(file=file, line=line, **merged)  # validates the name before it is compared
            if claim.name in seen:
                raise ClaimFileError(f"two claims are named {claim.name!r}", where=where, hint="names must differ")
            seen.add(claim.name)
            claim.validate()
        except ClaimFileError as e:
            key_line = None
            if e.message.split(" ")[0] in CLAIM_KEYS and line:
                key_line = _key_line(text, line, e.message.split(" ")[0])
            if key_line and key_line != line:
                raise ClaimFileError(e.message, source=e.source, column=e.column,
                                     where=(e.where or where).replace(f"{file}:{line}", f"{file}:{key_line}", 1),
                                     hint=e.hint) from None
            raise
        except TypeError as e:
            raise ClaimFileError(f"bad claim: {e}", where=where) from None
        claims.append(claim)
    return claims
