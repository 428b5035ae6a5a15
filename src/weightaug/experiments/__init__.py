"""The paper's experiments as named, versioned TOML configs and one runner."""

from weightaug.experiments.config import ConfigError, ExperimentConfig, experiments, load_config, presets
from weightaug.experiments.runner import merge_results, run_experiment

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "experiments",
    "load_config",
    "merge_results",
    "presets",
    "run_experiment",
]
