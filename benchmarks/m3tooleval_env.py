"""M3ToolEval's environment and tool behaviours, re-implemented from m3tooleval-env/README.md
with their quirks: the env folder's data (tools.json descriptions, travel tables, web pages), the
stateless tool functions, the travel agency and the web browser of one task.
"""

from __future__ import annotations

import builtins
import functools
import json
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Browser",
    "Environment",
    "TravelAgency",
    "load_environment",
]


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class Environment:
    """What the toolsets read from the env folder: tool descriptions per domain, the travel
    tables, and the web pages (name -> content, in file order)."""

    folder: Path
    descriptions: dict[str, dict[str, str]]
    locations: tuple[str, ...]
    flights: tuple[dict[str, Any], ...]
    hotels: tuple[dict[str, Any], ...]
    pages: dict[str, str]


@functools.lru_cache(maxsize=8)
def _load(folder: str) -> Environment:
    root = Path(folder)
    try:
        specs = json.loads((root / "tools.json").read_text(encoding="utf-8"))
        travel = json.loads(
            (root / "env_travel_itinerary_planning.json").read_text(encoding="utf-8")
        )
        lines = (root / "env_web_browsing_pages.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FileNotFoundError(
            f"{root} is not an M3ToolEval env folder ({exc}); it needs tools.json, "
            "env_travel_itinerary_planning.json and env_web_browsing_pages.jsonl"
        ) from None
    pages: dict[str, str] = {}
    for line in lines:
        if line.strip():
            page = json.loads(line)
            pages[str(page["name"])] = str(page["content"])
    return Environment(
        folder=root,
        descriptions={
            domain: {str(t["name"]): str(t["description"]) for t in tools}
            for domain, tools in specs.items()
        },
        locations=tuple(travel["locations"]),
        flights=tuple(travel["flights"]),
        hotels=tuple(travel["hotels"]),
        pages=pages,
    )


def load_environment(folder: str | Path) -> Environment:
    """Read the env folder (cached per path)."""
    return _load(str(Path(folder).resolve()))


# ------------------------------------------------------------------------ the behaviours


def convert_hex_to_ascii(hex_string: str) -> str:
    return bytes.fromhex(str(hex_string)).decode("utf-8")


def reverse_string(string: str) -> str:
    return string[::-1]


def caesar_decode(message: str, shift: int) -> str:
    shift = int(shift)
    letters = []
    for char in message:
        if char.isupper():
            letters.append(chr((ord(char) - shift - 65) % 26 + 65))
        elif char.islower():
            letters.append(chr((ord(char) - shift - 97) % 26 + 97))
        else:
            letters.append(char)
    return "".join(letters)


def string_length(string: str) -> int:
    return len(string)


def minimum_value(*args: Any) -> Any:
    return min(args)


def maximum_value(*args: Any) -> Any:
    return max(args)


def count_nucleotides(dna_sequence: str) -> dict:
    # A Counter made a dict: keys in the order they first occur.
    return dict(Counter(dna_sequence))


_COMPLEMENT = {"A": "U", "C": "G", "G": "C", "T": "A"}
_REVERSE = {"U": "A", "C": "G", "A": "T", "G": "C"}
_CODONS = {"AUG": "Methionine", "UUU": "Phenylalanine", "UUC": "Phenylalanine"}


def transcribe_dna_to_mrna(dna_sequence: str) -> str:
    # A complement, not biological transcription; other characters raise KeyError (the README
    # gives only the four-letter map).
    return "".join(_COMPLEMENT[base] for base in dna_sequence)


def translate_mrna_to_amino_acid(mrna_sequence: str) -> str:
    codons = [mrna_sequence[i : i + 3] for i in range(0, len(mrna_sequence), 3)]
    return "-".join(_CODONS.get(codon, "X") for codon in codons)


def find_max_nucleotide(*args: Any) -> tuple:
    counts = dict(zip(args[::2], args[1::2], strict=False))  # an odd last key is dropped
    best = max(counts, key=counts.__getitem__)  # the first key wins a tie
    return (best, counts[best])


def is_valid_dna_sequence(dna_sequence: str) -> bool:
    return set(dna_sequence).issubset({"A", "C", "G", "T"})


def reverse_transcribe_mrna_to_dna(mrna_sequence: str) -> str:
    return "".join(_REVERSE[base] for base in mrna_sequence)


def convert_currency(base_price: float, conversion_rate: float) -> float:
    return base_price * conversion_rate


