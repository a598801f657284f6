"""`videocomposer app`: option errors before anything is loaded; the command is listed."""

import pytest

from videocomposer.cli import build_parser, main


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
    assert (args.host, args.port, args.model, args.frames) == ("127.0.0.1", 7860, None, None)
