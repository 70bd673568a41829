"""Seeded synthetic structured text: CSV tables, JSON lines and logs.

Packages carry little machine-generated tabular or log data, yet archives are full of it, so
the corpus builder adds a few MB of it from here.  Everything comes from one
``random.Random(seed)``, so the same seed always yields the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

GENERATOR_VERSION = "1"
"""Bumped whenever the output for a given seed changes; recorded in the corpus manifest."""

WORDS = (
    "alpha bravo cache disk error fetch gateway handler index job kernel lock memory network "
    "order payment queue request session token upload volume worker sync backup report user"
).split()
FIRST = "Ada Alan Barbara Claude Dennis Edsger Frances Grace John Ken Linus Margaret Niklaus Radia".split()
LAST = "Lovelace Turing Liskov Shannon Ritchie Dijkstra Allen Hopper Backus Thompson Torvalds Hamilton".split()
CITIES = "Berlin Lagos Lima Mumbai Osaka Oslo Paris Quito Seoul Sydney Toronto Warsaw".split()
HOSTS = ("web01", "web02", "db01", "cache01", "worker07", "gw")
PROGRAMS = ("sshd", "cron", "kernel", "systemd", "postfix/smtpd", "dhclient", "sudo")
PATHS = ("/", "/index.html", "/api/v1/users", "/api/v1/orders", "/static/app.js", "/login", "/search", "/favicon.ico")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/7.88.1",
    "python-requests/2.31.0",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
)
LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR")
START = datetime(2023, 3, 1, 0, 0, 0)


def _times(rng: random.Random, n: int, mean_gap_s: float) -> list[datetime]:
    """Increasing timestamps, as real logs have."""
    t, out = START + timedelta(days=rng.randrange(300)), []
    for _ in range(n):
        t += timedelta(seconds=rng.expovariate(1 / mean_gap_s))
        out.append(t)
    return out


def _ip(rng: random.Random) -> str:
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4))


def csv_table(rng: random.Random, rows: int) -> str:
    """One of a few table schemas: typed columns, quoting, some empty cells."""
    schema = rng.randrange(3)
    if schema == 0:
        lines = ["order_id,date,customer,city,quantity,unit_price,total"]
        for i, t in enumerate(_times(rng, rows, 900)):
            qty, price = rng.randrange(1, 20), round(rng.uniform(0.5, 300), 2)
            name = f'"{rng.choice(LAST)}, {rng.choice(FIRST)}"'
            lines.append(f"{100000 + i},{t:%Y-%m-%d},{name},{rng.choice(CITIES)},{qty},{price:.2f},{qty * price:.2f}")
    elif schema == 1:
        lines = ["timestamp;sensor;temperature_c;humidity_pct;status"]
        for t in _times(rng, rows, 60):
            temp = "" if rng.random() < 0.02 else f"{rng.gauss(21, 4):.1f}"
            lines.append(f"{t:%Y-%m-%dT%H:%M:%S};S{rng.randrange(16):02d};{temp};{rng.randrange(20, 90)};OK")
    else:
        lines = ["id,first_name,last_name,email,signup_date,active,score"]
        for i, t in enumerate(_times(rng, rows, 7200)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.org"
            active = rng.choice(("true", "false"))
            lines.append(f"{i + 1},{first},{last},{email},{t:%Y-%m-%d},{active},{rng.random():.4f}")
    return "\n".join(lines) + "\n"


def json_lines(rng: random.Random, rows: int) -> str:
    """Event records with nesting, optional keys and mixed types."""
    lines = []
    for t in _times(rng, rows, 5):
        event: dict[str, object] = {
            "ts": t.isoformat() + "Z",
            "event": rng.choice(("click", "view", "purchase", "signup", "logout")),
            "user": {"id": rng.randrange(10**6), "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}"},
            "tags": rng.sample(WORDS, rng.randrange(4)),
        }
        if rng.random() < 0.3:
            event["amount"] = round(rng.uniform(1, 500), 2)
        if rng.random() < 0.2:
            event["geo"] = {"city": rng.choice(CITIES), "lat": round(rng.uniform(-90, 90), 4)}
        lines.append(json.dumps(event, separators=(",", ":") if rng.random() < 0.5 else None))
    return "\n".join(lines) + "\n"


def syslog(rng: random.Random, rows: int) -> str:
    """BSD syslog lines from a handful of daemons."""
    lines = []
    for t in _times(rng, rows, 20):
        prog = rng.choice(PROGRAMS)
        msg = {
            "sshd": f"Accepted key for {rng.choice(FIRST).lower()} from {_ip(rng)} port {rng.randrange(1024, 9999)}",
            "cron": f"({rng.choice(('root', 'www-data'))}) CMD (/usr/local/bin/{rng.choice(WORDS)}.sh)",
            "kernel": f"[{rng.uniform(0, 9e5):12.6f}] eth0: link up, {rng.choice((100, 1000, 10000))}Mbps, full-duplex",
            "systemd": f"Started {rng.choice(WORDS)}.service - {rng.choice(WORDS).title()} daemon.",
            "postfix/smtpd": f"connect from unknown[{_ip(rng)}]",
            "dhclient": f"DHCPACK of {_ip(rng)} from {_ip(rng)}",
            "sudo": f"{rng.choice(FIRST).lower()} : TTY=pts/{rng.randrange(9)} ; USER=root ; COMMAND=/bin/ls",
        }[prog]
        lines.append(f"{t:%b %e %H:%M:%S} {rng.choice(HOSTS)} {prog}[{rng.randrange(100, 40000)}]: {msg}")
    return "\n".join(lines) + "\n"


def access_log(rng: random.Random, rows: int) -> str:
    """nginx/Apache combined log format."""
    lines = []
    for t in _times(rng, rows, 0.5):
        status = rng.choices((200, 304, 301, 404, 500), (80, 8, 4, 6, 2))[0]
        method = rng.choices(("GET", "POST", "HEAD"), (85, 12, 3))[0]
        query = f"?q={rng.choice(WORDS)}&page={rng.randrange(1, 9)}" if rng.random() < 0.2 else ""
        lines.append(
            f'{_ip(rng)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{method} {rng.choice(PATHS)}{query} HTTP/1.1" '
            f'{status} {rng.randrange(0, 50000)} "-" "{rng.choice(AGENTS)}"'
        )
    return "\n".join(lines) + "\n"


def app_log(rng: random.Random, rows: int) -> str:
    """Application log lines with levels, loggers and occasional Python or Java stack traces."""
    lines = []
    for t in _times(rng, rows, 2):
        level, logger = rng.choice(LEVELS), f"app.{rng.choice(WORDS)}.{rng.choice(WORDS)}"
        lines.append(
            f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {level:<7} [{logger}] {rng.choice(WORDS)} "
            f"{rng.choice(('started', 'finished', 'failed', 'retrying'))} id={rng.randrange(10**5)}"
        )
        if level == "ERROR" and rng.random() < 0.5:
            lines.append("Traceback (most recent call last):")
            for _ in range(rng.randrange(2, 6)):
                mod = rng.choice(WORDS)
                lines.append(f'  File "/srv/app/{mod}.py", line {rng.randrange(1, 900)}, in {rng.choice(WORDS)}_{mod}')
                lines.append(f"    result = {mod}.{rng.choice(WORDS)}(request)")
            lines.append(f"{rng.choice(('KeyError', 'ValueError', 'TimeoutError'))}: '{rng.choice(WORDS)}'")
        elif level == "ERROR":
            cls = f"com.example.{rng.choice(WORDS)}.{rng.choice(WORDS).title()}Service"
            lines.append(f"java.lang.IllegalStateException: {rng.choice(WORDS)} not ready")
            lines.extend(
                f"\tat {cls}.{rng.choice(WORDS)}({cls.rsplit('.', 1)[1]}.java:{rng.randrange(1, 500)})"
                for _ in range(rng.randrange(2, 8))
            )
    return "\n".join(lines) + "\n"


GENERATORS: dict[str, tuple[str, Callable[[random.Random, int], str]]] = {
    "table": ("csv", csv_table),
    "events": ("jsonl", json_lines),
    "syslog": ("log", syslog),
    "access": ("log", access_log),
    "app": ("log", app_log),
}


def generate(seed: int, total_bytes: int = 4 << 20, files_per_kind: int = 4) -> dict[str, bytes]:
    """About ``total_bytes`` of files, named ``KIND-NN.EXT``, spread over all generators."""
    rng = random.Random(seed)
    per_file = max(1, total_bytes // (len(GENERATORS) * files_per_kind))
    out: dict[str, bytes] = {}
    for kind, (ext, gen) in GENERATORS.items():
        for i in range(files_per_kind):
            data = gen(rng, per_file // 40 + 1).encode()  # lines are longer than 40 bytes: enough rows
            out[f"{kind}-{i:02d}.{ext}"] = data[:per_file].rsplit(b"\n", 1)[0] + b"\n"
    return out


def write(root: Path, seed: int, total_bytes: int) -> None:
    """Generated files under ``root``, for the corpus builder to treat like an unpacked package."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in generate(seed, total_bytes).items():
        (root / name).write_bytes(data)
