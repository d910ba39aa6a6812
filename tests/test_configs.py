"""Configuration files load, and a bad file fails at start naming the file, the key and the reason."""
import shutil
from pathlib import Path

import pytest

import configs
from configs import ConfigError
from configs.loader import CONFIG_DIR

REQUIRED_CATEGORIES = {"flooding", "fallen_tree", "pothole_subsidence", "manhole", "water_pipe", "streetlight",
                       "power_line", "telecom", "camera_fault", "sanitation", "encroachment"}


@pytest.fixture
def conf_dir(tmp_path) -> Path:
    d = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return d


def test_shipped_configs_load():
    cfg = configs.load()
    cats = cfg.categories.by_code()
    assert REQUIRED_CATEGORIES <= set(cats)
    assert all(c.service_code and c.name_vi and c.field for c in cats.values())
    assert len({c.service_code for c in cats.values()}) == len(cats)
    assert cfg.cameras.cameras and cfg.social.sources


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("file, old, new, expect", [
    ("cameras.yaml", "interval_s: 0.5", "interval_s: -1", ["cameras.yaml", "cameras[0].interval_s", "greater than 0"]),
    ("cameras.yaml", "[0.05, 0.55]", "[1.5, 0.55]", ["cameras.yaml", "polygon", "outside 0..1"]),
    ("cameras.yaml", "confirm_k: 3", "confirm_k: 9", ["cameras.yaml", "confirm_k (9) must not exceed confirm_n"]),
    ("cameras.yaml", "flooding: {", "flodding: {", ["cameras.yaml", "analyzers.flodding", "unknown category"]),
    ("bridge.yaml", "backend: embedded", "backend: rabbit", ["bridge.yaml", "bus.backend"]),
    ("categories.yaml", "dedup_radius_m: 300", "dedup_radius: 300", ["categories.yaml", "categories[0]"]),
    ("social.yaml", "threshold: 0.5", "threshold: [", ["social.yaml", "not valid YAML"]),
])
def test_bad_file_names_file_key_and_reason(conf_dir, file, old, new, expect):
    edit(conf_dir / file, old, new)
    with pytest.raises(ConfigError) as e:
        configs.load(conf_dir)
    for fragment in expect:
        assert fragment in str(e.value)


def test_missing_file_is_named(conf_dir):
    (conf_dir / "bridge.yaml").unlink()
    with pytest.raises(ConfigError, match="bridge.yaml: file not found"):
        configs.load(conf_dir)


def test_cli_reports_config_error_and_exits_2(conf_dir, capsys):
    from watch1022.cli import main
    edit(conf_dir / "bridge.yaml", "backend: embedded", "backend: rabbit")
    assert main(["migrate", "--config", str(conf_dir)]) == 2
    assert "bridge.yaml" in capsys.readouterr().err