def calculate_tariff(price: float, tariff_rate: float) -> float:
    return price * tariff_rate / 100


def estimate_final_value(price: float, tariff: float) -> float:
    return price + tariff


def calculator(expression: str) -> float:
    # Python's eval, as the original: a benchmark tool, run on the benchmark's own machine.
    try:
        return eval(expression, {})
    except Exception:
        return f"Failed to evaluate expression: {expression}"


def find_minimum(*args: float) -> float:
    return min(args)


def find_maximum(*args: float) -> float:
    return max(args)


def budget_calculator(flight_price: float, hotel_price_per_night: float, num_nights: int) -> float:
    return flight_price + hotel_price_per_night * num_nights


def travel_max(*args: float) -> float:
    return builtins.max(*args)


def travel_min(*args: float) -> float:
    return builtins.min(*args)


def travel_sum(*args: float) -> float:
    # A varargs wrapper: sum(1, 2) works, sum([1, 2]) raises TypeError (as in the original).
    return builtins.sum(args)


def _unquote(value: Any) -> str:
    return str(value).strip('"')


class TravelAgency:
    """The travel tools over the env tables. Locations are stored quoted (``"A"``); arguments
    may be given quoted or not."""

    def __init__(self, environment: Environment) -> None:
        self.locations = list(environment.locations)
        self._supported = {_unquote(location) for location in self.locations}
        self.flights = [dict(row) for row in environment.flights]
        self.hotels = [dict(row) for row in environment.hotels]

    def find_flights(self, from_location: str, to_location: str, date: str) -> list:
        origin, destination = _unquote(from_location), _unquote(to_location)
        if origin not in self._supported:
            raise ValueError(
                f"Origin {origin} is not supported. Supported from_locations: {self.locations}"
            )
        if destination not in self._supported:
            raise ValueError(
                f"Destination {destination} is not supported. "
                f"Supported from_locations: {self.locations}"
            )
        return [
            dict(row)
            for row in self.flights
            if _unquote(row["from_location"]) == origin
            and _unquote(row["to_location"]) == destination
            and row["date"] == date
        ]

    def book_hotel(self, location: str, *preferences: str) -> list:
        place = _unquote(location)
        if place not in self._supported:
            raise ValueError(
                f"Location {place} is not supported. Supported locations: {self.locations}"
            )
        return [
            {**hotel, "preferences": list(hotel["preferences"])}
            for hotel in self.hotels
            if _unquote(hotel["location"]) == place
            and all(p in hotel["preferences"] for p in preferences)
        ]


class Browser:
    """The simulated web browser of one task: starts on ``/`` with an empty history."""

    def __init__(self, environment: Environment) -> None:
        self.pages = environment.pages
        self.current = "/"
        self.scroll = 0
        self.history: list[str] = []
        self._lock = threading.Lock()  # a JSON agent may call tools concurrently

    def _lines(self) -> list[str]:
        return self.pages[self.current].split("\n")

    def _render(self) -> str:
        lines = self._lines()
        if len(lines) > 5:
            # Off by one for pages whose line count is a multiple of 5, as in the original.
            position, count = self.scroll // 5 + 1, len(lines) // 5 + 1
        else:
            position = count = 1
        return "\n".join(
            [
                "-" * 10,
                f"[Web Page Name: {self.current}]",
                f"[Viewing page {position} of {count}]",
                "",
                *lines[self.scroll : self.scroll + 5],
                "-" * 10,
            ]
        )

    def view(self) -> str:
        with self._lock:
            return self._render()

    def click_url(self, url: str) -> str:
        with self._lock:
            url = str(url).replace("'", "")
            if url not in self.pages:  # any page opens, linked from here or not
                return "[URL not found.]"
            self.history.append(self.current)
            self.current, self.scroll = url, 0
            return f"[Opened page: {url}]\n" + self._render()

    def go_to_previous_page(self) -> str:
        with self._lock:
            if not self.history:
                return "[No previous page.]"
            self.current, self.scroll = self.history.pop(), 0
            return f"[Opened page: {self.current}]\n" + self._render()

    def scroll_down(self) -> str:
        with self._lock:
            if self.scroll + 5 < len(self._lines()):
                self.scroll += 5
                return self._render()
            return "[Reached the bottom of the page.]\n"

    def scroll_up(self) -> str:
        with self._lock:
            if self.scroll > 0:
                self.scroll -= 5
                return self._render()
            return "[Reached the top of the page.]\n"
