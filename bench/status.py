"""`twoFactorStatus` throughput against plain Starlette + Tortoise floors, and its latency
under a sign-in (argon2) load, on one worker.

    .venv/bin/python bench/status.py [--duration 10] [--clients 16] [--rounds 6] [--window 5]

The servers run in their own processes on one temporary SQLite database (Verrou's via
`python server.py serve`, the floors via uvicorn on bench/floor_app.py); the load comes from
`wrk` (Debian package) driven by Lua scripts written here. On a machine with two cores or
more, each server is pinned to the first core and wrk to the second (`taskset`), so that
the load generator never takes the server's core; the same for every target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import PASSWORD, ROOT, free_port, server

STATUS_QUERY = "{ twoFactorStatus { enabled backupCodesRemaining } }"
# The six fields of the status that need no list (the floors answer exactly these).
SIX_FIELDS_QUERY = (
    "{ twoFactorStatus { enabled enabledAt pendingSetup backupCodesRemaining "
    "backupCodesGeneratedAt method } }"
)
SIGN_IN_ACCOUNTS = 20
SERVER_CORE, LOAD_CORE = "0", "1"
LATENCY_CLIENTS = 4
LATENCY_PAUSE_MS = 20

DONE_LUA = """
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("ok") or 0) end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"non2xx":%d,"socket_errors":%d,"ok":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, total))
end
"""

# Per-thread state: `ok` counts responses whose body contains `expect`.
COMMON_LUA = """
threads = {}
counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function response(status, headers, body)
  if body:find(expect, 1, true) then ok = ok + 1 end
end
"""


@dataclass(frozen=True)
class Target:
    url: str
    pid: int


def stat_seconds(stat: Path) -> float:
    """User + system CPU time so far from a /proc stat file (a process's or a thread's)."""
    fields = stat.read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far."""
    return stat_seconds(Path(f"/proc/{pid}/stat"))


def wait_until_idle(pid: int, timeout: float = 10.0) -> None:
    """Until the server has used under a tenth of its core for 0.2 s: when wrk stops, the
    sign-ins it had in flight are still being hashed for up to half a second, and argon2
    alone measured meanwhile would share the core with them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(0.2)
        if cpu_seconds(pid) - before < 0.02:
            return


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User + system CPU time so far of the server's event loop (its main thread), of its
    argon2 threads (services.passwords names them) and of the rest (the database driver's)."""
    spent = {"event loop": 0.0, "argon2": 0.0, "other threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            seconds = stat_seconds(task / "stat")
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        kind = "event loop" if task.name == str(pid) else "other threads"
        spent["argon2" if name.startswith("argon2") else kind] += seconds
    return spent


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    ok: int
    # The server's CPU per request during the run (µs), whatever else the machine ran.
    server_cpu_us: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def gql(url: str, query: str, token: str | None = None, **variables: object) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables}
    response = httpx.post(f"{url}/graphql", json=body, headers=headers, timeout=30)
    answer: dict[str, Any] = response.json()
    return answer


def sign_up(url: str, email: str) -> str:
    query = "mutation($i: SignUpInput!) { signUp(input: $i) { session { token } } }"
    data = gql(url, query, i={"email": email, "password": PASSWORD})["data"]
    token: str = data["signUp"]["session"]["token"]
    return token


def account_with_two_factor(url: str) -> str:
    """A session token of an account with 2FA on (and 10 unused backup codes)."""
    token = sign_up(url, "status@example.com")
    start = "mutation($i: StartTwoFactorInput!) { startTwoFactor(input: $i) { setup { secret } } }"
    secret = gql(url, start, token, i={"password": PASSWORD})["data"]["startTwoFactor"]
    code = pyotp.TOTP(secret["setup"]["secret"]).now()
    confirm = "mutation($i: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $i) { backupCodes } }"
    gql(url, confirm, token, i={"code": code})
    return token


def status_lua(token: str, pause_ms: int = 0, query: str = STATUS_QUERY) -> str:
    body = json.dumps({"query": query})
    delay = f"function delay() return {pause_ms} end\n" if pause_ms else ""
    return f"""{COMMON_LUA}
expect = '"backupCodesRemaining"'
function init(args)
  ok = 0
  req = wrk.format("POST", "/graphql",
    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}},
    '{body}')
end
function request() return req end
{delay}{DONE_LUA}"""


def sign_in_lua() -> str:
    """Each wrk thread (one connection) signs in to its own account, so that no email's
    failure window (max 10 in flight) is ever full."""
    query = "mutation($i: SignInInput!) { signIn(input: $i) { session { token } } }"
    return f"""{COMMON_LUA}
expect = '"token"'
function init(args)
  ok = 0
  local email = "signin" .. id .. "@example.com"
  local body = '{{"query":"{query}","variables":{{"i":{{"email":"' .. email
    .. '","password":"{PASSWORD}"}}}}}}'
  req = wrk.format("POST", "/graphql", {{["Content-Type"] = "application/json"}}, body)
end
function request() return req end
{DONE_LUA}"""


