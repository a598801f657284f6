"""`videocomposer app`: option errors before anything is loaded; the command is listed; its temporary folders go on
exit."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from videocomposer.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0"], "--port: expected 1..65535, got 0"),
        (["--frames", "1"], "--frames: expected an integer >= 2, got 1"),
        (["--model", "/nonexistent/model"], "--model: no such folder: /nonexistent/model"),
        (["--depth-model", "/nonexistent/dpt"], "--depth-model: no such file or folder: /nonexistent/dpt"),
        (["--sketch-model", "/nonexistent/p.pth"], "--sketch-model: no such file or folder: /nonexistent/p.pth"),
    ],
)
def test_app_option_errors(argv, message, capsys):
    assert main(["app", *argv]) == 2
    assert f"videocomposer app: error: {message}" in capsys.readouterr().err


def test_app_output_dir_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["app", "--output-dir", str(tmp_path / "file")]) == 2
    assert "--output-dir: " in capsys.readouterr().err


def test_app_is_a_command_with_its_defaults():
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.model, args.frames, args.keep_files) == ("127.0.0.1", 7860, None, None, False)


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_removes_the_temporary_folders_unless_kept(tmp_path, monkeypatch, signal_number, keep):
    """In-process, with a real signal while serving: the folders (with files in them) go, or stay with --keep-files."""
    from videocomposer.commands import app as command

    def serve(args, output_dir):
        (Path(output_dir) / "run-1").mkdir()
        (Path(os.environ["GRADIO_TEMP_DIR"]) / "upload.mp4").write_bytes(b"x")
        os.kill(os.getpid(), signal_number)
        time.sleep(5)
        raise AssertionError("the signal did not stop the app")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unchanged")
    monkeypatch.setattr(command, "_serve", serve)
    args = build_parser().parse_args(["app", *(["--keep-files"] if keep else [])])
    before = signal.getsignal(signal.SIGTERM)
    # Python's Ctrl-C handler, as in a terminal: a shell starts background jobs (`cmd &`) with SIGINT ignored
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            command.run(args)
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    left = sorted(path.name.rsplit("-", 1)[0] for path in tmp_path.glob("videocomposer-*"))
    assert left == (["videocomposer-app", "videocomposer-uploads"] if keep else [])


@pytest.mark.slow
def test_temporary_folders_are_removed_when_the_served_app_gets_sigterm(tmp_path):
    """End to end: the app serving the demo model stops on SIGTERM, exit status 0, its temporary folders gone."""
    signal_number, keep = signal.SIGTERM, False
    pytest.importorskip("gradio", reason="the app extra is not installed (gradio)")
    temp = tmp_path / "tmp"
    temp.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "app.log"
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(temp), GRADIO_ANALYTICS_ENABLED="False",
               OMP_NUM_THREADS="1")  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "videocomposer.cli", "app", "--port", str(port),
                                    *(["--keep-files"] if keep else [])], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=REPO)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while f"127.0.0.1:{port}" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.25)
        made = sorted(path.name.rsplit("-", 1)[0] for path in temp.glob("videocomposer-*"))
        assert made == ["videocomposer-app", "videocomposer-uploads"]
        process.send_signal(signal_number)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    left = sorted(path.name.rsplit("-", 1)[0] for path in temp.glob("videocomposer-*"))
    assert left == (made if keep else [])
    assert ("kept " in log.read_text()) == keep


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["app", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(127.0.0.1: this machine only) (default: 127.0.0.1)" in out and "port to listen on (default: 7860)" in out
    assert out.count("7860") == 1 and out.count("127.0.0.1") == 2
