"""``[web]`` settings, ``newswatch web``, ``hash-password``, and the web server inside
``newswatch run``: safe binds, the old ``[service] health`` key, a prompt stop."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from scheduler.config import load_config
from scheduler.errors import ConfigError
from scheduler.web.passwords import hash_password, hash_problem, verify_password
from tests.clirunner import cli_env, newswatch, start_service, stop_service
from tests.peers import free_port
from tests.waiting import wait_until
from tests.webkit import CONFIG, seed, write_web_config


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_web_config_refuses_a_public_address_without_a_password(tmp_path):
    path = write_web_config(tmp_path, web={"listen": "0.0.0.0:8787"})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.path == "web.listen" and "no password is set" in problem.message
    assert "NEWSWATCH_WEB_PASSWORD" in (problem.hint or "")


@pytest.mark.parametrize("listen", ["127.0.0.1:8787", "[::1]:8787", "localhost:8787"])
def test_web_config_loopback_needs_no_password(tmp_path, listen):
    config = load_config(write_web_config(tmp_path, web={"listen": listen}))
    assert config.listen == listen and not config.web.has_password


def test_web_config_public_address_with_a_password_from_the_environment(tmp_path):
    web = {"listen": "0.0.0.0:8787", "password": "${WEB_PASSWORD}"}
    config = load_config(write_web_config(tmp_path, web=web), environ={"WEB_PASSWORD": "pw"})
    assert config.web.password == "pw" and "pw" not in repr(config.web)
    with pytest.raises(ConfigError, match="WEB_PASSWORD is not set"):
        load_config(write_web_config(tmp_path, web=web), environ={})


def test_web_config_password_hash_is_checked_at_load(tmp_path):
    good = hash_password("pw")
    config = load_config(write_web_config(tmp_path, web={"password_hash": good}))
    assert config.web.password_hash == good
    with pytest.raises(ConfigError) as caught:
        load_config(write_web_config(tmp_path, web={"password_hash": "hunter2"}))
    assert "not a password hash" in str(caught.value) and "hunter2" not in str(caught.value)


def test_web_config_old_health_key_and_listen_together_is_a_problem(tmp_path):
    path = write_web_config(tmp_path, web={"listen": "127.0.0.1:8787"})
    path.write_text(path.read_text().replace("[service]\n", '[service]\nhealth = ":9100"\n'))
    with pytest.raises(ConfigError, match=r"service\.health: \[web\] listen replaces this key"):
        load_config(path)


def test_web_passwords_hash_and_verify():
    encoded = hash_password("correct horse", salt=b"0123456789abcdef")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_problem(encoded) is None
    assert not verify_password("x", "scrypt$3$8$1$AAAA$AAAA")


@pytest.mark.slow
def test_web_hash_password_command():
    result = subprocess.run(
        [sys.executable, "-m", "newswatch", "hash-password", "--password", "pw"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith('password_hash = "scrypt$')
    assert verify_password("pw", line.split('"')[1])


@pytest.mark.slow
def test_web_run_refuses_to_start_on_a_public_address_without_a_password(tmp_path):
    path = write_web_config(tmp_path, web={"listen": f"0.0.0.0:{free_port()}"})
    result = newswatch("run", config=path)
    assert result.returncode == 2
    assert "web.listen" in result.stderr and "no password is set" in result.stderr
    result = newswatch("web", "--listen", "0.0.0.0:8787", config=write_web_config(tmp_path))
    assert result.returncode == 2 and "refusing to serve on 0.0.0.0:8787" in result.stderr


@pytest.mark.slow
def test_web_command_serves_a_copy_read_only(tmp_path):
    from crawler.db import open_database

    path = write_web_config(tmp_path)
    db = open_database(tmp_path / "newswatch.db")
    seed(db)
    db.close()
    port = free_port()
    cmd = [sys.executable, "-m", "newswatch", "web", "--config", str(path)]
    proc = subprocess.Popen(
        [*cmd, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/")[0] == 200, what="newswatch web")
        status, text = get(f"http://127.0.0.1:{port}/matches")
        assert status == 200 and "Scam compound raided" in text and "read-only" in text
    finally:
        code, took, err = stop_service(proc)
    assert code == 0 and took < 5, err


@pytest.mark.slow
def test_web_command_without_a_database_says_so(tmp_path):
    result = newswatch(
        "web", "--listen", f"127.0.0.1:{free_port()}", config=write_web_config(tmp_path)
    )
    assert result.returncode == 1 and "no database at" in result.stderr


@pytest.mark.slow
def test_web_old_health_key_still_serves_health_and_metrics_only(tmp_path):
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace("[service]\n", f'[service]\nhealth = "127.0.0.1:{port}"\n'))
    proc = start_service(path)
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, what="health")
        assert "newswatch_polls_total" in get(f"http://127.0.0.1:{port}/metrics")[1]
        assert get(f"http://127.0.0.1:{port}/")[0] == 404
    finally:
        code, _, err = stop_service(proc)
    assert code == 0, err
    assert "[service] health is now [web] listen" in err


@pytest.mark.slow
def test_web_service_stops_promptly_with_a_connection_open(tmp_path):
    port = free_port()
    path = write_web_config(tmp_path, web={"listen": f"127.0.0.1:{port}"})
    proc = start_service(path)
    idle = socket.socket()
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, what="web server")
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
        # A client that sent half a request and went quiet must not hold up the stop.
        idle.connect(("127.0.0.1", port))
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        code, took, err = stop_service(proc)
    finally:
        idle.close()
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert took < 6, f"stop took {took:.1f}s"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
