import pytest
import torch

from lm_model import ModelConfig, Transformer


@pytest.fixture
def debug_config() -> ModelConfig:
    return ModelConfig.from_preset("debug")


@pytest.fixture
def debug_model(debug_config: ModelConfig) -> Transformer:
    torch.manual_seed(0)
    return Transformer(debug_config).eval()