def pinned(core: str) -> list[str]:
    """`taskset -c core` where the machine has a second core for the load, else nothing."""
    return [TASKSET, "-c", core] if PIN else []


TASKSET = shutil.which("taskset") or "taskset"
PIN = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pin_process(pid: int, core: str) -> None:
    """Every thread of a running process (the argon2 pool's too) onto `core`."""
    if PIN:
        command = [TASKSET, "-a", "-p", "-c", core, str(pid)]
        subprocess.run(command, check=True, capture_output=True)


def wrk_command(url: str, lua: Path, threads: int, connections: int, seconds: float) -> list[str]:
    return [
        *pinned(LOAD_CORE),
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        f"{url}/graphql",
    ]


def parse_wrk(output: str) -> WrkResult:
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"],
        ok=raw["ok"],
    )


def run_wrk(command: list[str]) -> WrkResult:
    return parse_wrk(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def write_lua(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


@contextmanager
def floor_server(database_url: str, lookup: str) -> Iterator[Target]:
    port = free_port()
    command = [*pinned(SERVER_CORE), sys.executable, "-m", "uvicorn", "bench.floor_app:app"]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", "--no-access-log"]
    environment = {**os.environ, "DATABASE_URL": database_url, "FLOOR_LOOKUP": lookup}
    process = subprocess.Popen(command, cwd=ROOT, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url)
        yield Target(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def check_same_answer(urls: dict[str, str], token: str) -> None:
    """Every target answers the same; the two-lookup floor reads the TOTP app's times, not
    the account's (a few microseconds apart), so its times are only checked to be there."""
    answers = {name: gql(url, SIX_FIELDS_QUERY, token) for name, url in urls.items()}

    def comparable(name: str, answer: dict[str, Any]) -> str:
        status = dict(answer["data"]["twoFactorStatus"])
        if name == "floor (two lookups)":
            for time_field in ("enabledAt", "backupCodesGeneratedAt"):
                status[time_field] = status[time_field] is not None
        return json.dumps(status, sort_keys=True)

    reference = comparable("floor (two lookups)", answers["graphql"])
    for name, answer in answers.items():
        expected = (
            reference
            if name == "floor (two lookups)"
            else json.dumps(answers["graphql"]["data"]["twoFactorStatus"], sort_keys=True)
        )
        if comparable(name, answer) != expected:
            raise RuntimeError(f"the targets disagree: {answers}")
    print(f"all answer {answers['graphql']}")


def throughput_table(results: dict[str, WrkResult]) -> None:
    floor, same_sql = results["floor (two lookups)"], results["floor (same SQL)"]
    print(
        "\n| target | req/s | p50 (ms) | p99 (ms) | server CPU per request (µs) "
        "| ratio to floor (two lookups) | ratio to floor (same SQL) | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        errors = r.non2xx + r.socket_errors + (r.requests - r.ok)
        print(
            f"| {name} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.server_cpu_us:,.0f} "
            f"| {r.rate / floor.rate:.0%} ({floor.server_cpu_us / r.server_cpu_us:.0%} by CPU) "
            f"| {r.rate / same_sql.rate:.0%} ({same_sql.server_cpu_us / r.server_cpu_us:.0%} "
            f"by CPU) | {errors} |"
        )


def measure_throughput(
    targets: dict[str, Target], lua: Path, seconds: float, clients: int, warm_up: float
) -> dict[str, WrkResult]:
    where = "server on core 0, wrk on core 1" if PIN else "not pinned"
    print(f"\nthroughput: wrk, 1 thread, {clients} keep-alive connections, {seconds:g} s each")
    print(f"({where})")
    results: dict[str, WrkResult] = {}
    for name, target in targets.items():
        run_wrk(wrk_command(target.url, lua, 1, clients, warm_up))
        before = cpu_seconds(target.pid)
        result = run_wrk(wrk_command(target.url, lua, 1, clients, seconds))
        used = cpu_seconds(target.pid) - before
        results[name] = replace(result, server_cpu_us=used / max(result.requests, 1) * 1e6)
    throughput_table(results)
    return results


# argon2-cffi alone, the configured parameters, one thread, on the server's core.
ARGON2_ALONE = """
import sys, time
from argon2 import PasswordHasher
from services.settings import Settings
settings = Settings(_env_file=None)
hasher = PasswordHasher(
    time_cost=settings.argon2_time_cost,
    memory_cost=settings.argon2_memory_kib,
    parallelism=settings.argon2_parallelism,
)
stored = hasher.hash(sys.argv[1])
seconds, count = float(sys.argv[2]), 0
started, cpu = time.perf_counter(), time.thread_time()
while time.perf_counter() - started < seconds:
    hasher.verify(stored, sys.argv[1])
    count += 1
print(count / (time.perf_counter() - started), (time.thread_time() - cpu) / count)
"""


def argon2_alone(seconds: float) -> tuple[float, float]:
    """Password checks per second of argon2-cffi alone on the server's core (the floor), and
    the CPU time of one check in ms: the rate also counts any moment the core spent on
    something else, the CPU time does not (no more than /proc's count of the server's CPU),
    so the two ratios disagree when the floor did not have the core to itself."""
    command = [*pinned(SERVER_CORE), sys.executable, "-c", ARGON2_ALONE, PASSWORD, str(seconds)]
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    rate, cpu = output.stdout.split()
    return float(rate), float(cpu) * 1000


def seed_history(database: Path, events: int) -> int:
    """What a service in use holds: `events` sign-ins of the last 90 days (SIGNED_IN security
    events, what every sign-in reads back for its new-device alert) spread over events / 10
    other accounts, written straight into the server's SQLite file. The accounts' hashes are
    never checked (nobody signs in to them). The number of accounts written."""
    if events <= 0:
        return 0
    accounts = max(1, events // 10)
    now = datetime.now(UTC)
    pick = random.Random(16)  # noqa: S311 — made-up history, not a secret
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db, db:
        first = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM account").fetchone()[0]
        db.executemany(
            'INSERT INTO "account" ("id", "email", "password_hash", "billing_contact_email",'
            ' "locale", "role", "created_at", "billing_contact_verified")'
            " VALUES (?, ?, 'unused', ?, 'en', 'customer', ?, 0)",
            (
                (first + n, f"history{n}@example.org", f"history{n}@example.org", now.isoformat())
                for n in range(accounts)
            ),
        )
        db.executemany(
            'INSERT INTO "security_event" ("account_id", "kind", "created_at", "ip_address",'
            " \"user_agent\") VALUES (?, 'SIGNED_IN', ?, ?, ?)",
            (
                (
                    first + pick.randrange(accounts),
                    (now - timedelta(days=pick.uniform(0, 89))).isoformat(),
                    f"198.51.100.{pick.randrange(1, 255)}",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                )
                for _ in range(events)
            ),
        )
    return accounts


def measure_under_sign_ins(
    url: str, pid: int, paced: Path, sign_in: Path, seconds: float, rounds: int, latency: float
) -> None:
    """signIn's pace on the server's core against argon2-cffi alone there, then the status
    latency with and without sign-ins. The pace is measured with nothing else sent: a status
    poll served meanwhile takes its share of the same core, which is not signIn's cost. The
    sign-in and argon2-alone windows alternate, `rounds` of each, so that a change in the
    machine's speed during the run weighs on both sides alike."""
    cores = "the server's one core" if PIN else "the machine"
    print(
        f"\nsignIn at argon2's pace, {SIGN_IN_ACCOUNTS} concurrent signIn loops, nothing else "
        f"sent, on {cores}; argon2-cffi alone there, one thread; {rounds} rounds of "
        f"{seconds:g} s each, taken in turn"
    )
    print(
        "\n| round | signIn/s | succeeded | p50 (ms) | server CPU per signIn (ms) "
        "| argon2 alone (checks/s) | its CPU a check (ms) | ratio | ratio by CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    signed = signing_seconds = cpu = checks = checking_seconds = checking_cpu = 0.0
    by_thread: dict[str, float] = {}
    for number in range(1, rounds + 1):
        before, threads_before = cpu_seconds(pid), thread_cpu_seconds(pid)
        alone = run_wrk(wrk_command(url, sign_in, SIGN_IN_ACCOUNTS, SIGN_IN_ACCOUNTS, seconds))
        used = cpu_seconds(pid) - before
        for name, spent in thread_cpu_seconds(pid).items():
            by_thread[name] = by_thread.get(name, 0.0) + spent - threads_before[name]
        cpu_ms = used / max(alone.requests, 1) * 1000
        wait_until_idle(pid)
        floor, check_ms = argon2_alone(seconds)
        signed += alone.requests
        signing_seconds += alone.seconds
        cpu += used
        checks += floor * seconds
        checking_seconds += seconds
        checking_cpu += check_ms * floor * seconds
        print(
            f"| {number} | {alone.rate:.1f} | {alone.ok}/{alone.requests} | {alone.p50_ms:.0f} "
            f"| {cpu_ms:.2f} | {floor:.1f} | {check_ms:.2f} | {alone.rate / floor:.0%} "
            f"| {check_ms / cpu_ms:.0%} |"
        )
    pace, floor_pace = signed / signing_seconds, checks / checking_seconds
    per_sign_in, per_check = cpu / max(signed, 1) * 1000, checking_cpu / max(checks, 1)
    print(
        f"| all | {pace:.1f} | | | {per_sign_in:.2f} | {floor_pace:.1f} | {per_check:.2f} "
        f"| **{pace / floor_pace:.0%}** | **{per_check / per_sign_in:.0%}** |"
    )
    print(
        "\nWhere the server's CPU per signIn went, all rounds (argon2 alone: "
        f"{per_check:.2f} ms of CPU a check):\n\n| thread | CPU per signIn (ms) |\n|---|---:|"
    )
    for name, spent in by_thread.items():
        print(f"| {name} | {spent / max(signed, 1) * 1000:.2f} |")
    # Measured in the same windows, so the machine's speed weighs on both alike; argon2's
    # own slowdown in the server (its thread's CPU above the floor's) counts as argon2's.
    share = by_thread["argon2"] / max(sum(by_thread.values()), 1e-9)
    print(f"\nargon2's share of the server's CPU in the signIn windows: **{share:.1%}**")
    status = wrk_command(url, paced, 1, LATENCY_CLIENTS, latency)
    quiet = run_wrk(status)
    load = subprocess.Popen(
        wrk_command(url, sign_in, SIGN_IN_ACCOUNTS, SIGN_IN_ACCOUNTS, latency + 2),
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    loaded = run_wrk(status)
    meanwhile = parse_wrk(load.communicate()[0])
    print(
        f"\nlatency: {LATENCY_CLIENTS} clients, each pausing {LATENCY_PAUSE_MS} ms between "
        f"requests; load: {SIGN_IN_ACCOUNTS} concurrent signIn loops "
        f"({meanwhile.rate:.1f} signIn/s meanwhile, {meanwhile.ok}/{meanwhile.requests} "
        f"succeeded, ratio {meanwhile.rate / floor_pace:.0%} with the polls on the same core)"
    )
    print("\n| twoFactorStatus | req/s | p50 (ms) | p99 (ms) | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("no sign-in load", quiet), ("20 concurrent signIn", loaded)):
        errors = r.non2xx + r.socket_errors + (r.requests - r.ok)
        print(f"| {name} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {errors} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warm-up", type=float, default=2, help="seconds before each run")
    parser.add_argument("--rounds", type=int, default=6, help="sign-in and argon2 windows")
    parser.add_argument(
        "--window", type=float, default=5, help="seconds of each sign-in and argon2 window"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=100_000,
        help="sign-ins of the last 90 days already stored, over a tenth as many accounts",
    )
    parser.add_argument(
        "--sign-in-only", action="store_true", help="skip the throughput comparison"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="verrou-bench-") as tmp:
        directory = Path(tmp)
        database_url = f"sqlite://{directory}/bench.sqlite3"
        env = {"DATABASE_URL": database_url, "VAR_DIR": f"{directory}/var", "LOG_LEVEL": "WARNING"}
        # One address signs every account up: above the per-address sign-up limit.
        env["SIGN_UP_MAX_PER_ADDRESS"] = "100"
        with (
            server(**env) as verrou,
            floor_server(database_url, "two") as two_lookups,
            floor_server(database_url, "sql") as same_sql,
            floor_server(database_url, "orm") as query_builder,
        ):
            pin_process(verrou.pid, SERVER_CORE)
            token = account_with_two_factor(verrou.url)
            for n in range(1, SIGN_IN_ACCOUNTS + 1):
                sign_up(verrou.url, f"signin{n}@example.com")
            seeded = seed_history(directory / "bench.sqlite3", args.history)
            print(f"stored beforehand: {args.history:,} sign-ins of {seeded:,} other accounts")
            targets = {
                "floor (two lookups)": two_lookups,
                "floor (same SQL)": same_sql,
                "floor (one statement, query builder)": query_builder,
                "graphql": Target(verrou.url, verrou.pid),
            }
            check_same_answer({name: target.url for name, target in targets.items()}, token)
            saturating = write_lua(
                directory, "status.lua", status_lua(token, query=SIX_FIELDS_QUERY)
            )
            if not args.sign_in_only:
                measure_throughput(targets, saturating, args.duration, args.clients, args.warm_up)
            paced = write_lua(directory, "paced.lua", status_lua(token, LATENCY_PAUSE_MS))
            sign_in = write_lua(directory, "sign_in.lua", sign_in_lua())
            measure_under_sign_ins(
                verrou.url, verrou.pid, paced, sign_in, args.window, args.rounds, args.duration
            )


if __name__ == "__main__":
    main()
