import argparse
import json

from specvlm import cli, config


def test_make_tiny_writes_loadable_checkpoints(tmp_path, capsys):
    assert cli.main(["make-tiny", str(tmp_path / "pair"), "--family", "llava_onevision"]) == 0
    assert "target:" in capsys.readouterr().out
    for role in ("target", "draft"):
        meta = json.loads((tmp_path / "pair" / role / "specvlm_tiny.json").read_text())
        assert meta == {"family": "llava_onevision", "role": role, "seed": 0}
        assert (tmp_path / "pair" / role / "model.safetensors").exists()
        assert (tmp_path / "pair" / role / "tokenizer.json").exists()


def test_cached_tiny_pair_is_made_once(tmp_path):
    from specvlm.models.tiny import cached_tiny_pair

    target, draft = cached_tiny_pair(tmp_path, "qwen2_5_vl")
    stamp = (target / "model.safetensors").stat().st_mtime_ns
    assert cached_tiny_pair(tmp_path, "qwen2_5_vl") == (target, draft)
    assert (target / "model.safetensors").stat().st_mtime_ns == stamp


def _parse(argv, monkeypatch=None, env=None):
    if env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.from_args(parser.parse_args(argv))


def test_settings_from_flags_env_and_defaults(monkeypatch):
    assert _parse([]) == config.Settings()
    settings = _parse(["--drop-rate", "0.5", "--port", "9000"], monkeypatch,
                      {"SPECVLM_API_KEY": "k", "SPECVLM_PORT": "1234", "SPECVLM_ALLOWED_MEDIA_DOMAINS": "A.com, b.org"})
    assert settings.drop_rate == 0.5 and settings.port == 9000  # a flag beats the env
    assert settings.api_key == "k"
    assert settings.media_domains == ("a.com", "b.org")


def test_bench_commands_are_wired(tmp_path):
    """`specvlm bench --random-weights tiny` runs end to end through the CLI."""
    out = tmp_path / "rw"
    assert cli.main(["bench", "--random-weights", "tiny", "--video-tokens", "64", "--repeats", "1",
                     "--device", "cpu", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows and (out / "results.md").exists()
    assert "bench-serve" in cli.build_parser().format_help()


def test_serve_refuses_impossible_settings(capsys):
    assert cli.main(["serve", "--drop-rate", "1.5", "--max-queue", "0"]) == 2
    err = capsys.readouterr().err
    assert "drop_rate must be in [0, 1)" in err and "max_queue must be at least 1" in err


def test_the_container_env_example_names_real_settings(monkeypatch):
    """Every SPECVLM_* line of docker/specvlm.env.example is a setting, and its value parses."""
    import re
    from dataclasses import fields
    from pathlib import Path

    example = Path(__file__).parents[2] / "docker" / "specvlm.env.example"
    env = dict(re.findall(r"^SPECVLM_(\w+)=(.*)$", example.read_text(), flags=re.M))
    names = {f.name.upper() for f in fields(config.Settings)}
    assert env and set(env) <= names, set(env) - names
    settings = _parse([], monkeypatch, {f"SPECVLM_{k}": v for k, v in env.items()})
    assert settings.prefix_cache_gb == float(env["PREFIX_CACHE_GB"]) and settings.max_running == 1
